"""Per-day posted totals and the reports on them, on a real in-memory store.

The day buckets are what every report sums, so they must count exactly the posted lines, on
the UTC day of their effective time, and a refused command or batch must leave them untouched.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from gledger_sandbox.domain.errors import InsufficientFunds, InvalidRequest, MalformedInput
from gledger_sandbox.domain.ledger import batches, postings, reports
from gledger_sandbox.domain.ledger.models import EntryStatus
from gledger_sandbox.domain.ledger.money import Totals
from gledger_sandbox.domain.ledger.reports import Category, Period
from gledger_sandbox.domain.ledger.store import LedgerStore
from tests.domain.helpers import START, C, D, chart, new_store, spec

MAY_2 = datetime(2026, 5, 2, tzinfo=UTC)


def days_of(store: LedgerStore, account_id: str) -> dict[date, Totals]:
    return dict(store.day_totals(account_id).between(date.min, date.max))


def test_lines_count_on_the_utc_day_of_their_effective_time() -> None:
    store = new_store()
    ledger, acc = chart(store)
    for moment, amount in [
        (MAY_2 - timedelta(seconds=1), 1),  # the last second of May 1st
        (MAY_2, 20),  # May 2nd's first instant
        (MAY_2 + timedelta(hours=23, minutes=59), 300),
        (datetime(2026, 5, 2, 23, 30, tzinfo=UTC) + timedelta(hours=1), 4000),  # May 3rd
    ]:
        postings.create_entry(
            store,
            spec(ledger, acc, ("cash", D, amount), ("revenue", C, amount), effective_at=moment),
        )
    assert days_of(store, acc["cash"]) == {
        date(2026, 5, 1): Totals(1, 0),
        date(2026, 5, 2): Totals(320, 0),
        date(2026, 5, 3): Totals(4000, 0),
    }
    assert days_of(store, acc["revenue"])[date(2026, 5, 2)] == Totals(0, 320)
    assert days_of(store, acc["tax"]) == {}


def test_only_posted_lines_count_and_a_reversal_counts_on_its_own_day() -> None:
    store = new_store()
    ledger, acc = chart(store)
    pending = postings.create_entry(
        store,
        spec(
            ledger,
            acc,
            ("cash", D, 50),
            ("revenue", C, 50),
            status=EntryStatus.PENDING,
            effective_at=MAY_2,
        ),
    )
    voided = postings.create_entry(
        store,
        spec(
            ledger,
            acc,
            ("cash", D, 7),
            ("revenue", C, 7),
            status=EntryStatus.PENDING,
            effective_at=MAY_2,
        ),
    )
    postings.void_entry(store, voided.id)
    assert days_of(store, acc["cash"]) == {}
    postings.post_entry(store, pending.id)
    assert days_of(store, acc["cash"]) == {date(2026, 5, 2): Totals(50, 0)}
    postings.reverse_entry(store, pending.id, effective_at=MAY_2 + timedelta(days=3))
    assert days_of(store, acc["cash"]) == {
        date(2026, 5, 2): Totals(50, 0),
        date(2026, 5, 5): Totals(0, 50),
    }


def test_a_refused_command_leaves_the_days_untouched() -> None:
    store = new_store()
    ledger, acc = chart(store)
    postings.create_entry(
        store, spec(ledger, acc, ("wallet", C, 10), ("cash", D, 10), effective_at=MAY_2)
    )
    before = {code: days_of(store, account_id) for code, account_id in acc.items()}
    # Posts (and so reaches the day buckets) before the wallet's flag refuses it.
    with pytest.raises(InsufficientFunds):
        postings.create_entry(
            store,
            spec(
                ledger,
                acc,
                ("wallet", D, 11),
                ("cash", C, 11),
                effective_at=MAY_2 + timedelta(days=1),
            ),
        )
    assert {code: days_of(store, account_id) for code, account_id in acc.items()} == before


def test_a_refused_atomic_batch_leaves_the_days_untouched() -> None:
    store = new_store()
    ledger, acc = chart(store)
    good = spec(ledger, acc, ("cash", D, 10), ("revenue", C, 10), effective_at=MAY_2)
    later = spec(
        ledger, acc, ("cash", D, 5), ("revenue", C, 5), effective_at=MAY_2 + timedelta(days=9)
    )
    bad = spec(ledger, acc, ("cash", D, 10), ("revenue", C, 9), effective_at=MAY_2)
    postings.create_entry(store, good)
    with pytest.raises(InvalidRequest):
        batches.create_atomic(store, [(0, good), (1, later), (2, bad)])
    assert days_of(store, acc["cash"]) == {date(2026, 5, 2): Totals(10, 0)}
    assert len(store.day_totals(acc["cash"])) == 1  # no empty day left behind


def test_balance_as_of_agrees_with_summing_the_lines() -> None:
    store = new_store()
    ledger, acc = chart(store)
    rng = random.Random(5)
    posted: list[tuple[datetime, int]] = []
    base = datetime(2026, 4, 1, tzinfo=UTC)
    for _ in range(300):
        moment = base + timedelta(minutes=rng.randrange(0, 40 * 24 * 60, 30))
        amount = rng.randint(1, 1000)
        debit = rng.random() < 0.7
        lines = (
            (("cash", D, amount), ("revenue", C, amount))
            if debit
            else (("revenue", D, amount), ("cash", C, amount))
        )
        postings.create_entry(store, spec(ledger, acc, *lines, effective_at=moment))
        posted.append((moment, amount if debit else -amount))
    cash = store.accounts[acc["cash"]]
    instants = [base - timedelta(days=1), base + timedelta(days=60)]
    instants += [moment for moment, _ in rng.sample(posted, 40)]  # exactly at a line: it counts
    instants += [base + timedelta(days=n) for n in range(0, 41, 3)]  # midnights
    instants += [moment - timedelta(microseconds=1) for moment, _ in rng.sample(posted, 20)]
    for as_of in instants:
        expected = sum(amount for moment, amount in posted if moment <= as_of)
        assert store.posted_as_of(cash, as_of).signed(D) == expected, as_of


def test_profit_and_loss_and_cash_flow_sum_the_days_of_the_period() -> None:
    store = new_store()
    ledger, acc = chart(store)
    for day, amount in [(0, 100), (1, 20), (2, 3)]:
        postings.create_entry(
            store,
            spec(
                ledger,
                acc,
                ("cash", D, amount + 1),
                ("revenue", C, amount),
                ("tax", C, 1),
                effective_at=MAY_2 + timedelta(days=day, hours=5),
            ),
        )
    period = Period(date(2026, 5, 2), date(2026, 5, 4))
    pnl = reports.profit_and_loss(store, ledger, period, "USD")
    assert (pnl.by_category[Category.REVENUE], pnl.by_category[Category.TAX], pnl.net) == (
        120,
        2,
        120,
    )
    assert [a.account.code for a in pnl.accounts] == ["revenue", "tax"]
    assert pnl.generated_at == START
    flow = reports.cash_flow(store, ledger, Period(date(2026, 5, 1), date(2026, 5, 5)), "USD")
    assert [(d.day.day, d.inflow, d.outflow) for d in flow.days] == [
        (1, 0, 0),
        (2, 101, 0),
        (3, 21, 0),
        (4, 4, 0),
    ]
    assert [a.account.code for a in flow.accounts] == ["cash"]  # cash_eur is EUR


def test_report_refusals() -> None:
    store = new_store()
    ledger, _acc = chart(store)
    backwards = Period(date(2026, 5, 2), date(2026, 5, 2))
    with pytest.raises(MalformedInput) as refused:
        reports.profit_and_loss(store, ledger, backwards, "USD")
    assert refused.value.code == "validation.invalid_range"
    assert [e.pointer for e in refused.value.errors] == ["/query/from", "/query/to"]
    with pytest.raises(MalformedInput) as refused:
        reports.cash_flow(store, ledger, Period(date(2024, 1, 1), date(2025, 1, 2)), "USD")
    assert refused.value.code == "validation.range_too_long"
    with pytest.raises(MalformedInput) as refused:
        reports.profit_and_loss(store, ledger, Period(date(2026, 5, 1), date(2026, 6, 1)), None)
    assert refused.value.code == "validation.currency_required"  # USD and EUR accounts
    with pytest.raises(MalformedInput) as refused:
        reports.trial_balance(store, ledger, None, "XXY")
    assert refused.value.code == "validation.unknown_currency"


def test_trial_balance_as_of_the_last_day_of_the_calendar() -> None:
    store = new_store()
    ledger, acc = chart(store)
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 9), ("revenue", C, 9)))
    end_of_time = datetime.max.replace(tzinfo=UTC)
    report = reports.trial_balance(store, ledger, end_of_time, "USD")
    assert [(t.currency, t.debits, t.credits, t.balanced) for t in report.totals] == [
        ("USD", 9, 9, True)
    ]
