"""Finding entries: the list with every filter, walking the most selective index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gledger_sandbox.domain.ledger.models import Entry, EntryStatus
from gledger_sandbox.domain.ledger.pages import Page, PageRequest, paginate
from gledger_sandbox.domain.ledger.store import LedgerStore


def list_entries(
    store: LedgerStore,
    page: PageRequest,
    *,
    ledger_id: str | None = None,
    account_id: str | None = None,
    status: EntryStatus | None = None,
    source_type: str | None = None,
    source_id: str | None = None,
    external_id: str | None = None,
    effective_from: datetime | None = None,
    effective_to: datetime | None = None,
) -> Page[Entry]:
    """Walk the smallest index the filters name; the other filters are checked row by row."""
    candidates: list[tuple[Any, ...]] = [("entries",)]
    if ledger_id is not None:
        candidates.append(("entries", "ledger", ledger_id))
    if account_id is not None:
        candidates.append(("entries", "account", account_id))
    if status is not None:
        candidates.append(("entries", "status", status))
    if source_type is not None:
        candidates.append(("entries", "source_type", source_type))
        if source_id is not None:
            candidates.append(("entries", "source", source_type, source_id))
    if external_id is not None:
        candidates.append(("entries", "external_id", external_id))
    seqs = store.narrowest(candidates)

    def accept(e: Entry) -> bool:
        return (
            (ledger_id is None or e.ledger_id == ledger_id)
            and (status is None or e.status is status)
            and (source_type is None or e.source_type == source_type)
            and (source_id is None or e.source_id == source_id)
            and (external_id is None or e.external_id == external_id)
            and (effective_from is None or e.effective_at >= effective_from)
            and (effective_to is None or e.effective_at < effective_to)
            and (account_id is None or any(line.account_id == account_id for line in e.lines))
        )

    return paginate(seqs, store.fetch, page, accept)
