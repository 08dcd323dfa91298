"""Sandboxes that survive a restart (``serve --state-dir``): what is written, and when.

A write request is answered only once what it changed is on disk: ``DurableWrites`` holds back
the answer's first message until ``Durability.commit`` has written it. Requests that arrive
while a commit is being written share the next one (group commit); the loop never waits on
the disk (one writer thread does).

What a commit writes for a tenant is one of two things:

- a **journal record** (``tenant_state.delta``): the changes recorded since its last write
  (``domain.journal``), against the object numbers of its last full document, appended on the
  loop to the journal file (``journal_file``) with that document's epoch. Its cost does not
  grow with the tenant. The writes partners make most record every change they make
  (``JOURNALED``: ledgers, accounts, entries single and in batches, their metadata, posting,
  voiding, reversing), and so do the parts they reach: idempotency keys, the event log, the
  deliveries that new events make for webhook endpoints, fault rules' counters and injections.
  So does the delivery worker, for each attempt it takes and each outcome (``DurableWorker``:
  written at the latest ``BACKGROUND_SECONDS`` later, or with the next write).
- a **full document** (``tenant_state.capture``, the same document a snapshot holds; SQLite,
  on the writer thread, with a new epoch): at
  start-up, at the end of ``serve``, for every other write (endpoints, settlements, sandbox
  controls, an asynchronous posting...), for a reset, a restore or an import, and whenever
  the journal cannot hold what changed. It replaces the tenant's journal. A tenant with
  ``CHECKPOINT_RECORDS`` journal records gets one too, once it has had no write for
  ``IDLE_SECONDS`` (its capture holds the loop: about 0.1 s per 1,000 entries), or at the
  latest at ``MAX_RECORDS`` (so a start-up replays a bounded tail: about 1 ms per record).

Why a change left out of the journal is never lost silently (``_journal_will_do``): a record
is written only for a tenant whose changes since its last full document were all made where
every change is recorded (``TRUSTED``: a ``JOURNALED`` request, the webhook dispatch, an
attempt's outcome), whose parts still hang on that document's journal (a reset, a restore or
an import makes new parts, which hang on none), and whose journal is not tainted. Any change
recorded elsewhere taints it (the ticker's due work: asynchronous postings, expiries,
settlements, payout steps; a read that moves a fault rule's counters), and so does every
change the recording parts make but do not record (``Journal.taint``: an endpoint created or
changed, a secret rotated, a ping, a rule created...). Either makes the tenant's next write a
full document. What no part records or taints (a plain attribute set on the journaled path by
code that forgot to) cannot be seen at run time: ``tests/domain/test_journal.py`` and
``tests/api/test_state_dir_journal.py`` replay every journaled kind of write and compare it
with the live tenant, byte for byte, to catch it.

A commit that cannot be written (the disk, the database) is answered 503
``state.write_failed`` (``DurableWrites``); the change stands in memory, and its tenants' full
documents are written as soon as they can be (``_failed``: the background writer tries every
``BACKGROUND_SECONDS``), so what the failed record held is not lost with it.

At start-up, ``recover`` reads every tenant back with its credentials, live tokens and
snapshots: its full document, then its journal records in order. A record that cannot be read
(cut short, edited: each carries a CRC-32) ends that tenant's replay there, said in the log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gledger_sandbox.api import durable_records, journal_file, state_dir
from gledger_sandbox.api.middleware import scope_header
from gledger_sandbox.api.problems import PROBLEM_JSON, problem_body
from gledger_sandbox.domain.journal import TRUSTED, Journal
from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery
from gledger_sandbox.domain.live.webhooks import Webhooks
from gledger_sandbox.domain.sandbox import api_keys, tenant_state
from gledger_sandbox.domain.sandbox.faults import DeliveryFault
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry
from gledger_sandbox.domain.state_encoder import Encoder
from gledger_sandbox.domain.state_graph import DocumentError
from gledger_sandbox.webhooks.worker import DeliveryWorker

logger = logging.getLogger("gledger_sandbox.durability")

BACKGROUND_SECONDS = 0.5
"""How soon a change the server made on its own (no request to answer) is written."""
CHECKPOINT_RECORDS = 2000
"""Journal records after which a tenant's full document is written once it is idle."""
IDLE_SECONDS = 1.0
"""How long a tenant has had no write before its full document is written (see above)."""
MAX_RECORDS = 20_000
"""Journal records after which a tenant's next write is its full document, idle or not."""
JOURNALED = (
    ("POST", re.compile(r"/v1/entries|/v1/entries/batch|/v1/ledgers")),
    ("POST", re.compile(r"/v1/entries/[^/]+/(?:post|void|reverse)|/v1/ledgers/[^/]+/accounts")),
    ("PATCH", re.compile(r"/v1/(?:entries|ledgers|accounts)/[^/]+")),
)
"""Requests (method, path) whose every change is recorded: they write journal records (but
with ``Prefer: respond-async``: the posting it schedules is not a recorded change)."""
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_GONE = 1 << 63
"""A deleted tenant's written epoch: newer than any of its records."""


