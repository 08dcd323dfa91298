"""Settlements on a real store: amounts as of a time, scheduling, and every refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gledger_sandbox.domain.errors import InsufficientFunds, InvalidRequest, NotFound
from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.pages import PageRequest
from gledger_sandbox.domain.ledger.schedule import PostingSchedule, Transition
from gledger_sandbox.domain.treasury.settlement_models import (
    AccountRef,
    SettlementSpec,
    SettlementStatus,
)
from gledger_sandbox.domain.treasury.settlements import Settlements
from tests.domain.helpers import START, C, D, chart, new_store, spec

HOUR = timedelta(hours=1)


def setup() -> tuple[Settlements, PostingSchedule, str, dict[str, str]]:
    store = new_store()
    ledger, acc = chart(store)
    settlements = Settlements(store)
    return settlements, PostingSchedule(settlements), ledger, acc


def tax_into_cash(ledger: str, **extra: object) -> SettlementSpec:
    return SettlementSpec(
        ledger,
        AccountRef(account_code="tax"),
        AccountRef(account_code="cash"),
        **extra,  # type: ignore[arg-type]
    )


def test_the_balance_as_of_up_to_moves_into_the_contra() -> None:
    settlements, _, ledger, acc = setup()
    store = settlements._store
    for hours, tax in [(-3, 800), (-2, 200), (1, 50)]:
        postings.create_entry(
            store,
            spec(
                ledger,
                acc,
                ("cash", D, tax),
                ("tax", C, tax),
                effective_at=START + hours * HOUR,
            ),
        )
    done = settlements.create(tax_into_cash(ledger, up_to=START - HOUR))
    assert (done.status, done.amount, done.direction) == (
        SettlementStatus.COMPLETED,
        1000,
        Direction.DEBIT,
    )
    entry = store.entries[done.entry_id or ""]
    assert (entry.source_type, entry.source_id, entry.effective_at) == (
        "settlement",
        done.id,
        START - HOUR,
    )
    tax = store.accounts[acc["tax"]]
    assert tax.posted.signed(tax.normal_balance) == 50  # the later line stays
    assert store.events.page(0, ["settlement.completed"], 10).events[0].data.status == "completed"
    # Settled up to an hour ago: the same instant has nothing left, an earlier one is refused.
    with pytest.raises(InvalidRequest) as nothing:
        settlements.create(tax_into_cash(ledger, up_to=START - HOUR))
    assert nothing.value.code == "settlement.nothing_to_settle"
    with pytest.raises(InvalidRequest) as earlier:
        settlements.create(tax_into_cash(ledger, up_to=START - 2 * HOUR))
    assert earlier.value.code == "settlement.out_of_order"


def test_a_negative_balance_is_settled_the_other_way() -> None:
    settlements, _, ledger, acc = setup()
    postings.create_entry(settlements._store, spec(ledger, acc, ("tax", D, 300), ("cash", C, 300)))
    done = settlements.create(tax_into_cash(ledger))
    assert (done.amount, done.direction) == (300, Direction.CREDIT)


def test_a_future_up_to_is_scheduled_and_completes_or_fails_on_the_clock() -> None:
    settlements, schedule, ledger, acc = setup()
    store = settlements._store
    later = settlements.create(tax_into_cash(ledger, up_to=START + HOUR))
    empty = settlements.create(
        SettlementSpec(
            ledger,
            AccountRef(account_code="revenue_eur"),
            AccountRef(account_code="cash_eur"),
            up_to=START + 2 * HOUR,
        )
    )
    assert later.status is SettlementStatus.SCHEDULED and later.amount is None
    assert schedule.next_due(store) == START + HOUR
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 70), ("tax", C, 70)))
    store.clock.advance(3 * 3600)
    work = schedule.run_due(store, store.clock.now())
    assert work.settlements == [
        Transition(later.id, "completed"),
        Transition(empty.id, "failed"),
    ]
    assert (later.amount, later.completed_at) == (70, START + HOUR)
    assert (empty.failure_code, empty.failed_at) == ("nothing_to_settle", START + 2 * HOUR)
    types = [e.type for e in store.events.page(0, None, 100).events]
    assert types.count("settlement.scheduled") == 2 and types[-1] == "settlement.failed"
    page = settlements.list(PageRequest(), account_id=acc["cash"])
    assert [s.id for s in page.items] == [later.id]
    assert [
        s.id for s in settlements.list(PageRequest(), status=SettlementStatus.FAILED).items
    ] == [empty.id]


def test_refusals_leave_nothing_behind() -> None:
    settlements, _, ledger, acc = setup()
    store = settlements._store
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 500), ("wallet", C, 500)))
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 900), ("revenue", C, 900)))
    before = (store.ids.state(), store.events.last_seq, len(store.entries))
    cases = [
        (tax_into_cash(ledger), InvalidRequest, "settlement.nothing_to_settle"),
        (
            SettlementSpec(ledger, AccountRef(account_code="cash"), AccountRef(acc["cash"])),
            InvalidRequest,
            "settlement.same_account",
        ),
        (
            SettlementSpec(ledger, AccountRef(account_code="cash"), AccountRef(None, "cash_eur")),
            InvalidRequest,
            "settlement.currency_mismatch",
        ),
        (
            SettlementSpec(ledger, AccountRef(), AccountRef(account_code="tax")),
            InvalidRequest,
            "validation.required_field_missing",
        ),
        (
            SettlementSpec(ledger, AccountRef(account_code="nope"), AccountRef(None, "cash")),
            NotFound,
            "not_found",
        ),
        # Settling cash (1400) debits the wallet contra (500): it may not go below zero.
        (
            SettlementSpec(
                ledger, AccountRef(account_code="cash"), AccountRef(account_code="wallet")
            ),
            InsufficientFunds,
            "insufficient_funds",
        ),
    ]
    for case, kind, code in cases:
        with pytest.raises(kind) as refused:
            settlements.create(case)
        assert refused.value.code == code
    with pytest.raises(InsufficientFunds) as wallet:
        settlements.create(cases[-1][0])
    assert [e.pointer for e in wallet.value.errors] == ["/contra_account_id"]
    assert (store.ids.state(), store.events.last_seq, len(store.entries)) == before
    assert len(store.index(("settlements",))) == 0
