"""The event log: one event per change in the same unit of work, paged by cursor, retained."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import CursorExpired, InvalidRequest, MalformedInput
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger import batches, postings
from gledger_sandbox.domain.ledger.events import Cause, Retention, caused_by
from gledger_sandbox.domain.ledger.models import EntryStatus, VoidReason
from gledger_sandbox.domain.ledger.schedule import PostingSchedule
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.treasury.settlement_models import AccountRef, SettlementSpec
from gledger_sandbox.domain.treasury.settlements import Settlements
from tests.domain.helpers import START, C, D, chart, new_store, spec


def types_of(store: LedgerStore, after: int = 0) -> list[str]:
    return [e.type for e in store.events.page(after, None, 500).events]


def test_every_command_appends_its_event_with_a_snapshot_and_a_strictly_rising_sequence() -> None:
    store = new_store()
    ledger, acc = chart(store)
    assert types_of(store) == ["ledger.created"] + ["account.created"] * 6
    head = store.events.last_seq
    pending = postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 100), ("revenue", C, 100), status=EntryStatus.PENDING)
    )
    postings.update_entry(store, pending.id, {"description": "renamed"})
    postings.post_entry(store, pending.id)
    reversal = postings.reverse_entry(store, pending.id)
    other = postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 5), ("revenue", C, 5), status=EntryStatus.PENDING)
    )
    postings.void_entry(store, other.id)
    store.update_account(acc["cash"], {"name": "Till"})
    store.update_ledger(ledger, {"name": "Books 2"})
    events = store.events.page(head, None, 500).events
    assert [e.type for e in events] == [
        "entry.created",
        "entry.updated",
        "entry.posted",
        "entry.created",
        "entry.posted",
        "entry.reversed",
        "entry.created",
        "entry.voided",
        "account.updated",
        "ledger.updated",
    ]
    assert [e.seq for e in events] == list(range(head + 1, head + 11))
    # Each event holds the resource as it was then, not as it is now.
    created, updated, posted = events[0].data, events[1].data, events[2].data
    assert (created.status, created.description) == (EntryStatus.PENDING, None)
    assert (updated.status, updated.description) == (EntryStatus.PENDING, "renamed")
    assert posted.status is EntryStatus.POSTED
    assert events[3].data.id == reversal.id and events[3].data.links.reverses == pending.id
    assert events[4].data.id == reversal.id and events[4].data.status is EntryStatus.POSTED
    assert events[5].data.links.reversed_by == reversal.id


def test_an_entry_is_shared_with_its_events_until_it_changes_then_they_keep_a_copy() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(store, spec(ledger, acc, ("cash", D, 100), ("revenue", C, 100)))
    created, posted = store.events.page(store.events.last_seq - 2, None, 2).events
    assert created.data is entry and posted.data is entry  # no copy while nothing changed
    with pytest.raises(InvalidRequest), store.uow.atomic():
        postings.update_entry(store, entry.id, {"metadata": {"k": "v"}})
        raise InvalidRequest("test.refused", "Refused after the change.")
    assert entry.metadata == {} and created.data is not entry  # copied before the change
    assert created.data is posted.data and created.data.metadata == {}
    postings.update_entry(store, entry.id, {"metadata": {"k": "v"}})
    updated = store.events.page(store.events.last_seq - 1, None, 1).events[0]
    assert created.data.metadata == {} and created.data.version == 1
    assert updated.data is entry and entry.version == 2
    postings.update_entry(store, entry.id, {"metadata": {"k": "w"}})
    assert updated.data is not entry and updated.data.metadata == {"k": "v"}


def test_an_entry_whose_events_are_dropped_or_undone_holds_no_event() -> None:
    clock = SandboxClock(frozen_at=START)
    store = LedgerStore(IdGenerator(1), clock, retention=Retention(max_count=2))
    ledger, acc = chart(store)
    first = postings.create_entry(store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1)))
    assert first.live_event is not None
    second = postings.create_entry(store, spec(ledger, acc, ("cash", D, 2), ("revenue", C, 2)))
    assert first.live_event is None  # its two events left the log: nothing keeps them alive
    good = spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1))
    bad = spec(ledger, acc, ("cash", D, 1), ("revenue", C, 2))
    with pytest.raises(InvalidRequest):
        batches.create_atomic(store, list(enumerate([good, bad])))
    holders = []
    holder = store.events.at(second.live_event) if second.live_event else None
    while holder is not None:
        holders.append(holder.seq)
        holder = holder.next_holder
    assert holders == [store.events.last_seq - 1, store.events.last_seq]  # none undone


def test_an_event_dropped_from_the_log_still_shows_its_entry_as_it_was() -> None:
    """A delivery still due holds its event past the log's retention: the entry's next change
    must not show through it."""
    clock = SandboxClock(frozen_at=START)
    store = LedgerStore(IdGenerator(1), clock, retention=Retention(max_count=2))
    ledger, acc = chart(store)
    entry = postings.create_entry(store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1)))
    posted = store.events.page(store.events.last_seq - 1, None, 1).events[0]
    assert posted.data is entry
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 2), ("revenue", C, 2)))
    assert posted.seq <= store.events.dropped_through  # out of the log, held here only
    postings.update_entry(store, entry.id, {"metadata": {"k": "v"}})
    assert entry.metadata == {"k": "v"} and entry.version == 2
    assert posted.data is not entry
    assert (posted.data.metadata, posted.data.version, posted.data.id) == ({}, 1, entry.id)


def test_a_refused_command_or_failed_atomic_batch_leaves_no_event_and_no_gap() -> None:
    store = new_store()
    ledger, acc = chart(store)
    head = store.events.last_seq
    with pytest.raises(InvalidRequest):
        postings.create_entry(store, spec(ledger, acc, ("cash", D, 100), ("revenue", C, 99)))
    good = spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1))
    bad = spec(ledger, acc, ("cash", D, 1), ("revenue", C, 2))
    with pytest.raises(InvalidRequest):
        batches.create_atomic(store, list(enumerate([good, good, bad])))
    assert store.events.last_seq == head
    postings.create_entry(store, good)
    assert [e.seq for e in store.events.page(head, None, 10).events] == [head + 1, head + 2]


def test_every_way_an_entry_reaches_posted_emits_entry_posted_after_entry_created() -> None:
    store = new_store()
    ledger, acc = chart(store)
    head = store.events.last_seq
    sale = spec(ledger, acc, ("cash", D, 30), ("tax", C, 30))
    batched = batches.create_atomic(store, list(enumerate([sale, sale])))
    each = batches.create_each(store, [(0, sale)])
    settled = Settlements(store).create(
        SettlementSpec(ledger, AccountRef(account_code="tax"), AccountRef(account_code="cash"))
    )
    ((_, single),) = each
    assert not isinstance(single, Exception)
    entries = [*(e.id for e in batched), single.id, settled.entry_id]
    events = [(e.type, e.data.id) for e in store.events.page(head, None, 500).events]
    assert events == [
        *((kind, entry_id) for entry_id in entries for kind in ("entry.created", "entry.posted")),
        ("settlement.completed", settled.id),
    ]


def test_events_record_the_request_that_caused_them() -> None:
    store = new_store()
    with caused_by(Cause("req_1", "order-42")):
        store.create_ledger("Books", None, {})
    store.create_ledger("Seeded", None, {})
    first, second = store.events.page(0, None, 10).events
    assert first.cause == Cause("req_1", "order-42")
    assert second.cause == Cause(None, None)


def test_pages_filter_by_type_and_say_where_to_read_on() -> None:
    store = new_store()
    ledger, acc = chart(store)
    for amount in range(1, 6):
        postings.create_entry(store, spec(ledger, acc, ("cash", D, amount), ("revenue", C, amount)))
    page = store.events.page(0, ["entry.created", "ledger.created"], 3)
    assert [e.type for e in page.events] == ["ledger.created", "entry.created", "entry.created"]
    assert page.has_more
    rest = store.events.page(page.next_after, ["entry.created"], 10)
    assert [e.data.lines[0].amount for e in rest.events] == [3, 4, 5]
    assert not rest.has_more
    # The last entry's entry.posted follows its entry.created, outside the filter.
    tail = store.events.page(rest.next_after, None, 10)
    assert [(e.type, e.data.lines[0].amount) for e in tail.events] == [("entry.posted", 5)]
    empty = store.events.page(tail.next_after, None, 10)
    assert (empty.events, empty.has_more, empty.next_after) == ([], False, tail.next_after)
    with pytest.raises(MalformedInput) as ahead:
        store.events.page(store.events.last_seq + 1, None, 10)
    assert ahead.value.code == "events.cursor_out_of_range"


def test_retention_drops_the_oldest_and_refuses_cursors_before_them() -> None:
    clock = SandboxClock(frozen_at=START)
    store = LedgerStore(
        IdGenerator(1), clock, retention=Retention(max_age=timedelta(days=1), max_count=5)
    )
    for n in range(8):
        store.create_ledger(f"L{n}", None, {})
    assert len(store.events) == 5 and store.events.first_seq == 4
    assert [e.seq for e in store.events.page(3, None, 10).events] == [4, 5, 6, 7, 8]
    with pytest.raises(CursorExpired) as expired:
        store.events.page(2, None, 10)
    assert expired.value.code == "events.cursor_expired"
    assert expired.value.errors[0].pointer == "/query/after"
    clock.advance(2 * 86400)
    store.create_ledger("late", None, {})
    assert [e.seq for e in store.events.page(8, None, 10).events] == [9]
    assert store.events.first_seq == 9


def test_an_expiring_pending_entry_is_voided_when_its_time_comes() -> None:
    store = new_store()
    ledger, acc = chart(store)
    schedule = PostingSchedule()
    with pytest.raises(InvalidRequest):
        postings.create_entry(
            store,
            spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1), expires_at=START),
        )
    held = postings.create_entry(
        store,
        spec(
            ledger,
            acc,
            ("cash", D, 7),
            ("revenue", C, 7),
            status=EntryStatus.PENDING,
            expires_at=START + timedelta(hours=1),
        ),
    )
    assert schedule.next_due(store) == START + timedelta(hours=1)
    assert schedule.run_due(store, store.clock.now()).expired == []
    store.clock.advance(3600)
    done = schedule.run_due(store, store.clock.now())
    assert [e.id for e in done.expired] == [held.id]
    assert (held.status, held.void_reason) == (EntryStatus.VOIDED, VoidReason.EXPIRED)
    assert store.accounts[acc["cash"]].pending.debits == 0
    assert types_of(store)[-1] == "entry.voided"


def test_a_dropped_store_is_freed_by_reference_counting_alone() -> None:
    """Entries shared with their events hold a sequence, not the event: no reference cycle."""
    store = new_store()
    ledger, acc = chart(store)
    for amount in (1, 2, 3):
        entry = postings.create_entry(
            store, spec(ledger, acc, ("cash", D, amount), ("revenue", C, amount))
        )
    postings.update_entry(store, entry.id, {"metadata": {"k": "v"}})
    gc.collect()
    gc.disable()
    try:
        del store, entry
        assert gc.collect() == 0  # nothing was left for the cycle collector
    finally:
        gc.enable()
