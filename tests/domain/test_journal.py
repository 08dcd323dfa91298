"""The journal of ``serve --state-dir``: a tenant's full document carried on by the deltas of
its committed units gives back exactly the state the live tenant holds (same document bytes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.journal import TRUSTED, Journal
from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.ledger.events import Retention
from gledger_sandbox.domain.ledger.models import EntryStatus
from gledger_sandbox.domain.live.webhook_models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    EndpointSpec,
    EndpointStatus,
)
from gledger_sandbox.domain.sandbox import faults, tenant_state
from gledger_sandbox.domain.sandbox.faults import Effect, FaultMatch, FaultSpec, Injected, Latency
from gledger_sandbox.domain.sandbox.idempotency import StoredAnswer
from gledger_sandbox.domain.sandbox.tenant import Tenant, TenantPolicy
from gledger_sandbox.domain.state_decoder import Decoder
from gledger_sandbox.domain.state_encoder import Encoder
from gledger_sandbox.domain.state_graph import DocumentError
from tests.domain.helpers import START, C, D, chart, spec


def _tenant(max_events: int = 1_000_000) -> Tenant:
    return Tenant(
        id="ten_journal",
        fixture="empty",
        seed=3,
        created_at=START,
        clock_start=START,
        api_key="key",
        client_id="client",
        client_secret="secret",
        ttl=None,
        expires_at=None,
        policy=TenantPolicy(retention=Retention(max_count=max_events)),
    )


class Recorder:
    """A tenant's full document, then one JSON journal record per ``record()``."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        state, self.encoder = tenant_state.capture_for_journal(tenant)
        self.document = tenant_state.to_bytes(state)
        self.journal = Journal()
        tenant_state.keep_journal(tenant, self.journal)
        self.records: list[dict[str, Any]] = []

    def record(self) -> None:
        delta = tenant_state.delta(self.tenant, self.encoder, self.journal.drain())
        self.records.append(json.loads(json.dumps(delta)))

    def replayed(self) -> Tenant:
        again = _tenant(self.tenant.policy.retention.max_count)
        document = tenant_state.read(self.document)
        tenant_state.adopt(again, document, exact_clock=True, deltas=self.records)
        return again


def _document(tenant: Tenant) -> bytes:
    """The tenant's document, read back once: a read object holds its fields in the order the
    document lists them, so the live tenant's document goes through the same reading."""
    again = _tenant(tenant.policy.retention.max_count)
    written = tenant_state.to_bytes(tenant_state.capture(tenant))
    tenant_state.adopt(again, tenant_state.read(written), exact_clock=True)
    state = tenant_state.capture(again)
    return tenant_state.canonical({k: state[k] for k in ("graph", "carried", "clock")})


@pytest.fixture(autouse=True)
def trusted() -> Any:
    token = TRUSTED.set(True)
    yield
    TRUSTED.reset(token)


def test_entries_replayed_from_the_journal_give_the_same_document() -> None:
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    recorder = Recorder(tenant)
    store = tenant.store
    for n in range(30):
        postings.create_entry(
            store, spec(ledger_id, accounts, ("cash", D, n + 1), ("revenue", C, n + 1))
        )
        if n % 3 == 0:
            pending = spec(
                ledger_id,
                accounts,
                ("cash", D, 5),
                ("tax", C, 5),
                status=EntryStatus.PENDING,
                expires_at=START + timedelta(days=n + 1),
                external_id=f"ext-{n}",
            )
            postings.create_entry(store, pending)
        if n % 5 == 1:  # back-dated: its lines post out of effective order (late)
            back = START - timedelta(hours=n)
            postings.create_entry(
                store,
                spec(ledger_id, accounts, ("cash", D, 7), ("revenue", C, 7), effective_at=back),
            )
        refused = spec(
            ledger_id,
            accounts,
            ("wallet", D, 10**6),
            ("cash", C, 10**6),
            effective_at=START - timedelta(days=1) if n % 2 else None,
        )
        with pytest.raises(LedgerError):  # refused whole: its changes leave the journal too
            postings.create_entry(store, refused)
        scope = ("createEntry", f"key-{n}")
        assert tenant.idempotency.begin(scope, "print", tenant.clock.now()) is None
        tenant.idempotency.complete(scope, StoredAnswer(201, b'{"id": 1}', "application/json"))
        tenant.idempotency.begin(("createEntry", "abandoned"), "print", tenant.clock.now())
        tenant.idempotency.abandon(("createEntry", "abandoned"))
        if n % 4 == 0:
            recorder.record()
    recorder.record()
    assert not recorder.journal.tainted
    assert _document(recorder.replayed()) == _document(tenant)


def test_retention_trimming_and_compaction_replay_too() -> None:
    tenant = _tenant(max_events=5)
    ledger_id, accounts = chart(tenant.store)
    recorder = Recorder(tenant)
    for n in range(600):  # 1,200 events: the log drops the old ones and compacts its list
        postings.create_entry(
            tenant.store, spec(ledger_id, accounts, ("cash", D, 1), ("revenue", C, 1))
        )
        if n % 50 == 0:
            recorder.record()
    recorder.record()
    assert len(tenant.store.events) == 5
    assert _document(recorder.replayed()) == _document(tenant)


