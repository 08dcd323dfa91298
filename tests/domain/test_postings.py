"""The ledger's invariants and status machine, on a real in-memory store."""

from __future__ import annotations

import pytest

from gledger_sandbox.domain.errors import Conflict, InsufficientFunds, InvalidRequest, NotFound
from gledger_sandbox.domain.ledger import batches, entry_queries, postings
from gledger_sandbox.domain.ledger.models import EntryStatus, LineSpec
from gledger_sandbox.domain.ledger.money import Totals
from gledger_sandbox.domain.ledger.pages import PageRequest
from tests.domain.helpers import C, D, chart, new_store, spec


def test_a_balanced_entry_posts_and_moves_both_balances() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 10800), ("revenue", C, 10000), ("tax", C, 800))
    )
    assert entry.status is EntryStatus.POSTED
    assert store.accounts[acc["cash"]].posted == Totals(10800, 0)
    assert (
        store.accounts[acc["revenue"]].posted.signed(store.accounts[acc["revenue"]].normal_balance)
        == 10000
    )
    assert store.accounts[acc["cash"]].lock_version == 1


def test_an_unbalanced_entry_is_refused_and_changes_nothing() -> None:
    store = new_store()
    ledger, acc = chart(store)
    before = (len(store.entries), store.accounts[acc["cash"]].posted, store.ids.state())
    with pytest.raises(InvalidRequest) as refused:
        postings.create_entry(store, spec(ledger, acc, ("cash", D, 100), ("revenue", C, 90)))
    assert refused.value.code == "validation.unbalanced_entry"
    assert (len(store.entries), store.accounts[acc["cash"]].posted, store.ids.state()) == before
    assert len(store.index(("entries",))) == 0


def test_balance_is_checked_per_currency() -> None:
    store = new_store()
    ledger, acc = chart(store)
    # 100 USD debit against 100 EUR credit: equal numbers, two unbalanced currencies.
    with pytest.raises(InvalidRequest) as refused:
        postings.create_entry(store, spec(ledger, acc, ("cash", D, 100), ("revenue_eur", C, 100)))
    assert [e.detail.split(":")[0] for e in refused.value.errors] == ["EUR", "USD"]
    both = postings.create_entry(
        store,
        spec(
            ledger,
            acc,
            ("cash", D, 100),
            ("revenue", C, 100),
            ("cash_eur", D, 5),
            ("revenue_eur", C, 5),
        ),
    )
    assert both.status is EntryStatus.POSTED


def test_every_offending_line_is_reported_with_its_pointer() -> None:
    store = new_store()
    ledger, acc = chart(store)
    bad = spec(ledger, acc, ("cash", D, 100), ("revenue", C, 100))
    bad = type(bad)(
        ledger,
        (
            LineSpec(D, 0, account_id=acc["cash"], currency="EUR"),
            LineSpec(C, 100, account_code="revenue"),
        ),
    )
    with pytest.raises(InvalidRequest) as refused:
        postings.create_entry(store, bad)
    assert {(e.pointer, e.code) for e in refused.value.errors} == {
        ("/lines/0/amount", "validation.invalid_value"),
        ("/lines/0/currency", "validation.currency_mismatch"),
    }


def test_accounts_must_exist_and_belong_to_the_entry_ledger() -> None:
    store = new_store()
    ledger, acc = chart(store)
    _other, other_acc = chart(store)
    with pytest.raises(NotFound) as missing:
        postings.create_entry(
            store,
            type(spec(ledger, acc))(
                ledger,
                (LineSpec(D, 1, account_id="acct_nope"), LineSpec(C, 1, account_id=acc["cash"])),
            ),
        )
    assert missing.value.errors[0].pointer == "/lines/0/account_id"
    with pytest.raises(InvalidRequest) as foreign:
        postings.create_entry(
            store,
            type(spec(ledger, acc))(
                ledger,
                (
                    LineSpec(D, 1, account_id=other_acc["cash"]),
                    LineSpec(C, 1, account_id=acc["cash"]),
                ),
            ),
        )
    assert foreign.value.code == "validation.account_not_in_ledger"


def test_external_id_is_unique_per_ledger_only() -> None:
    store = new_store()
    ledger, acc = chart(store)
    other, other_acc = chart(store)
    postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1), external_id="inv-1")
    )
    with pytest.raises(Conflict) as duplicate:
        postings.create_entry(
            store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1), external_id="inv-1")
        )
    assert duplicate.value.code == "duplicate_entry"
    postings.create_entry(
        store, spec(other, other_acc, ("cash", D, 1), ("revenue", C, 1), external_id="inv-1")
    )


def test_pending_entries_resolve_once() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 50), ("revenue", C, 50), status=EntryStatus.PENDING)
    )
    cash = store.accounts[acc["cash"]]
    assert cash.posted == Totals() and cash.pending_view == Totals(50, 0)
    postings.post_entry(store, entry.id)
    assert cash.posted == Totals(50, 0) and cash.pending == Totals()
    assert cash.lock_version == 2
    for action in (postings.post_entry, postings.void_entry):
        with pytest.raises(Conflict) as again:
            action(store, entry.id)
        assert again.value.code == "entry.invalid_transition"


def test_voiding_releases_pending_amounts() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 50), ("revenue", C, 50), status=EntryStatus.PENDING)
    )
    postings.void_entry(store, entry.id)
    assert store.accounts[acc["cash"]].pending == Totals()
    assert entry.status is EntryStatus.VOIDED and entry.voided_at is not None


