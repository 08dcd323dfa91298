"""A tenant's whole state as one versioned document: what snapshots, exports and the durable
store of ``serve --state-dir`` hold, and how a tenant takes it back.

The document (``FORMAT``, ``VERSION``) names the tenant's fixture, seed and clock start, and
holds its state as a graph (``state_graph``): ledgers, accounts, entries and statement lines
with their indexes and running balances, idempotency keys, the event log, webhook endpoints and
deliveries, settlements, payouts, reconciliation runs, due work, fault rules (with where each
seeded generator stands) and their injection log, the clock and the id counters.
A SHA-256 checksum over the canonical JSON of the state detects a truncated or edited copy.
Credentials are never part of it: a document can be shared without sharing a key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gledger_sandbox.domain.errors import FieldError, InvalidRequest
from gledger_sandbox.domain.journal import Journal
from gledger_sandbox.domain.sandbox import state_upgrades
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.state_decoder import Decoder
from gledger_sandbox.domain.state_encoder import Encoder
from gledger_sandbox.domain.state_graph import DocumentError, Wiring

FORMAT = "gledger-sandbox/tenant-state"
VERSION = 3
READABLE = (1, 2, 3)
"""The versions this server reads: 1 and 2 through ``state_upgrades``."""
_ROOTS = (
    "store",
    "idempotency",
    "settlements",
    "payouts",
    "schedule",
    "webhooks",
    "reconciliations",
    "faults",
)
_OPTIONAL = frozenset({"faults"})
"""Roots a document may lack (written before they were part of it): a fresh one is used."""
_CARRIED = {
    "ids": ("_key", "_count"),
    "event_ids": ("_key", "_count"),
    "webhook_ids": ("_key", "_count"),
    "counter": ("seq",),
}
"""Wired objects whose own state the document carries (id counters, the sequence counter)."""


def _wiring(tenant: Tenant) -> Wiring:
    store = tenant.store
    events = store.events
    return {
        "uow": store.uow,
        "clock": store.clock,
        "ids": store.ids,
        "event_ids": events._ids,  # the codec is the log's other half
        "webhook_ids": tenant.webhooks._ids,
        "counter": store._counter,
        "on_publish": events._on_publish,
    }


def canonical(value: Any) -> bytes:
    """The one JSON text of a value: sorted keys, no spaces (what the checksum covers)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def capture(tenant: Tenant) -> dict[str, Any]:
    """The tenant's state now, as plain JSON values (shares nothing with the live state, so
    it may be turned into bytes on another thread: see ``to_bytes``)."""
    return capture_for_journal(tenant)[0]


def capture_for_journal(tenant: Tenant) -> tuple[dict[str, Any], Encoder]:
    """``capture``, and the encoder that wrote it: ``delta`` carries on from its numbering."""
    wiring = _wiring(tenant)
    encoder = Encoder(wiring)
    graph = encoder.encode({name: getattr(tenant, name) for name in _ROOTS})
    state = {
        "tenant": {
            "fixture": tenant.fixture,
            "seed": tenant.seed,
            "clock_start": tenant.clock_start.isoformat() if tenant.clock_start else None,
        },
        **_moving_parts(tenant, wiring),
        "graph": graph,
    }
    return state, encoder


def keep_journal(tenant: Tenant, journal: Journal) -> None:
    """Hang ``journal`` on every part of the tenant that records its changes (``delta``)."""
    for part in _recording_parts(tenant):
        part.journal = journal


def keeps_journal(tenant: Tenant, journal: Journal) -> bool:
    """Whether every recording part still hangs on ``journal`` (a reset, a restore or an import
    makes new parts, which hang on none)."""
    return all(part.journal is journal for part in _recording_parts(tenant))


def _recording_parts(tenant: Tenant) -> tuple[Any, ...]:
    return (tenant.store.uow, tenant.idempotency, tenant.webhooks, tenant.faults)