class _Cursor:
    """Where a tenant's journal stands: its last full document's encoder and epoch, records
    since."""

    __slots__ = ("encoder", "epoch", "journal", "last_record", "records")

    def __init__(self, encoder: Encoder, journal: Journal, epoch: int) -> None:
        self.encoder, self.journal, self.records, self.epoch = encoder, journal, 0, epoch
        self.last_record = 0.0
        """When its last journal record was made (``time.monotonic``)."""


class Durability:
    """The tenants changed since the last write, and the commits that write them."""

    def __init__(self, directory: Path, registry: TenantRegistry | None = None) -> None:
        self.directory = directory
        self.registry = registry
        self._connection = state_dir.connect(directory)
        # SQLite keeps a WAL file at its largest when it starts over (a big tenant's document):
        # cut back to 16 MiB then.
        self._connection.execute(f"PRAGMA journal_size_limit={16 << 20}")
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "gledger-state-writer")
        self._journal = journal_file.Segments(directory)
        self._epochs = state_dir.meta(self._connection, "epochs")
        self._written: dict[str, int] = {}
        """The epoch of each tenant's last full document written (``_GONE`` once deleted)."""
        self._dirty: set[str] = set()
        self._journaled: set[str] = set()
        self._cursors: dict[str, _Cursor] = {}
        self._ordinals: dict[str, int] = {}
        self._stored: set[str] = set()
        """Tenants whose row the state directory holds (a tenant gone is deleted once)."""
        self._saved_snapshots: dict[str, set[str]] = {}
        self._started = 0
        self._done = 0
        self._running: asyncio.Future[None] | None = None
        self._background: asyncio.Task[None] | None = None

    def mark(self, tenant_id: str) -> None:
        """The tenant changed: write its full document."""
        self._dirty.add(tenant_id)

    def mark_journaled(self, tenant_id: str) -> None:
        """The tenant changed only through recorded changes: a journal record will do."""
        self._journaled.add(tenant_id)

    def mark_all(self) -> None:
        """Write every tenant's full document at the next commit (the end of ``serve``)."""
        if self.registry is not None:
            self._dirty.update(self.registry.tenants)

    def listener(self, then: Callable[[str], None]) -> Callable[[str], None]:
        """A tenant listener that marks the tenant changed, then tells ``then``."""

        def changed(tenant_id: str) -> None:
            (self.mark_journaled if TRUSTED.get() else self.mark)(tenant_id)
            then(tenant_id)

        return changed

    async def commit(self) -> None:
        """Return once every change marked so far is on disk."""
        self._start_background()
        needed = self._started + 1  # a commit that starts from now on holds what is marked
        while self._done < needed:
            if self._running is None:
                self._started += 1
                number = self._started
                batch = None
                try:
                    batch = self._batch()
                    # Journal records: a few kilobytes appended to the journal file, quicker
                    # written here (one write, no fsync) than handed to the writer thread.
                    self._append(batch)
                except BaseException:
                    self._done = number
                    if batch is not None:
                        self._failed(batch)
                    raise
                if not (batch.rows or batch.gone):
                    self._done = number
                    continue
                self._running = asyncio.ensure_future(self._write_in_thread(batch, number))
            await asyncio.shield(self._running)

    def _append(self, batch: state_dir.Batch) -> None:
        records = [
            (tenant_id, epoch, number, state_dir.record_bytes(record))
            for tenant_id, epoch, number, record in batch.deltas
        ]
        retired = len(self._journal.retired)
        try:
            self._journal.append(records)
        finally:
            # A segment retired (full, or a write to it failed): its tenants' live records get
            # full documents, then it is deleted (``_write_in_thread``).
            for segment in self._journal.retired[retired:]:
                self._dirty.update(segment.epochs)

    def _write_and_checkpoint(self, batch: state_dir.Batch, dead: list[Path]) -> None:
        """Write a batch, then delete the journal segments ``dead`` (their records are all of
        older documents than the database holds), then checkpoint the WAL file: the loop
        writes nothing to the database, so the checkpoint copies it all and it starts over."""
        state_dir.write(self._connection, batch)
        # The full documents are freed here, on the writer thread: freeing a big tenant's takes
        # a fifth of a second, which the loop would spend when the batch goes out of its hands.
        batch.rows.clear()
        journal_file.delete(dead)
        try:
            state_dir.checkpoint(self.directory)
        except Exception:  # the WAL file only grows meanwhile; the next one may succeed
            logger.exception("checkpointing the state directory's WAL file failed")

    def _failed(self, batch: state_dir.Batch) -> None:
        """A batch not written: its tenants' full documents (and its deletions) are written at
        the next commit (the records it held are drained from their journals; a full document
        holds all of them), which the background writer makes within ``BACKGROUND_SECONDS``."""
        self._dirty.update(tenant_id for tenant_id, _, _, _ in batch.deltas)
        self._dirty.update(row.id for row in batch.rows)
        self._dirty.update(batch.gone)
        self._stored.update(batch.gone)

    async def _write_in_thread(self, batch: state_dir.Batch, number: int) -> None:
        written = _written_by(batch)
        # Segments whose last live records this batch replaces: deleted once it is written.
        dead = self._journal.deletable(self._written | written)
        paths = [retired.path for retired in dead]
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer, self._write_and_checkpoint, batch, paths)
        except BaseException:
            self._failed(batch)
            raise
        else:
            self._written.update(written)
            self._journal.forget(dead)
        finally:
            self._done = number
            self._running = None

    def write_all_now(self) -> None:
        """Write every tenant's full document, blocking (start-up): the journal records left
        (read back by ``recover``, or of tenants not read back) are all deleted with it."""
        self.mark_all()
        batch = self._batch()
        batch.every_tenant = True
        written = _written_by(batch)  # the write clears the rows
        self._write_and_checkpoint(batch, self._journal.older)
        self._written.update(written)
        self._journal.older = []

    def _batch(self) -> state_dir.Batch:
        assert self.registry is not None
        batch = state_dir.Batch(ids_issued=self.registry.ids_issued())
        dirty, self._dirty = self._dirty, set()
        journaled, self._journaled = self._journaled, set()
        # A tenant just created (its creation tells no listener): never written yet.
        dirty |= self.registry.tenants.keys() - self._ordinals.keys()
        for tenant_id in sorted(journaled - dirty):
            tenant = self.registry.tenants.get(tenant_id)
            cursor = self._cursors.get(tenant_id)
            if tenant is None or cursor is None or not _journal_will_do(tenant, cursor):
                dirty.add(tenant_id)
                continue
            changes = cursor.journal.drain()
            if changes:
                cursor.records += 1
                cursor.last_record = time.monotonic()
                record = tenant_state.delta(tenant, cursor.encoder, changes)
                # Using a tenant moves its expiry on (a sliding TTL): the record carries it.
                record["expires_at"] = durable_records.iso(tenant.expires_at)
                batch.deltas.append((tenant_id, cursor.epoch, cursor.records, record))
        for tenant_id in sorted(dirty):
            tenant = self.registry.tenants.get(tenant_id)
            if tenant is None:
                # Its attempts still under way mark it when they end: deleted once, not again
                # for each (a DELETE in every commit while they last).
                if tenant_id in self._stored:
                    self._stored.discard(tenant_id)
                    batch.gone.append(tenant_id)
                self._saved_snapshots.pop(tenant_id, None)
                self._cursors.pop(tenant_id, None)
            else:
                batch.rows.append(self._row(tenant))
        batch.epochs_issued = self._epochs
        return batch

    def _row(self, tenant: Tenant) -> state_dir.TenantRow:
        ordinal = self._ordinals.setdefault(tenant.id, len(self._ordinals))
        saved = self._saved_snapshots.setdefault(tenant.id, set())
        kept = tenant.snapshots.all()
        state, encoder = tenant_state.capture_for_journal(tenant)
        journal = Journal()
        tenant_state.keep_journal(tenant, journal)
        self._epochs += 1
        self._cursors[tenant.id] = _Cursor(encoder, journal, self._epochs)
        self._stored.add(tenant.id)
        row = state_dir.TenantRow(
            tenant.id,
            ordinal,
            self._epochs,
            durable_records.tenant_record(
                tenant, self.registry.grants_of(tenant.id) if self.registry else []
            )
            | {"api_keys": api_keys.to_records(self._made_keys(tenant.id))}
            | {"replaced_credentials": self._replaced(tenant.id)},
            state,
            [
                (s.id, durable_records.snapshot_record(s), s.document)
                for s in kept
                if s.id not in saved
            ],
            [s.id for s in kept],
        )
        saved.clear()
        saved.update(row.kept_snapshots)
        return row

    def _made_keys(self, tenant_id: str) -> list[api_keys.ApiKey]:
        return self.registry.api_keys.of(tenant_id) if self.registry else []

    def _replaced(self, tenant_id: str) -> dict[str, Any]:
        return self.registry.replaced.to_record(tenant_id) if self.registry else {}

    def _start_background(self) -> None:
        if self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._write_in_background())

    async def _write_in_background(self) -> None:
        while True:
            await asyncio.sleep(BACKGROUND_SECONDS)
            now = time.monotonic()
            for tenant_id, cursor in self._cursors.items():
                if cursor.records >= CHECKPOINT_RECORDS and now - cursor.last_record > IDLE_SECONDS:
                    self.mark(tenant_id)
            if self._dirty or self._journaled:
                try:
                    await self.commit()
                except Exception:  # the next request's commit reports it; keep trying
                    logger.exception("writing the state directory failed")

    def recover(self, registry: TenantRegistry) -> int:
        """Take back every tenant of the state directory; returns how many."""
        self.registry = registry
        stored, ids_issued = state_dir.read_all(self._connection, self.directory)
        for found in stored:
            tenant = durable_records.tenant_from(found, registry)
            document = tenant_state.read(found.document)
            deltas = durable_records.readable_journal(found)
            try:
                tenant_state.adopt(tenant, document, exact_clock=False, deltas=deltas)
            except DocumentError as error:
                logger.error(
                    "tenant %s: its journal does not apply to its state (%s); it comes back "
                    "as of its last full document, without its %d journal records",
                    found.record["id"],
                    error.detail,
                    len(deltas),
                )
                tenant_state.adopt(tenant, document, exact_clock=False)
            else:
                if deltas:
                    tenant.expires_at = durable_records.moment(
                        deltas[-1].get("expires_at", found.record["expires_at"])
                    )
            registry.readmit(tenant, durable_records.grants_from(found.record), ids_issued)
            made = api_keys.from_records(tenant.id, found.record.get("api_keys", []))
            registry.api_keys.readmit(made)
            registry.replaced.readmit(tenant.id, found.record.get("replaced_credentials", {}))
            self._ordinals[tenant.id] = len(self._ordinals)
            self._stored.add(tenant.id)
            self._saved_snapshots[tenant.id] = {s.id for s in tenant.snapshots.all()}
        return len(stored)


