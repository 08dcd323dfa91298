"""The matcher's passes, ranking and tie-breaks, and the runs' state, on real in-memory objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gledger_sandbox.domain.errors import InvalidRequest, NotFound
from gledger_sandbox.domain.ledger import events
from gledger_sandbox.domain.ledger.models import EntryStatus
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.pages import Order, PageRequest
from gledger_sandbox.domain.ledger.postings import create_entry
from gledger_sandbox.domain.treasury.reconciliation import (
    ExternalRecord,
    ItemStatus,
    LedgerLine,
    MatchItem,
    MatchRule,
    ReferenceRule,
    Rules,
    match,
)
from gledger_sandbox.domain.treasury.reconciliation_runs import (
    Reconciliations,
    ReconciliationSpec,
    Window,
)
from tests.domain.helpers import START, C, D, chart, new_store, spec

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def record(
    rid: str, amount: int, day: int = 0, reference: str | None = None, direction: Direction = D
) -> ExternalRecord:
    return ExternalRecord(rid, amount, direction, "USD", DAY + timedelta(days=day), True, reference)


def line(
    name: str,
    amount: int,
    day: int = 0,
    external_id: str | None = None,
    source_id: str | None = None,
    direction: Direction = D,
) -> LedgerLine:
    moment = DAY + timedelta(days=day, hours=10)
    return LedgerLine(
        f"ent_{name}", f"line_{name}", amount, direction, moment, external_id, source_id
    )


def pairs(items: list[MatchItem]) -> list[tuple[list[str], list[str], MatchRule | None]]:
    """Each item as (record ids, line names, rule)."""
    return [
        (
            [r.id for r in item.records],
            [ln.line_id.removeprefix("line_") for ln in item.ledger_lines],
            item.rule,
        )
        for item in items
    ]


def test_the_smallest_amount_difference_wins_over_the_closest_date() -> None:
    lines = [line("near_day", 1020, 0), line("near_amount", 1005, 2)]
    items = match([record("r", 1000)], lines, Rules(amount_tolerance=50))
    assert pairs(items)[0] == (["r"], ["near_amount"], MatchRule.AMOUNT_AND_DATE)
    assert (items[0].amount_difference, items[0].date_difference_days) == (-5, 2)


def test_then_the_closest_date_then_ledger_order() -> None:
    by_date = match([record("r", 1000)], [line("far", 1000, -3), line("close", 1000, 1)], Rules())
    assert pairs(by_date)[0][1] == ["close"]
    # Same amount and the same distance on either side: the earlier line in ledger order.
    tied = match([record("r", 1000)], [line("before", 1000, -1), line("after", 1000, 1)], Rules())
    assert pairs(tied)[0][1] == ["before"]
    assert tied[0].date_difference_days == -1


def test_greedy_in_record_order_within_a_pass() -> None:
    lines = [line("a", 1000, 0), line("b", 1000, 2)]
    items = match([record("first", 1000, 1), record("second", 1000, 0)], lines, Rules())
    # first takes a (closer by ledger order at equal distance), second gets b.
    assert pairs(items)[:2] == [
        (["first"], ["a"], MatchRule.AMOUNT_AND_DATE),
        (["second"], ["b"], MatchRule.AMOUNT_AND_DATE),
    ]


def test_a_reference_match_is_never_taken_by_an_earlier_amount_only_match() -> None:
    lines = [line("named", 1000, 0, external_id="inv-9"), line("other", 1000, 1)]
    records = [record("no_ref", 1000), record("with_ref", 1000, reference="inv-9")]
    assert pairs(match(records, lines, Rules())) == [
        (["no_ref"], ["other"], MatchRule.AMOUNT_AND_DATE),
        (["with_ref"], ["named"], MatchRule.REFERENCE),
    ]


def test_references_are_the_entry_external_id_source_id_and_id() -> None:
    lines = [line("x", 10, external_id="ext"), line("y", 20, source_id="src"), line("z", 30)]
    records = [record("a", 10, reference="ext"), record("b", 20, reference="src")]
    records.append(record("c", 30, reference="ent_z"))
    rules = Rules(match_reference=ReferenceRule.REQUIRED)
    assert [p[1:] for p in pairs(match(records, lines, rules))] == [
        (["x"], MatchRule.REFERENCE),
        (["y"], MatchRule.REFERENCE),
        (["z"], MatchRule.REFERENCE),
    ]


def test_reference_rules_required_and_ignored() -> None:
    lines = [line("named", 1000, external_id="inv-1")]
    no_ref = [record("r", 1000)]
    required = match(no_ref, lines, Rules(match_reference=ReferenceRule.REQUIRED))
    assert [i.status for i in required] == [
        ItemStatus.UNMATCHED_RECORD,
        ItemStatus.UNMATCHED_LEDGER_LINE,
    ]
    ignored = match(
        [record("r", 1000, reference="inv-1")],
        lines,
        Rules(match_reference=ReferenceRule.IGNORED),
    )
    assert pairs(ignored) == [(["r"], ["named"], MatchRule.AMOUNT_AND_DATE)]


def test_one_record_matches_a_group_of_lines_sharing_its_reference() -> None:
    lines = [
        line("p1", 1200, -1, external_id="po_1", source_id="batch"),
        line("p2", 800, 0, external_id="po_2", source_id="batch"),
        line("unrelated", 2000, 0),
    ]
    deposit = [record("d", 2000, reference="batch")]
    items = match(deposit, lines, Rules())
    assert pairs(items) == [
        (["d"], ["p1", "p2"], MatchRule.REFERENCE_GROUP),
        ([], ["unrelated"], None),
    ]
    assert (items[0].amount_difference, items[0].date_difference_days) == (0, -1)
    # Without one_to_many the deposit falls back to the unrelated line of the same amount.
    single = match(deposit, lines, Rules(one_to_many=False))
    assert pairs(single)[0] == (["d"], ["unrelated"], MatchRule.AMOUNT_AND_DATE)
    # A group whose sum is off by more than the tolerance is no match.
    short = match([record("d", 2100, reference="batch")], lines[:2], Rules(amount_tolerance=99))
    assert short[0].status is ItemStatus.UNMATCHED_RECORD


def test_direction_and_date_window_bound_every_match() -> None:
    lines = [line("out", 500, 0, direction=C), line("late", 500, 4)]
    items = match([record("in", 500)], lines, Rules())
    assert [i.status for i in items] == [
        ItemStatus.UNMATCHED_RECORD,
        ItemStatus.UNMATCHED_LEDGER_LINE,
        ItemStatus.UNMATCHED_LEDGER_LINE,
    ]
    wider = match([record("in", 500)], lines, Rules(date_window_days=4))
    assert pairs(wider)[0] == (["in"], ["late"], MatchRule.AMOUNT_AND_DATE)


# -- runs on a real store ---------------------------------------------------------------------


def _books() -> tuple[Reconciliations, str, dict[str, str], list[str]]:
    store = new_store()
    ledger_id, accounts = chart(store)
    entry_ids = []
    for amount, days, status in [(100, 0, "posted"), (200, 1, "posted"), (300, 1, "pending")]:
        entry = create_entry(
            store,
            spec(
                ledger_id,
                accounts,
                ("cash", D, amount),
                ("revenue", C, amount),
                effective_at=START + timedelta(days=days),
                external_id=f"e-{amount}",
                status=EntryStatus(status),
            ),
        )
        entry_ids.append(entry.id)
    return Reconciliations(store), ledger_id, accounts, entry_ids


def _statement(ledger_id: str, dry_run: bool = False) -> ReconciliationSpec:
    records = tuple(
        ExternalRecord(f"s{n}", amount, D, None, START + timedelta(days=days), False, ref)
        for n, (amount, days, ref) in enumerate([(100, 0, "e-100"), (200, 1, None), (300, 1, None)])
    )
    return ReconciliationSpec(ledger_id, records, account_code="cash", dry_run=dry_run)


def test_a_stored_run_marks_its_lines_and_emits_its_events_in_one_unit() -> None:
    runs, ledger_id, _, _ = _books()
    store = runs.store
    head = store.events.last_seq
    found, items = runs.run(_statement(ledger_id))
    assert found.summary.matched_records == 2 and found.summary.ledger_lines == 2
    assert [e.type for e in store.events.after(head, None, 10)] == [
        events.RECONCILIATION_MATCHED,
        events.RECONCILIATION_MATCHED,
        events.RECONCILIATION_COMPLETED,
    ]
    assert found.id is not None and runs.get(found.id) is found
    page = runs.list_items(found.id, PageRequest(limit=1, order=Order.ASC), ItemStatus.MATCHED)
    assert page.items == [items[0]] and page.has_more
    again, _ = runs.run(_statement(ledger_id))
    assert again.summary.ledger_lines == 0  # both lines reconciled by the first run


def test_a_dry_run_draws_no_id_and_leaves_no_trace() -> None:
    runs, ledger_id, _, _ = _books()
    store = runs.store
    before = (store.ids.state(), store.events.last_seq)
    found, items = runs.run(_statement(ledger_id, dry_run=True))
    assert found.id is None and all(item.id is None for item in items)
    assert found.summary.matched_records == 2
    assert (store.ids.state(), store.events.last_seq) == before
    assert runs.runs == {}
    stored, _ = runs.run(_statement(ledger_id))  # the dry run marked nothing reconciled
    assert stored.summary.matched_records == 2


def test_a_refused_run_rolls_back_completely_and_the_window_is_capped() -> None:
    runs, ledger_id, _, _ = _books()
    capped = Reconciliations(runs.store, max_window_lines=1)
    ids_before, seq_before = runs.store.ids.state(), runs.store.events.last_seq
    with pytest.raises(InvalidRequest) as refused:
        capped.run(_statement(ledger_id))
    assert refused.value.code == "reconciliation.too_many_lines"
    assert refused.value.errors[0].pointer == "/records"
    window = Window(START + timedelta(days=1), START + timedelta(days=2))
    narrow = ReconciliationSpec(
        ledger_id, _statement(ledger_id).records[1:2], account_code="cash", window=window
    )
    found, items = capped.run(narrow)  # one line in the explicit window: under the cap
    assert [i.status for i in items] == [ItemStatus.MATCHED]
    assert found.window == window
    assert runs.store.ids.state() > ids_before and runs.store.events.last_seq > seq_before


def test_effective_between_reads_only_the_window() -> None:
    runs, _, accounts, entry_ids = _books()
    inside = runs.store.effective_between(
        accounts["cash"], START + timedelta(days=1), START + timedelta(days=2)
    )
    assert [posted.entry_id for posted in inside] == [entry_ids[1]]  # the pending one has no line
    assert list(runs.store.effective_between(accounts["cash"], START, START)) == []


def test_a_tenant_keeps_its_latest_runs_within_both_bounds_oldest_forgotten_first() -> None:
    runs, ledger_id, _, _ = _books()
    kept = Reconciliations(runs.store, kept_runs=2, kept_items=7)
    made = [kept.run(_statement(ledger_id)) for _ in range(3)]
    first, second, third = (found.id or "" for found, _ in made)
    assert [len(items) for _, items in made] == [3, 3, 3]
    with pytest.raises(NotFound):
        kept.get(first)  # three runs, two kept
    with pytest.raises(NotFound):
        kept.list_items(first, PageRequest(limit=10))
    assert list(kept.runs) == [second, third]
    big = ReconciliationSpec(
        ledger_id,
        tuple(ExternalRecord(f"x{n}", 1, D, None, START, False) for n in range(6)),
        account_code="cash",
    )
    newest, items = kept.run(big)  # 6 items: over the item bound alone, yet the newest stays
    assert list(kept.runs) == [newest.id]
    assert len(kept.list_items(newest.id or "", PageRequest(limit=10)).items) == len(items) == 6
    again, _ = kept.run(_statement(ledger_id))  # the forgotten runs' lines stay reconciled
    assert again.summary.ledger_lines == 0
