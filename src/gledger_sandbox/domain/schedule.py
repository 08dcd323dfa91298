"""Ledger work the sandbox does later, on the tenant's clock.

Entries accepted asynchronously post when due; pending entries with an ``expires_at`` are voided
when it passes. Each runs as the request that asked for it (its events carry that request's ids).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.events import Cause, caused_by, current_cause
from gledger_sandbox.domain.models import Entry, EntryStatus, VoidReason
from gledger_sandbox.domain.postings import post_entry, void_entry
from gledger_sandbox.domain.store import LedgerStore


@dataclass(frozen=True, slots=True)
class DueWork:
    """What one run of the schedule did."""

    posted: list[Entry] = field(default_factory=list)
    expired: list[Entry] = field(default_factory=list)


class PostingSchedule:
    """Entries to post at a sandbox time, in due order; expiries live on the store."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: list[tuple[datetime, int, str, Cause]] = []

    def post_later(self, entry: Entry, delay: timedelta, now: datetime) -> None:
        heapq.heappush(self._due, (now + delay, entry.seq, entry.id, current_cause()))

    def next_due(self, store: LedgerStore) -> datetime | None:
        times = [self._due[0][0]] if self._due else []
        if store.expiring:
            times.append(store.expiring[0][0])
        return min(times, default=None)

    def run_due(self, store: LedgerStore, now: datetime) -> DueWork:
        """Post and expire what is due by ``now``, earliest first."""
        done = DueWork()
        while self._due and self._due[0][0] <= now:
            _, _, entry_id, cause = heapq.heappop(self._due)
            entry = store.entries.get(entry_id)
            if entry is None or entry.status is not EntryStatus.PENDING:
                continue  # voided (or changed) meanwhile: nothing to do
            try:
                with caused_by(cause):
                    done.posted.append(post_entry(store, entry_id))
            except LedgerError:
                continue  # a pending entry's funds are reserved, so this is not expected
        while store.expiring and store.expiring[0][0] <= now:
            expires_at, _, entry_id = heapq.heappop(store.expiring)
            entry = store.entries.get(entry_id)
            if entry is None or entry.status is not EntryStatus.PENDING:
                continue
            if entry.expires_at != expires_at:
                continue  # its expiry moved; a later row stands for it
            done.expired.append(void_entry(store, entry_id, VoidReason.EXPIRED))
        return done
