"""An account's statement held as columns: its rows, its effective order (back-dated lines
too) and its rollback, against the same answers worked out the long way."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.ledger.models import EntryStatus, StatementLine
from gledger_sandbox.domain.ledger.money import Totals
from gledger_sandbox.domain.ledger.pages import Order, PageRequest
from gledger_sandbox.domain.ledger.store import LedgerStore
from tests.domain.helpers import START, C, D, chart, new_store, spec


def _books(seed: int) -> tuple[LedgerStore, str, dict[str, str]]:
    """Entries effective at random times around START (many back-dated, some at the same
    instant), some created pending and posted later."""
    rng = random.Random(seed)
    store = new_store()
    ledger, accounts = chart(store)
    pending = []
    for n in range(150):
        at = START + timedelta(hours=rng.choice([-50, -26, -3, 0, 0, 5]), seconds=rng.randint(0, 3))
        status = EntryStatus.PENDING if n % 7 == 0 else EntryStatus.POSTED
        amount = rng.randint(1, 900)
        made = postings.create_entry(
            store,
            spec(
                ledger,
                accounts,
                ("cash", D, amount),
                ("revenue", C, amount),
                effective_at=at,
                status=status,
            ),
        )
        if status is EntryStatus.PENDING:
            pending.append(made.id)
        if n % 11 == 0 and pending:
            postings.post_entry(store, pending.pop())
    return store, ledger, accounts


def _by_effective(rows: list[StatementLine]) -> list[StatementLine]:
    return sorted(rows, key=lambda row: (row.effective_at, row.seq))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_effective_reads_match_the_lines_sorted_the_long_way(seed: int) -> None:
    store, _ledger, accounts = _books(seed)
    rng = random.Random(seed)
    for code in ("cash", "revenue"):
        account = store.accounts[accounts[code]]
        rows = list(store.statements[account.id])
        assert [row.seq for row in rows] == sorted(row.seq for row in rows)
        assert rows[-1].balance_after == account.posted.signed(account.normal_balance)
        assert store.statements[account.id].late  # the books hold back-dated lines
        ordered = _by_effective(rows)
        for _ in range(60):
            start = START + timedelta(hours=rng.randint(-60, 10), seconds=rng.randint(0, 3))
            end = start + timedelta(hours=rng.randint(0, 40), seconds=rng.randint(0, 3))
            found = list(store.effective_between(account.id, start, end))
            assert found == [row for row in ordered if start <= row.effective_at < end]
            as_of = start
            counted = [row.line for row in rows if row.effective_at <= as_of]
            expected = Totals(
                sum(line.amount for line in counted if line.direction is D),
                sum(line.amount for line in counted if line.direction is C),
            )
            assert store.posted_as_of(account, as_of) == expected


def test_statement_pages_walk_the_rows_in_sequence_order() -> None:
    store, _ledger, accounts = _books(4)
    account_id = accounts["cash"]
    rows = list(store.statements[account_id])
    for order in Order:
        seen: list[StatementLine] = []
        cursor = None
        while True:
            page = store.list_statement(account_id, PageRequest(7, cursor, order))
            seen += page.items
            if not page.has_more:
                break
            cursor = page.next_cursor
        assert seen == (rows if order is Order.ASC else rows[::-1])


def test_a_refused_entry_leaves_no_line_behind_late_or_not() -> None:
    store, ledger, accounts = _books(5)
    cash = accounts["cash"]
    statement = store.statements[cash]
    before = (list(statement), list(statement.late), store.posted_lines)
    for at in (START - timedelta(days=9), START + timedelta(days=1)):
        with pytest.raises(LedgerError):  # the wallet may not go below zero
            postings.create_entry(
                store,
                spec(ledger, accounts, ("wallet", D, 10**6), ("cash", C, 10**6), effective_at=at),
            )
        assert (list(statement), list(statement.late), store.posted_lines) == before


def test_an_instant_keeps_its_microseconds() -> None:
    store = new_store()
    ledger, accounts = chart(store)
    last_moment = datetime(2026, 4, 30, 23, 59, 59, 999_999, START.tzinfo)
    instants = [START, last_moment, START]
    for at in instants:
        postings.create_entry(
            store, spec(ledger, accounts, ("cash", D, 1), ("revenue", C, 1), effective_at=at)
        )
    cash = store.accounts[accounts["cash"]]
    midnight = datetime(2026, 5, 1, tzinfo=START.tzinfo)
    assert store.posted_as_of(cash, midnight - timedelta(microseconds=1)).debits == 1
    assert store.posted_as_of(cash, midnight).debits == 1
    assert [row.effective_at for row in store.effective_between(cash.id, midnight, START)] == []
    found = store.effective_between(cash.id, last_moment, START + timedelta(microseconds=1))
    assert [row.effective_at for row in found] == [last_moment, START, START]
