"""Sandboxes that survive a restart (``serve --state-dir``): what is written, and when.

A write request is answered only once every tenant it changed is on disk: ``DurableWrites``
holds back the answer's first message until ``Durability.commit`` has written them. Each
commit captures the changed tenants' whole state on the loop (the one consistent moment),
turns it into bytes and writes it on one writer thread, so the loop never waits on the disk;
requests that arrive meanwhile share the next commit (group commit). What the server changes
on its own (a webhook attempt's outcome, due work on a real-time clock) is written by the same
commits, at the latest ``BACKGROUND_SECONDS`` later. At start-up, ``recover`` reads every
tenant back with its credentials, live tokens and snapshots.

The cost of a commit grows with the size of the tenants it writes (their whole state is
written each time): bench/README.md has the figures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gledger_sandbox.api import state_dir
from gledger_sandbox.api.middleware import scope_header
from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery
from gledger_sandbox.domain.live.webhooks import Webhooks
from gledger_sandbox.domain.sandbox import api_keys, tenant_state
from gledger_sandbox.domain.sandbox.faults import DeliveryFault
from gledger_sandbox.domain.sandbox.snapshot_shelf import Snapshot
from gledger_sandbox.domain.sandbox.tenants import AccessToken, Tenant, TenantRegistry
from gledger_sandbox.webhooks.worker import DeliveryWorker

logger = logging.getLogger("gledger_sandbox.durability")

BACKGROUND_SECONDS = 0.5
"""How soon a change the server made on its own (no request to answer) is written."""
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class Durability:
    """The tenants changed since the last write, and the commits that write them."""

    def __init__(self, directory: Path, registry: TenantRegistry | None = None) -> None:
        self.directory = directory
        self.registry = registry
        self._connection = state_dir.connect(directory)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "gledger-state-writer")
        self._dirty: set[str] = set()
        self._ordinals: dict[str, int] = {}
        self._saved_snapshots: dict[str, set[str]] = {}
        self._started = 0
        self._done = 0
        self._running: asyncio.Future[None] | None = None
        self._background: asyncio.Task[None] | None = None

    def mark(self, tenant_id: str) -> None:
        self._dirty.add(tenant_id)

    def listener(self, then: Callable[[str], None]) -> Callable[[str], None]:
        """A tenant listener that marks the tenant changed, then tells ``then``."""

        def changed(tenant_id: str) -> None:
            self._dirty.add(tenant_id)
            then(tenant_id)

        return changed

    async def commit(self) -> None:
        """Return once every change marked so far is on disk."""
        self._start_background()
        needed = self._started + 1  # a commit that starts from now on holds what is marked
        while self._done < needed:
            if self._running is None:
                self._running = asyncio.ensure_future(self._write_once())
            await asyncio.shield(self._running)

    async def _write_once(self) -> None:
        self._started += 1
        number = self._started
        try:
            batch = self._batch()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer, state_dir.write, self._connection, batch)
        finally:
            self._done = number
            self._running = None

    def write_now(self) -> None:
        """Write what is marked, blocking (start-up, and the end of ``serve``)."""
        state_dir.write(self._connection, self._batch())

    def _batch(self) -> state_dir.Batch:
        assert self.registry is not None
        batch = state_dir.Batch(ids_issued=self.registry.ids_issued())
        dirty, self._dirty = self._dirty, set()
        # A tenant just created (its creation tells no listener): never written yet.
        dirty |= self.registry.tenants.keys() - self._ordinals.keys()
        for tenant_id in sorted(dirty):
            tenant = self.registry.tenants.get(tenant_id)
            if tenant is None:
                batch.gone.append(tenant_id)
                self._saved_snapshots.pop(tenant_id, None)
            else:
                batch.rows.append(self._row(tenant))
        return batch

    def _row(self, tenant: Tenant) -> state_dir.TenantRow:
        ordinal = self._ordinals.setdefault(tenant.id, len(self._ordinals))
        saved = self._saved_snapshots.setdefault(tenant.id, set())
        kept = tenant.snapshots.all()
        row = state_dir.TenantRow(
            tenant.id,
            ordinal,
            _record(tenant, self.registry.grants_of(tenant.id) if self.registry else [])
            | {"api_keys": api_keys.to_records(self._made_keys(tenant.id))},
            tenant_state.capture(tenant),
            [(s.id, _snapshot_record(s), s.document) for s in kept if s.id not in saved],
            [s.id for s in kept],
        )
        saved.clear()
        saved.update(row.kept_snapshots)
        return row

    def _made_keys(self, tenant_id: str) -> list[api_keys.ApiKey]:
        return self.registry.api_keys.of(tenant_id) if self.registry else []

    def _start_background(self) -> None:
        if self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._write_in_background())

    async def _write_in_background(self) -> None:
        while True:
            await asyncio.sleep(BACKGROUND_SECONDS)
            if self._dirty:
                try:
                    await self.commit()
                except Exception:  # the next request's commit reports it; keep trying
                    logger.exception("writing the state directory failed")

    def recover(self, registry: TenantRegistry) -> int:
        """Take back every tenant of the state directory; returns how many."""
        self.registry = registry
        stored, ids_issued = state_dir.read_all(self._connection)
        for found in stored:
            tenant = _tenant(found, registry)
            tenant_state.adopt(tenant, tenant_state.read(found.document), exact_clock=False)
            registry.readmit(tenant, _grants(found.record), ids_issued)
            made = api_keys.from_records(tenant.id, found.record.get("api_keys", []))
            registry.api_keys.readmit(made)
            self._ordinals[tenant.id] = len(self._ordinals)
            self._saved_snapshots[tenant.id] = {s.id for s in tenant.snapshots.all()}
        return len(stored)


def _record(tenant: Tenant, grants: list[AccessToken]) -> dict[str, Any]:
    """What the registry knows of a tenant (credentials included: this file is the server's)."""
    return {
        "id": tenant.id,
        "fixture": tenant.fixture,
        "seed": tenant.seed,
        "created_at": tenant.created_at.isoformat(),
        "clock_start": tenant.clock_start.isoformat() if tenant.clock_start else None,
        "api_key": tenant.api_key,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "ttl_seconds": tenant.ttl.total_seconds() if tenant.ttl else None,
        "expires_at": tenant.expires_at.isoformat() if tenant.expires_at else None,
        "snapshot_ids_issued": tenant.snapshots.ids_issued(),
        "tokens": [
            {"token": g.token, "scopes": sorted(g.scopes), "expires_at": g.expires_at.isoformat()}
            for g in grants
        ],
    }


def _snapshot_record(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "name": snapshot.name,
        "created_at": snapshot.created_at.isoformat(),
        "event_sequence": snapshot.event_sequence,
        "counts": snapshot.counts,
    }


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def _tenant(found: state_dir.Stored, registry: TenantRegistry) -> Tenant:
    record = found.record
    ttl = record["ttl_seconds"]
    tenant = Tenant(
        id=record["id"],
        fixture=record["fixture"],
        seed=record["seed"],
        created_at=datetime.fromisoformat(record["created_at"]),
        clock_start=_time(record["clock_start"]),
        api_key=record["api_key"],
        client_id=record["client_id"],
        client_secret=record["client_secret"],
        ttl=timedelta(seconds=ttl) if ttl is not None else None,
        expires_at=_time(record["expires_at"]),
        policy=registry.policy,
    )
    kept = [
        Snapshot(
            r["id"],
            r["name"],
            datetime.fromisoformat(r["created_at"]),
            r["event_sequence"],
            r["counts"],
            document,
        )
        for r, document in found.snapshots
    ]
    tenant.snapshots.readmit(kept, record["snapshot_ids_issued"])
    return tenant


def _grants(record: dict[str, Any]) -> list[AccessToken]:
    return [
        AccessToken(
            t["token"],
            record["id"],
            frozenset(t["scopes"]),
            datetime.fromisoformat(t["expires_at"]),
        )
        for t in record["tokens"]
    ]


class DurableWorker(DeliveryWorker):
    """The delivery worker, marking a tenant changed when one of its attempts ends."""

    durability: Durability | None = None

    async def attempt(
        self,
        tenant_id: str,
        webhooks: Webhooks,
        delivery: Delivery,
        fault: DeliveryFault | None = None,
    ) -> Attempt:
        try:
            return await super().attempt(tenant_id, webhooks, delivery, fault)
        finally:
            if self.durability is not None:
                self.durability.mark(tenant_id)


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

        async def send_when_written(message: Message) -> None:
            if message["type"] == "http.response.start":
                registry = durability.registry
                tenant_id = registry.tenant_id_for(credential) if credential and registry else None
                if tenant_id is not None:
                    durability.mark(tenant_id)  # idempotency keys change without events
                await durability.commit()
            await send(message)

        await self.app(scope, receive, send_when_written)


def _bearer(scope: Scope) -> str | None:
    scheme, _, token = (scope_header(scope, b"authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
