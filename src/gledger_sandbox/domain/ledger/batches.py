"""Batch posting: many entries in one call, all or nothing, or each on its own."""

from __future__ import annotations

from gledger_sandbox.domain.errors import BatchRefused, LedgerError
from gledger_sandbox.domain.ledger.models import Entry, EntrySpec
from gledger_sandbox.domain.ledger.postings import create_entry
from gledger_sandbox.domain.ledger.store import LedgerStore


def create_atomic(store: LedgerStore, specs: list[tuple[int, EntrySpec]]) -> list[Entry]:
    """Create every entry or none; the error of the first failing item points into it."""
    with store.uow.atomic():
        created = []
        for index, spec in specs:
            try:
                created.append(create_entry(store, spec))
            except LedgerError as error:
                raise refuse_batch(error, index) from error
        return created


def refuse_batch(error: LedgerError, index: int) -> BatchRefused:
    """The refusal of a whole atomic batch: the item's code and pointers, under its index."""
    moved = error.under(f"/entries/{index}")
    return BatchRefused(moved.code, f"Item {index} was refused: {moved.detail}", moved.errors)


def create_each(
    store: LedgerStore, specs: list[tuple[int, EntrySpec]]
) -> list[tuple[int, Entry | LedgerError]]:
    """Create each entry on its own; one item's failure leaves the others standing."""
    results: list[tuple[int, Entry | LedgerError]] = []
    for index, spec in specs:
        try:
            results.append((index, create_entry(store, spec)))
        except LedgerError as error:
            results.append((index, error))
    return results
