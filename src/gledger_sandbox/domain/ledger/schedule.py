"""Ledger work the sandbox does later, on the tenant's clock, in due order across every kind.

Entries accepted asynchronously post when due; pending entries with an ``expires_at`` are voided
when it passes; scheduled settlements complete and payouts move on (their own modules keep
their queues and say what is due, as a ``DueSource``). Each piece of work runs as the request
that asked for it (its events carry that request's ids): the 202 that accepted the entry, the
write that set its expiry, the request that created the settlement or payout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.ledger.due import DueQueue, DueRow
from gledger_sandbox.domain.ledger.events import caused_by
from gledger_sandbox.domain.ledger.models import Entry, EntryStatus, VoidReason
from gledger_sandbox.domain.ledger.postings import post_entry, void_entry
from gledger_sandbox.domain.ledger.store import LedgerStore

DueKey = tuple[datetime, int]
"""When a piece of work is due, and its resource's sequence (ties run in creation order)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A resource the clock moved on, and the status it reached."""

    resource_id: str
    status: str


@dataclass(frozen=True, slots=True)
class DueWork:
    """What one run of the schedule did."""

    posted: list[Entry] = field(default_factory=list)
    expired: list[Entry] = field(default_factory=list)
    settlements: list[Transition] = field(default_factory=list)
    payouts: list[Transition] = field(default_factory=list)


class DueSource(Protocol):
    """Another kind of due work (settlements, payouts): what is due first, and running it."""

    def peek(self) -> DueKey | None:
        """The key of the earliest work still to do, if any."""

    def run_next(self, work: DueWork) -> None:
        """Do that work (after :meth:`peek`), recording it in ``work``."""


Runner = Callable[[DueWork], None]


class PostingSchedule:
    """The tenant's due work: asynchronous postings here, expiries on the store, and sources."""

    __slots__ = ("_due", "_sources")

    def __init__(self, *sources: DueSource) -> None:
        self._due = DueQueue()
        self._sources = sources

    def post_later(self, entry: Entry, delay: timedelta, now: datetime) -> None:
        self._due.push(now + delay, entry.seq, entry.id)

    def _kinds(self, store: LedgerStore) -> list[tuple[DueKey | None, Runner]]:
        """Each kind of work with the key of its earliest live piece."""

        def post_next(work: DueWork) -> None:
            row = self._due.pop()
            try:
                with caused_by(row.cause):
                    work.posted.append(post_entry(store, row.resource_id))
            except LedgerError:
                return  # a pending entry's funds are reserved, so this is not expected

        def expire_next(work: DueWork) -> None:
            row = store.expiring.pop()
            with caused_by(row.cause):
                work.expired.append(void_entry(store, row.resource_id, VoidReason.EXPIRED))

        return [
            (self._due.peek(lambda row: _pending(store, row.resource_id)), post_next),
            (store.expiring.peek(lambda row: _still_expiring(store, row)), expire_next),
            *((source.peek(), source.run_next) for source in self._sources),
        ]

    def next_due(self, store: LedgerStore) -> datetime | None:
        """When the next live piece of work falls due (rows made stale meanwhile are dropped)."""
        keys = [key for key, _ in self._kinds(store) if key is not None]
        return min(keys)[0] if keys else None

    def run_due(self, store: LedgerStore, now: datetime) -> DueWork:
        """Run what is due by ``now``, earliest first across every kind."""
        done = DueWork()
        while ready := [(k, run) for k, run in self._kinds(store) if k is not None and k[0] <= now]:
            min(ready, key=lambda kind: kind[0])[1](done)
        return done


def _pending(store: LedgerStore, entry_id: str) -> bool:
    entry = store.entries.get(entry_id)
    return entry is not None and entry.status is EntryStatus.PENDING


def _still_expiring(store: LedgerStore, row: DueRow) -> bool:
    """A row stands while its entry is pending with that same expiry (a PATCH adds a new row)."""
    return (
        _pending(store, row.resource_id) and store.entries[row.resource_id].expires_at == row.when
    )