def test_a_change_made_outside_a_trusted_request_taints_the_journal() -> None:
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    recorder = Recorder(tenant)
    token = TRUSTED.set(False)
    try:
        postings.create_entry(
            tenant.store, spec(ledger_id, accounts, ("cash", D, 1), ("revenue", C, 1))
        )
    finally:
        TRUSTED.reset(token)
    assert recorder.journal.tainted


def test_new_objects_are_written_whole_and_their_own_changes_left_out() -> None:
    box: dict[str, Any] = {}
    encoder = Encoder({})
    encoder.encode({"box": box})
    fresh: list[int] = []
    box["list"] = fresh
    fresh.append(1)
    delta = encoder.changes([("put", box, "list", fresh), ("add", fresh, 1)])
    assert delta == {
        "base": 1,
        "objects": [{"t": "list", "items": [1]}],
        "changes": [["p", 0, "list", {"$r": 1}]],
    }


def _answered(tenant: Tenant, delivery: Delivery, status: int | None) -> None:
    now = tenant.clock.now()
    attempt = Attempt(len(delivery.attempts) + 1, now, 1.0, status, None if status else "refused")
    tenant.webhooks.finish_attempt(delivery, attempt)


def test_deliveries_and_attempt_outcomes_replay_from_the_journal() -> None:
    tenant = _tenant(max_events=8)  # finished deliveries past the log's retention are forgotten
    ledger_id, accounts = chart(tenant.store)
    hooks = tenant.webhooks
    hooks.create_endpoint(EndpointSpec("http://all.test/"), "whsec_AA")
    gone = hooks.create_endpoint(EndpointSpec("http://gone.test/", ("entry.posted",)), "whsec_BB")
    recorder = Recorder(tenant)
    for n in range(40):
        postings.create_entry(
            tenant.store, spec(ledger_id, accounts, ("cash", D, n + 1), ("revenue", C, n + 1))
        )
        hooks.collect()
        for m, delivery in enumerate(hooks.take_due()):
            if delivery.endpoint_id == gone.id and n == 30:
                _answered(tenant, delivery, 410)  # the endpoint is disabled
            elif (n + m) % 3:
                _answered(tenant, delivery, 204)
            elif (n + m) % 5 == 0:
                hooks.abandon_attempt(delivery)  # the server stopped mid-attempt
            else:
                _answered(tenant, delivery, 500 if n % 2 else None)  # retried later
        if n % 7 == 0:
            recorder.record()
            tenant.clock.advance(120)  # retries fall due
    recorder.record()
    assert not recorder.journal.tainted
    assert gone.status is EndpointStatus.DISABLED
    assert any(d.status is DeliveryStatus.PENDING for d in hooks.deliveries.values())
    assert _document(recorder.replayed()) == _document(tenant)


def test_fault_rule_counters_and_injections_replay_from_the_journal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faults, "KEPT_INJECTIONS", 6)  # the oldest injections are forgotten
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    tenant.webhooks.create_endpoint(EndpointSpec("http://all.test/"), "whsec_AA")
    rules = tenant.faults
    latency = Latency(5.0, faults.Distribution.UNIFORM, 50.0)
    rules.create(FaultSpec(FaultMatch("createEntry"), Effect.LATENCY, latency=latency, seed=4))
    rules.create(FaultSpec(FaultMatch("createEntry"), Effect.ERROR, 503, probability=0.3))
    rules.create(FaultSpec(FaultMatch(), Effect.WEBHOOK_DROP, times=5, probability=0.5))
    recorder = Recorder(tenant)
    for n in range(25):
        for rule in rules.for_call("createEntry", "POST", "/v1/entries", "/v1/entries"):
            rules.record(Injected(rule.id, rule.spec.effect, operation_id="createEntry"))
        postings.create_entry(
            tenant.store, spec(ledger_id, accounts, ("cash", D, n + 1), ("revenue", C, n + 1))
        )
        tenant.webhooks.collect()
        for delivery in tenant.webhooks.take_due():
            faults.delivery_fault(rules, delivery)
            _answered(tenant, delivery, 204)
        if n % 6 == 0:
            recorder.record()
    recorder.record()
    assert not recorder.journal.tainted
    assert len(rules.injections) == 6 and rules.last_seq > 10
    assert _document(recorder.replayed()) == _document(tenant)


def test_changes_the_journal_does_not_hold_taint_it() -> None:
    """Even in a trusted context: a full document is written for them, never a record."""
    changes: list[Callable[[Tenant, str], object]] = [
        lambda tenant, _: tenant.webhooks.create_endpoint(EndpointSpec("http://b.test/"), "s"),
        lambda tenant, hook: tenant.webhooks.rotate_secret(hook, "whsec_CC", timedelta(0)),
        lambda tenant, hook: tenant.webhooks.update_endpoint(hook, {"url": "http://c.test/"}),
        lambda tenant, hook: tenant.webhooks.ping(hook),
        lambda tenant, hook: tenant.webhooks.delete_endpoint(hook),
        lambda tenant, _: tenant.faults.create(FaultSpec(FaultMatch(), Effect.LATENCY)),
    ]
    for change in changes:
        tenant = _tenant()
        hook = tenant.webhooks.create_endpoint(EndpointSpec("http://a.test/"), "whsec_AA").id
        recorder = Recorder(tenant)
        change(tenant, hook)
        assert recorder.journal.tainted, change