def delta(tenant: Tenant, encoder: Encoder, changes: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A journal record: the changes since the encoder's last document or record, with the
    clock and the id counters as they are now (plain JSON values, like ``capture``)."""
    return {**_moving_parts(tenant, _wiring(tenant)), "delta": encoder.changes(changes)}


def _moving_parts(tenant: Tenant, wiring: Wiring) -> dict[str, Any]:
    clock = tenant.clock
    return {
        "clock": {
            "now": clock.now().isoformat(),
            "frozen": clock.frozen,
            "offset_us": _micros(clock._offset),
        },
        "carried": {
            name: {attr: _plain(getattr(wiring[name], attr)) for attr in attrs}
            for name, attrs in _CARRIED.items()
        },
    }


def to_bytes(state: dict[str, Any]) -> bytes:
    """The document of a captured state: canonical JSON, its checksum computed on the way."""
    text = canonical(state)
    checksum = "sha256:" + hashlib.sha256(text).hexdigest()
    # The canonical JSON of the whole document, keys in order, with the state's text once.
    head = canonical({"checksum": checksum, "format": FORMAT})[:-1]
    return head + b',"state":' + text + b',"version":' + str(VERSION).encode() + b"}"


@dataclass(frozen=True, slots=True)
class Header:
    """What a document says about the tenant it came from."""

    fixture: str
    seed: int
    clock_start: datetime | None
    event_seq: int


def read(text: bytes) -> dict[str, Any]:
    """Parse and check a document: its format, version and checksum (else 422, with pointers)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _refused("", "import.invalid_document", "Not a JSON document (truncated?).") from None
    return checked(document)


def checked(document: Any) -> dict[str, Any]:
    """A parsed document, if its format, version and checksum are right (else 422)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _refused("/format", "import.foreign_document", f"Not a {FORMAT} document.")
    if document.get("version") not in READABLE:
        raise _refused(
            "/version",
            "import.unsupported_version",
            f"This server reads versions 1 to {VERSION} of {FORMAT}, "
            f"not {document.get('version')!r}.",
        )
    state = document.get("state")
    if not isinstance(state, dict):
        raise _refused("/state", "import.invalid_document", "The document holds no state.")
    expected = "sha256:" + hashlib.sha256(canonical(state)).hexdigest()
    if document.get("checksum") != expected:
        raise _refused(
            "/checksum",
            "import.checksum_mismatch",
            "The state does not match its checksum: the file was changed or cut short.",
        )
    return document


def header(document: dict[str, Any]) -> Header:
    """The fixture, seed and clock start a (checked) document names."""
    tenant = document["state"].get("tenant")
    if not isinstance(tenant, dict):
        raise DocumentError("/state/tenant", "The document names no tenant.")
    fixture, seed, start = tenant.get("fixture"), tenant.get("seed"), tenant.get("clock_start")
    if not isinstance(fixture, str) or type(seed) is not int:
        raise DocumentError("/state/tenant", "A tenant has a fixture name and an integer seed.")
    try:
        clock_start = datetime.fromisoformat(start) if start is not None else None
    except (TypeError, ValueError):
        raise DocumentError("/state/tenant/clock_start", "Not a timestamp.") from None
    return Header(fixture, seed, clock_start, _event_seq(document))


def _event_seq(document: dict[str, Any]) -> int:
    """The last event sequence of the state (read from the graph without building it)."""
    graph = document["state"].get("graph", {})
    try:
        store = graph["objects"][graph["roots"]["store"]["$r"]]["f"]
        log = graph["objects"][store["events"]["$r"]]["f"]
        seq = log["last_seq"]
    except (KeyError, IndexError, TypeError):
        raise DocumentError("/state/graph", "The graph holds no event log.") from None
    if type(seq) is not int:
        raise DocumentError("/state/graph", "The event log has no last sequence.")
    return seq


def adopt(
    tenant: Tenant,
    document: dict[str, Any],
    *,
    exact_clock: bool,
    deltas: list[dict[str, Any]] | tuple[()] = (),
) -> None:
    """Put ``tenant`` in the document's state (carried on by journal ``deltas``), whole or not
    at all.

    The state is built aside on a fresh stand-in (so a bad document changes nothing), then
    swapped in. ``exact_clock``: the clock reads what it read when the state was captured (a
    restore, an import); otherwise a real-time clock keeps its offset from wall time (the time
    the server was down passed for it too).
    """
    head = header(document)
    state = document["state"]
    previous_seq = tenant.store.events.last_seq
    stand_in = tenant.staged(head.fixture, head.seed)
    stand_in.clock_start = head.clock_start
    wiring = _wiring(stand_in)
    version = document.get("version", VERSION)
    decoder = Decoder(wiring, state_upgrades.V1_CLASSES if version == 1 else None)
    try:
        roots = decoder.decode(state.get("graph"), "/state/graph")
        for n, record in enumerate(deltas):
            decoder.apply(record.get("delta"), f"/deltas/{n}/delta")
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as error:
        # Well-formed objects that do not fit together (a sorted list of mixed kinds...).
        raise DocumentError("/state/graph", f"The state does not fit together: {error}") from None
    missing = [name for name in _ROOTS if name not in roots and name not in _OPTIONAL]
    if missing:
        raise DocumentError("/state/graph/roots", f"Missing: {', '.join(missing)}.")
    upgrade = {1: state_upgrades.store_from_v1, 2: state_upgrades.store_from_v2}.get(version)
    if upgrade is not None:
        try:
            upgrade(roots["store"])
        except (TypeError, ValueError, AttributeError, KeyError) as error:
            raise DocumentError("/state/graph", f"Not a version-{version} store: {error}") from None
    moving = deltas[-1] if deltas else state
    _carry(wiring, moving.get("carried"))
    _set_clock(stand_in, moving.get("clock"), exact=exact_clock)
    for name in _ROOTS:
        if name in roots:
            setattr(stand_in, name, roots[name])
    stand_in.store.events.restored_over(previous_seq)
    stand_in.idempotency.forget_unanswered()
    for delivery in list(stand_in.webhooks.deliveries.values()):
        # An attempt under way when the state was taken never ended here: due again, uncounted.
        stand_in.webhooks.abandon_attempt(delivery)
    tenant.clock_start = head.clock_start
    tenant.adopt(stand_in)


def _carry(wiring: Wiring, carried: Any) -> None:
    if not isinstance(carried, dict):
        raise DocumentError("/state/carried", "Expected the id counters.")
    for name, attrs in _CARRIED.items():
        values = carried.get(name)
        for attr in attrs:
            if not isinstance(values, dict) or attr not in values:
                raise DocumentError(f"/state/carried/{name}/{attr}", "Missing.")
            value = values[attr]
            if attr == "_key":
                value = bytes.fromhex(value) if isinstance(value, str) else None
            if type(value) not in (int, bytes):
                raise DocumentError(f"/state/carried/{name}/{attr}", "Not a counter or key.")
            object.__setattr__(wiring[name], attr, value)


def _set_clock(tenant: Tenant, written: Any, *, exact: bool) -> None:
    try:
        now = datetime.fromisoformat(written["now"])
        offset_us, frozen = written["offset_us"], written["frozen"]
        assert type(offset_us) is int and type(frozen) is bool and now.tzinfo is not None
    except (KeyError, TypeError, ValueError, AssertionError):
        raise DocumentError("/state/clock", "Expected now, frozen and offset_us.") from None
    clock = tenant.clock
    # The clock's parts are its own; the codec is its other half.
    clock._frozen_at = tenant.clock_start if frozen else None
    clock._offset = timedelta(microseconds=offset_us)
    clock._last = datetime.min.replace(tzinfo=UTC)
    if exact and not frozen:
        clock._offset += now - clock.now()  # read the captured moment again
    clock._last = max(now, clock.now())  # never before the captured moment


def _micros(delta: Any) -> int:
    return int(delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds)


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _refused(pointer: str, code: str, detail: str) -> InvalidRequest:
    return InvalidRequest(code, detail, (FieldError(pointer, code, detail),))