def _written_by(batch: state_dir.Batch) -> dict[str, int]:
    """The epoch each tenant of a batch has once it is written (``_GONE``: deleted)."""
    return {row.id: row.epoch for row in batch.rows} | dict.fromkeys(batch.gone, _GONE)


def _journal_will_do(tenant: Tenant, cursor: _Cursor) -> bool:
    """Whether the tenant's recorded changes hold all it changed since its last write."""
    journal = cursor.journal
    return (
        tenant_state.keeps_journal(tenant, journal)  # not reset, restored or imported since
        and not journal.tainted
        and cursor.records < MAX_RECORDS
    )


def journaled(method: str, path: str, prefer: str) -> bool:
    """Whether a request records every change it makes (see ``JOURNALED``)."""
    if method == "POST" and path == "/v1/entries" and "respond-async" in prefer:
        return False  # the posting it schedules is not a recorded change
    return any(method == m and pattern.fullmatch(path) for m, pattern in JOURNALED)


class DurableWorker(DeliveryWorker):
    """The delivery worker, marking a tenant changed when one of its attempts ends."""

    durability: Durability | None = None

    async def attempt(
        self,
        tenant_id: str,
        webhooks: Webhooks,
        delivery: Delivery,
        fault: DeliveryFault | None = None,
        current: Callable[[], bool] = lambda: True,
    ) -> Attempt:
        # Its outcome is recorded (``Webhooks.finish_attempt``): a journal record will do.
        trusted = TRUSTED.set(True)
        try:
            return await super().attempt(tenant_id, webhooks, delivery, fault, current)
        finally:
            TRUSTED.reset(trusted)
            if self.durability is not None:
                self.durability.mark_journaled(tenant_id)