def test_a_statement_row_and_a_new_entrys_indexes_are_one_change_each() -> None:
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    postings.create_entry(  # the statements and indexes exist before the recorder starts
        tenant.store, spec(ledger_id, accounts, ("cash", D, 1), ("revenue", C, 1))
    )
    recorder = Recorder(tenant)
    postings.create_entry(
        tenant.store, spec(ledger_id, accounts, ("cash", D, 2), ("revenue", C, 2))
    )
    recorder.record()
    changes = recorder.records[0]["delta"]["changes"]
    adds = [change[1] for change in changes if change[0] == "m"]
    # The entry's five indexes, two statement rows (five columns each), two events' two lists.
    assert [len(pairs) for pairs in adds] == [5, 5, 5, 2, 2]
    assert not [change for change in changes if change[0] == "a"]
    assert _document(recorder.replayed()) == _document(tenant)


def test_adds_leave_out_new_containers_and_older_journals_adds_read_the_same() -> None:
    box: dict[str, Any] = {"old": [1], "also": [2]}
    encoder = Encoder({})
    graph = encoder.encode({"box": box})
    box["new"] = fresh = [3]
    box["old"].append(4)
    box["also"].append(5)
    fresh.append(6)
    pairs = ((box["old"], 4), (fresh, 6), (box["also"], 5))
    delta = encoder.changes([("put", box, "new", fresh), ("adds", pairs)])
    assert delta["changes"][1] == ["m", [[1, 4], [2, 5]]]
    # A journal written before ``adds`` holds one ``a`` change per container: it reads the same.
    older = {**delta, "changes": [delta["changes"][0], ["a", 1, 4], ["a", 2, 5]]}
    for written in (delta, older):
        decoder = Decoder({})
        roots = decoder.decode(json.loads(json.dumps(graph)), "/graph")
        decoder.apply(json.loads(json.dumps(written)), "/delta")
        assert roots["box"] == {"old": [1, 4], "also": [2, 5], "new": [3, 6]}


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (["m", [[1, 4], [99, 5]]], "/delta/changes/0/1/1/0"),  # the second pair's container
        (["a", 99, 5], "/delta/changes/0/1"),
    ],
)
def test_an_add_to_no_container_points_at_the_container(change: list[Any], pointer: str) -> None:
    encoder = Encoder({})
    graph = encoder.encode({"box": {"old": [1], "also": [2]}})
    decoder = Decoder({})
    decoder.decode(json.loads(json.dumps(graph)), "/graph")
    delta = {"base": len(graph["objects"]), "objects": [], "changes": [change]}
    with pytest.raises(DocumentError) as raised:
        decoder.apply(delta, "/delta")
    assert [field.pointer for field in raised.value.errors] == [pointer]


def test_an_events_copy_of_a_new_entry_is_written_as_the_entry_and_read_apart() -> None:
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    recorder = Recorder(tenant)
    entry = postings.create_entry(
        tenant.store, spec(ledger_id, accounts, ("cash", D, 3), ("revenue", C, 3))
    )
    recorder.record()
    delta = recorder.records[0]["delta"]
    written = [o for o in delta["objects"] if o["t"] == "models.Entry"]
    number = delta["base"] + delta["objects"].index(written[0])
    # The entry's fields once; the events' (shared) copy of it names the entry's number.
    assert [o.get("as") for o in written] == [None, number]
    again = recorder.replayed()
    read = again.store.entries[entry.id]
    events = again.store.events.after(0, None, 100)
    copies = [e.data for e in events if getattr(e.data, "id", None) == entry.id]
    assert len(copies) == 2 and all(c == read and c is not read for c in copies)
    assert _document(again) == _document(tenant)


@pytest.mark.parametrize(("other", "detail"), [(False, "no object"), (True, "another type")])
def test_a_copy_of_no_entry_points_at_its_as(other: bool, detail: str) -> None:
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    recorder = Recorder(tenant)
    postings.create_entry(
        tenant.store, spec(ledger_id, accounts, ("cash", D, 3), ("revenue", C, 3))
    )
    recorder.record()
    delta = recorder.records[0]["delta"]
    n, copy = next((n, o) for n, o in enumerate(delta["objects"]) if "as" in o)
    event = next(i for i, o in enumerate(delta["objects"]) if o["t"] == "events.Event")
    copy["as"] = delta["base"] + event if other else 10**6
    with pytest.raises(DocumentError) as raised:
        recorder.replayed()
    assert [f.pointer for f in raised.value.errors] == [f"/deltas/0/delta/objects/{n}/as"]
    assert detail in raised.value.detail
