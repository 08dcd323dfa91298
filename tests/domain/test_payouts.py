"""Payouts on a real store: the state machine the clock drives, and refusals that leave nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gledger_sandbox.domain.errors import Conflict, InsufficientFunds, InvalidRequest
from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.ledger.models import (
    AccountFlags,
    AccountKind,
    AccountSpec,
    AccountStatus,
    EntryStatus,
)
from gledger_sandbox.domain.ledger.schedule import PostingSchedule, Transition
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.treasury.payouts import FAILURES, Payouts
from gledger_sandbox.domain.treasury.settlement_models import AccountRef, PayoutSpec, PayoutStatus
from tests.domain.helpers import START, C, D, chart, new_store, spec


class Books:
    """A store with cash (holding 1,000,000), payouts_in_transit and bank, and its payouts."""

    def __init__(self) -> None:
        self.store: LedgerStore = new_store()
        self.ledger, self.acc = chart(self.store)
        for code in ("payouts_in_transit", "bank"):
            self.acc[code] = self.store.create_account(
                self.ledger, AccountSpec(code, code, AccountKind.ASSET, "USD")
            ).id
        postings.create_entry(
            self.store,
            spec(self.ledger, self.acc, ("cash", D, 1_000_000), ("revenue", C, 1_000_000)),
        )
        self.payouts = Payouts(self.store)
        self.schedule = PostingSchedule(self.payouts)

    def payout(self, amount: int, **extra: object) -> PayoutSpec:
        return PayoutSpec(self.ledger, amount, "USD", **extra)  # type: ignore[arg-type]

    def advance(self, **delta: float) -> list[Transition]:
        self.store.clock.advance(timedelta(**delta).total_seconds())
        return self.schedule.run_due(self.store, self.store.clock.now()).payouts

    def balances(self, code: str) -> tuple[int, int]:
        """(posted, available), signed."""
        account = self.store.accounts[self.acc[code]]
        return (
            account.posted.signed(account.normal_balance),
            account.available.signed(account.normal_balance),
        )

    def types(self) -> list[str]:
        return [e.type for e in self.store.events.page(0, None, 1000).events]


def test_a_payout_reserves_then_travels_then_arrives() -> None:
    books = Books()
    payout = books.payouts.create(books.payout(30_000))
    assert payout.status is PayoutStatus.PENDING
    assert books.balances("cash") == (1_000_000, 970_000)
    assert books.schedule.next_due(books.store) == START + timedelta(hours=1)
    assert books.advance(minutes=59) == []
    assert books.advance(minutes=1) == [Transition(payout.id, "in_transit")]
    assert payout.in_transit_at == START + timedelta(hours=1)
    assert books.balances("cash") == (970_000, 970_000)
    assert books.balances("payouts_in_transit") == (30_000, 30_000)
    assert books.advance(days=3) == [Transition(payout.id, "paid")]
    assert (payout.status, payout.paid_at) == (PayoutStatus.PAID, START + timedelta(days=2))
    assert books.balances("payouts_in_transit") == (0, 0)
    assert books.balances("bank") == (30_000, 30_000)
    arrival = books.store.entries[payout.entries.arrival or ""]
    assert (arrival.source_type, arrival.source_id) == ("payout", payout.id)
    assert books.types()[-7:] == [
        "entry.created",
        "payout.created",
        "entry.posted",
        "payout.in_transit",
        "entry.created",
        "entry.posted",
        "payout.paid",
    ]
    assert books.schedule.next_due(books.store) is None


@pytest.mark.parametrize("amount", sorted(FAILURES))
def test_a_magic_amount_fails_on_arrival_and_returns_the_funds(amount: int) -> None:
    books = Books()
    payout = books.payouts.create(books.payout(amount))
    assert [t.status for t in books.advance(days=2)] == ["in_transit", "failed"]
    assert (payout.status, payout.failure_code) == (PayoutStatus.FAILED, FAILURES[amount][0])
    assert books.balances("cash") == (1_000_000, 1_000_000)
    assert books.balances("payouts_in_transit") == (0, 0)
    transit = books.store.entries[payout.entries.transit]
    assert transit.links.reversed_by == payout.entries.returned
    assert books.types()[-4:] == [
        "entry.created",
        "entry.posted",
        "entry.reversed",
        "payout.failed",
    ]


def test_cancel_only_while_pending_and_the_reservation_is_released() -> None:
    books = Books()
    payout = books.payouts.create(books.payout(5_000))
    books.payouts.cancel(payout.id)
    assert payout.status is PayoutStatus.CANCELED
    assert books.store.entries[payout.entries.transit].status is EntryStatus.VOIDED
    assert books.balances("cash") == (1_000_000, 1_000_000)
    assert books.advance(days=3) == []  # nothing left to do for it
    later = books.payouts.create(books.payout(5_000))
    books.advance(hours=1)
    with pytest.raises(Conflict) as refused:
        books.payouts.cancel(later.id)
    assert refused.value.code == "payout.not_cancelable"


def test_the_entries_api_cannot_move_a_payouts_transit_entry_until_the_payout_ends() -> None:
    books = Books()
    payout = books.payouts.create(books.payout(5_000))
    transit = payout.entries.transit
    before = (books.store.ids.state(), books.store.events.last_seq)
    refusals = [
        lambda: postings.void_entry(books.store, transit),
        lambda: postings.post_entry(books.store, transit),
        lambda: postings.update_entry(books.store, transit, {"description": "mine now"}),
    ]
    for refused in refusals:
        with pytest.raises(Conflict) as owned:
            refused()
        assert owned.value.code == "entry.owned_by_payout"
        assert owned.value.errors[0].pointer == "/source_id"
    postings.update_entry(books.store, transit, {"metadata": {"note": "fine"}})  # metadata is free
    assert (books.store.ids.state(), books.store.events.last_seq - 1) == before
    books.advance(hours=1)
    with pytest.raises(Conflict) as in_transit:
        postings.reverse_entry(books.store, transit)
    assert in_transit.value.code == "entry.owned_by_payout"
    assert books.advance(days=2) == [Transition(payout.id, "paid")]
    # Once paid its entries are ordinary posted entries: a reversal corrects them.
    postings.reverse_entry(books.store, transit)
    assert books.balances("cash") == (1_000_000, 1_000_000)


def test_a_refused_return_fails_the_payout_with_the_funds_parked_in_transit() -> None:
    books = Books()
    payout = books.payouts.create(books.payout(400001))
    books.advance(hours=1)
    books.store.update_account(books.acc["cash"], {"status": AccountStatus.DISABLED})
    assert books.advance(days=2) == [Transition(payout.id, "failed")]
    assert (payout.status, payout.failure_code) == (PayoutStatus.FAILED, "account_closed")
    assert payout.entries.returned is None
    assert "stay in payouts_in_transit" in (payout.failure_message or "")
    assert books.balances("payouts_in_transit") == (400001, 400001)
    assert books.balances("cash") == (1_000_000 - 400001, 1_000_000 - 400001)
    assert books.types()[-1] == "payout.failed"
    assert books.schedule.next_due(books.store) is None
    # The payout has ended: its transit entry is the partner's to correct.
    books.store.update_account(books.acc["cash"], {"status": AccountStatus.ACTIVE})
    postings.reverse_entry(books.store, payout.entries.transit)
    assert books.balances("payouts_in_transit") == (0, 0)


def test_refusals_leave_nothing_behind() -> None:
    books = Books()
    before = (books.store.ids.state(), books.store.events.last_seq, len(books.store.entries))
    with pytest.raises(InsufficientFunds) as short:
        books.payouts.create(books.payout(1_000_001))
    assert short.value.errors[0].pointer == "/amount"
    with pytest.raises(InvalidRequest) as mismatch:
        books.payouts.create(PayoutSpec(books.ledger, 10, "EUR"))
    assert {e.code for e in mismatch.value.errors} == {"validation.currency_mismatch"}
    with pytest.raises(InvalidRequest) as twice:
        books.payouts.create(books.payout(10, destination=AccountRef(account_code="cash")))
    assert twice.value.code == "payout.same_account"
    after = (books.store.ids.state(), books.store.events.last_seq, len(books.store.entries))
    assert after == before
    assert (
        len(books.store.index(("payouts",))) == 0 and books.schedule.next_due(books.store) is None
    )


def test_history_plays_through_the_clock_from_a_past_time() -> None:
    books = Books()
    past = START - timedelta(days=5)
    payout = books.payouts.create(books.payout(1_000), at=past)
    books.schedule.run_due(books.store, START)
    assert (payout.status, payout.paid_at) == (PayoutStatus.PAID, past + timedelta(days=2))


def test_a_refused_step_is_undone_whole_and_the_payout_fails_with_the_funds_back() -> None:
    books = Books()
    no_debits = {"flags": AccountFlags(debits_must_not_exceed_credits=True)}
    stuck = books.payouts.create(books.payout(5_000))
    books.store.update_account(books.acc["payouts_in_transit"], no_debits)
    assert books.advance(hours=1) == [Transition(stuck.id, "failed")]
    assert (stuck.failure_code, stuck.in_transit_at) == ("could_not_process", None)
    transit = books.store.entries[stuck.entries.transit]
    assert (transit.status, transit.posted_at) == (EntryStatus.VOIDED, None)
    assert books.balances("payouts_in_transit") == (0, 0)
    assert books.balances("cash") == (1_000_000, 1_000_000)

    books.store.update_account(books.acc["payouts_in_transit"], {"flags": AccountFlags()})
    bounced = books.payouts.create(books.payout(7_000))
    books.advance(hours=1)
    books.store.update_account(books.acc["bank"], no_debits)
    assert books.advance(days=2) == [Transition(bounced.id, "failed")]
    assert bounced.failure_code == "could_not_process" and bounced.entries.arrival is None
    assert books.balances("bank") == (0, 0)
    assert books.balances("cash") == (1_000_000, 1_000_000)
