"""Work the sandbox does later, on its own clock: entries accepted asynchronously post when due."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.models import Entry, EntryStatus
from gledger_sandbox.domain.postings import post_entry
from gledger_sandbox.domain.store import LedgerStore


class PostingSchedule:
    """Pending entries to post at a sandbox time, in due order."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: list[tuple[datetime, int, str]] = []

    def post_later(self, entry: Entry, delay: timedelta, now: datetime) -> None:
        heapq.heappush(self._due, (now + delay, entry.seq, entry.id))

    def next_due(self) -> datetime | None:
        return self._due[0][0] if self._due else None

    def run_due(self, store: LedgerStore, now: datetime) -> list[Entry]:
        """Post every entry now due that is still pending; returns those posted."""
        posted = []
        while self._due and self._due[0][0] <= now:
            _, _, entry_id = heapq.heappop(self._due)
            entry = store.entries.get(entry_id)
            if entry is None or entry.status is not EntryStatus.PENDING:
                continue  # voided (or changed) meanwhile: nothing to do
            try:
                posted.append(post_entry(store, entry_id))
            except LedgerError:
                continue  # a pending entry's funds are reserved, so this is not expected
        return posted
