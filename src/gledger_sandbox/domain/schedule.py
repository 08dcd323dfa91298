"""Ledger work the sandbox does later, on the tenant's clock.

Entries accepted asynchronously post when due; pending entries with an ``expires_at`` are voided
when it passes. Both run in due order, each as the request that asked for it (its events carry
that request's ids): the 202 that accepted the entry, or the write that set its expiry.
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
        """When the next live piece of work falls due (rows made stale meanwhile are dropped)."""
        while self._due and not _pending(store, self._due[0][2]):
            heapq.heappop(self._due)
        while store.expiring and not _still_expiring(store, store.expiring[0]):
            heapq.heappop(store.expiring)
        times = [heap[0][0] for heap in (self._due, store.expiring) if heap]
        return min(times, default=None)

    def run_due(self, store: LedgerStore, now: datetime) -> DueWork:
        """Post and expire what is due by ``now``, earliest first across both kinds."""
        done = DueWork()
        while (due := self.next_due(store)) is not None and due <= now:
            posting_first = bool(self._due) and (
                not store.expiring or self._due[0][:2] <= store.expiring[0][:2]
            )
            if posting_first:
                _, _, entry_id, cause = heapq.heappop(self._due)
                try:
                    with caused_by(cause):
                        done.posted.append(post_entry(store, entry_id))
                except LedgerError:
                    continue  # a pending entry's funds are reserved, so this is not expected
            else:
                _, _, entry_id, cause = heapq.heappop(store.expiring)
                with caused_by(cause):
                    done.expired.append(void_entry(store, entry_id, VoidReason.EXPIRED))
        return done


def _pending(store: LedgerStore, entry_id: str) -> bool:
    entry = store.entries.get(entry_id)
    return entry is not None and entry.status is EntryStatus.PENDING


def _still_expiring(store: LedgerStore, row: tuple[datetime, int, str, Cause]) -> bool:
    """A row stands while its entry is pending with that same expiry (a PATCH adds a new row)."""
    expires_at, _, entry_id, _ = row
    return _pending(store, entry_id) and store.entries[entry_id].expires_at == expires_at