class DurableWrites:
    """Holds back the answer to a write until the tenants it changed are on disk."""

    def __init__(self, app: ASGIApp, durability: Durability) -> None:
        self.app = app
        self.durability = durability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE:
            await self.app(scope, receive, send)
            return
        durability = self.durability
        credential = _bearer(scope)
        prefer = (scope_header(scope, b"prefer") or "").lower()
        recorded = journaled(scope["method"], scope["path"], prefer)

        unwritten = False

        async def send_when_written(message: Message) -> None:
            nonlocal unwritten
            if unwritten:
                return  # the answer was replaced: see _send_unwritten
            if message["type"] == "http.response.start":
                registry = durability.registry
                tenant_id = registry.tenant_id_for(credential) if credential and registry else None
                if tenant_id is not None:  # idempotency keys change without events
                    (durability.mark_journaled if recorded else durability.mark)(tenant_id)
                try:
                    await durability.commit()
                except Exception:
                    logger.exception("writing the state directory failed")
                    unwritten = True
                    await _send_unwritten(scope, send)
                    return
            await send(message)

        trusted = TRUSTED.set(recorded)
        try:
            await self.app(scope, receive, send_when_written)
        finally:
            TRUSTED.reset(trusted)


async def _send_unwritten(scope: Scope, send: Send) -> None:
    """503 ``state.write_failed``: the change stands in memory, but is not on disk yet."""
    request_id = str(scope.get("gledger.request_id", ""))
    detail = (
        "The change was made, but the server could not write it to its state directory yet, "
        "so it might not survive a restart; the server keeps trying. Retry with the same "
        "Idempotency-Key to get the stored answer once it is written."
    )
    body = problem_body(503, "state.write_failed", detail, request_id)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"x-gledger-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bearer(scope: Scope) -> str | None:
    scheme, _, token = (scope_header(scope, b"authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