def test_posted_entries_change_only_in_metadata() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(store, spec(ledger, acc, ("cash", D, 50), ("revenue", C, 50)))
    postings.update_entry(store, entry.id, {"metadata": {"note": "ok"}})
    assert entry.metadata == {"note": "ok"} and entry.version == 2
    with pytest.raises(Conflict) as frozen:
        postings.update_entry(store, entry.id, {"description": "changed", "metadata": {}})
    assert frozen.value.code == "entry.immutable"
    assert [e.pointer for e in frozen.value.errors] == ["/description"]
    assert entry.metadata == {"note": "ok"}


def test_pending_lines_can_be_replaced_and_balances_follow() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(
        store, spec(ledger, acc, ("cash", D, 50), ("revenue", C, 50), status=EntryStatus.PENDING)
    )
    new_lines = spec(ledger, acc, ("cash_eur", D, 7), ("revenue_eur", C, 7)).lines
    postings.update_entry(store, entry.id, {"lines": new_lines})
    assert store.accounts[acc["cash"]].pending == Totals()
    assert store.accounts[acc["cash_eur"]].pending == Totals(7, 0)
    page = entry_queries.list_entries(store, PageRequest(), account_id=acc["cash_eur"])
    assert [e.id for e in page.items] == [entry.id]
    assert entry_queries.list_entries(store, PageRequest(), account_id=acc["cash"]).items == []


def test_reversal_swaps_lines_links_both_ways_and_happens_once() -> None:
    store = new_store()
    ledger, acc = chart(store)
    entry = postings.create_entry(store, spec(ledger, acc, ("cash", D, 70), ("revenue", C, 70)))
    reversal = postings.reverse_entry(store, entry.id)
    assert [(l.direction, l.amount) for l in reversal.lines] == [(C, 70), (D, 70)]
    assert reversal.links.reverses == entry.id and entry.links.reversed_by == reversal.id
    assert store.accounts[acc["cash"]].posted.signed(D) == 0
    with pytest.raises(Conflict) as twice:
        postings.reverse_entry(store, entry.id)
    assert twice.value.code == "entry.already_reversed"


def test_an_account_flag_refuses_overdrafts_with_insufficient_funds() -> None:
    store = new_store()
    ledger, acc = chart(store)
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 100), ("wallet", C, 100)))
    with pytest.raises(InsufficientFunds) as short:
        postings.create_entry(store, spec(ledger, acc, ("wallet", D, 101), ("cash", C, 101)))
    assert short.value.code == "insufficient_funds" and short.value.errors[0].pointer == "/lines/0"
    wallet = store.accounts[acc["wallet"]]
    assert wallet.posted == Totals(0, 100) and wallet.lock_version == 1
    # A pending debit holds the funds: a second one cannot spend them again.
    postings.create_entry(
        store, spec(ledger, acc, ("wallet", D, 60), ("cash", C, 60), status=EntryStatus.PENDING)
    )
    with pytest.raises(InsufficientFunds):
        postings.create_entry(store, spec(ledger, acc, ("wallet", D, 60), ("cash", C, 60)))


def test_lock_version_on_a_line_guards_against_stale_reads() -> None:
    store = new_store()
    ledger, acc = chart(store)
    postings.create_entry(store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1)))
    lines = (
        LineSpec(D, 1, account_id=acc["cash"], lock_version=0),
        LineSpec(C, 1, account_id=acc["revenue"]),
    )
    with pytest.raises(Conflict) as stale:
        postings.create_entry(store, type(spec(ledger, acc))(ledger, lines))
    assert stale.value.code == "conflict.lock_version_mismatch"
    fresh = (
        LineSpec(D, 1, account_id=acc["cash"], lock_version=1),
        LineSpec(C, 1, account_id=acc["revenue"]),
    )
    postings.create_entry(store, type(spec(ledger, acc))(ledger, fresh))


def test_an_atomic_batch_is_all_or_nothing() -> None:
    store = new_store()
    ledger, acc = chart(store)
    good = spec(ledger, acc, ("cash", D, 5), ("revenue", C, 5))
    bad = spec(ledger, acc, ("cash", D, 5), ("revenue", C, 4))
    with pytest.raises(InvalidRequest) as refused:
        batches.create_atomic(store, [(0, good), (1, good), (2, bad)])
    assert refused.value.errors[0].pointer == "/entries/2/lines"
    assert store.entries == {} and store.accounts[acc["cash"]].posted == Totals()
    results = batches.create_each(store, [(0, good), (1, bad), (2, good)])
    assert [type(r).__name__ for _, r in results] == ["Entry", "InvalidRequest", "Entry"]
    assert store.accounts[acc["cash"]].posted == Totals(10, 0)


def test_balance_as_of_counts_only_lines_effective_by_then() -> None:
    from datetime import timedelta

    from tests.domain.helpers import START

    store = new_store()
    ledger, acc = chart(store)
    for days, amount in [(-3, 100), (-2, 20), (-1, 3)]:
        postings.create_entry(
            store,
            spec(
                ledger,
                acc,
                ("cash", D, amount),
                ("revenue", C, amount),
                effective_at=START + timedelta(days=days),
            ),
        )
    cash = store.accounts[acc["cash"]]
    assert store.posted_as_of(cash, START - timedelta(days=2)).signed(D) == 120
    assert store.posted_as_of(cash, START - timedelta(days=5)).signed(D) == 0
    assert store.posted_as_of(cash, START).signed(D) == 123


def test_the_same_seed_gives_the_same_ids() -> None:
    def run() -> list[str]:
        store = new_store(seed=42)
        ledger, acc = chart(store)
        e = postings.create_entry(store, spec(ledger, acc, ("cash", D, 1), ("revenue", C, 1)))
        return [ledger, *acc.values(), e.id, *(l.id for l in e.lines)]

    assert run() == run()
