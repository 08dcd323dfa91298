"""Cursor pages that neither skip nor repeat, and idempotency keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gledger_sandbox.domain.errors import IdempotencyError, MalformedInput
from gledger_sandbox.domain.ledger import entry_queries, postings
from gledger_sandbox.domain.ledger.pages import Order, PageRequest
from gledger_sandbox.domain.sandbox.idempotency import IdempotencyStore, StoredAnswer
from tests.domain.helpers import START, C, D, chart, new_store, spec


def _walk(store, order: Order, insert_every_page: bool, limit: int = 3) -> list[str]:  # type: ignore[no-untyped-def]
    ledger, acc = next(
        iter(
            [
                (l.id, {a.code: a.id for a in store.accounts.values()})
                for l in store.ledgers.values()
            ]
        )
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = entry_queries.list_entries(store, PageRequest(limit, cursor, order))
        seen += [e.id for e in page.items]
        if insert_every_page:
            postings.create_entry(store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1)))
        if not page.has_more:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("order", list(Order))
def test_pages_neither_skip_nor_repeat_under_inserts(order: Order) -> None:
    store = new_store()
    ledger, acc = chart(store)
    first = [
        postings.create_entry(store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1))).id
        for _ in range(10)
    ]
    seen = _walk(store, order, insert_every_page=True)
    assert len(seen) == len(set(seen))
    if order is Order.DESC:
        assert seen == first[::-1]  # inserts land before the first page: never shown twice
    else:
        assert seen[:10] == first and len(seen) > 10  # inserts land after: reached at the end


def test_a_sparse_filter_returns_short_pages_but_finds_every_row() -> None:
    store = new_store()
    ledger, acc = chart(store)
    wanted = []
    for i in range(2500):
        e = postings.create_entry(
            store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1), description=str(i))
        )
        if i % 1000 == 0:
            wanted.append(e.id)
    found, cursor, pages = [], None, 0
    start, end = START - timedelta(seconds=1), START + timedelta(seconds=1)
    while True:
        # The effective range matches every row here; the external filter below none but three.
        page = entry_queries.list_entries(
            store, PageRequest(50, cursor, Order.ASC), effective_from=start, effective_to=end
        )
        pages += 1
        found += [e.id for e in page.items if e.description in {"0", "1000", "2000"}]
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert found == wanted and pages == 50
    ids = {e.id for e in store.entries.values() if e.description == "1000"}
    page = entry_queries.list_entries(store, PageRequest(50, None, Order.ASC), effective_to=start)
    assert page.items == [] and page.has_more  # 2500 rows examined at most 1000 per page
    assert ids


def test_a_foreign_or_mismatched_cursor_is_refused() -> None:
    store = new_store()
    chart(store)
    page = store.list_ledgers(PageRequest(1, None, Order.ASC))
    assert not page.has_more
    for bad in ("garbage!", "djE6YXNjOjE"):  # the second is a valid asc cursor used with desc
        with pytest.raises(MalformedInput) as refused:
            store.list_ledgers(PageRequest(1, bad, Order.DESC))
        assert refused.value.errors[0].pointer == "/query/cursor"


def test_idempotency_replays_refuses_and_expires() -> None:
    keys = IdempotencyStore(retention=timedelta(hours=24))
    scope = ("createEntry", "k1")
    assert keys.begin(scope, "body-a", START) is None
    with pytest.raises(IdempotencyError) as in_flight:
        keys.begin(scope, "body-a", START)
    assert in_flight.value.code == "idempotency.key_in_use"
    keys.complete(scope, StoredAnswer(201, b"{}", "application/json"))
    assert keys.begin(scope, "body-a", START + timedelta(hours=23)) == StoredAnswer(
        201, b"{}", "application/json"
    )
    with pytest.raises(IdempotencyError) as reused:
        keys.begin(scope, "body-b", START)
    assert reused.value.code == "idempotency.key_reused"
    assert keys.begin(("createEntry", "other"), "x", START + timedelta(hours=24, seconds=1)) is None
    assert keys.begin(scope, "body-b", START + timedelta(hours=24, seconds=1)) is None  # expired
