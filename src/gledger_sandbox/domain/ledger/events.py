"""The event log of a tenant: one append-only record of every change, behind every feed.

Each command appends its events inside its own unit of work, so a change and its event stand or
fall together; readers (the events API, the streams, the webhook worker) hear of new events only
after the commit. An event holds a snapshot of the resource as it was right after the change.

Sequences increase strictly for the life of a tenant, across resets too: a reset starts a new log
one past the old one's last sequence, so every cursor into the old log, its head included, reads
as expired, never as a position in the new one. A cursor of 0 reads from the oldest event held.
Retention (an age on the sandbox clock and a count) drops the oldest events; a cursor that
points before the retained ones is refused, never answered with a gap.
"""

from __future__ import annotations

import copy
import functools
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from heapq import merge
from itertools import islice
from typing import Any

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import CursorExpired, MalformedInput, NotFound
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.unit_of_work import UnitOfWork

LEDGER_CREATED = "ledger.created"
LEDGER_UPDATED = "ledger.updated"
ACCOUNT_CREATED = "account.created"
ACCOUNT_UPDATED = "account.updated"
ENTRY_CREATED = "entry.created"
ENTRY_UPDATED = "entry.updated"
ENTRY_POSTED = "entry.posted"
ENTRY_VOIDED = "entry.voided"
ENTRY_REVERSED = "entry.reversed"
SETTLEMENT_SCHEDULED = "settlement.scheduled"
SETTLEMENT_COMPLETED = "settlement.completed"
SETTLEMENT_FAILED = "settlement.failed"
PAYOUT_CREATED = "payout.created"
PAYOUT_IN_TRANSIT = "payout.in_transit"
PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"
PAYOUT_CANCELED = "payout.canceled"
RECONCILIATION_MATCHED = "reconciliation.matched"
RECONCILIATION_COMPLETED = "reconciliation.completed"

MAX_SEQUENCE = 2**63 - 1

EVENT_TYPES = (
    LEDGER_CREATED,
    LEDGER_UPDATED,
    ACCOUNT_CREATED,
    ACCOUNT_UPDATED,
    ENTRY_CREATED,
    ENTRY_UPDATED,
    ENTRY_POSTED,
    ENTRY_VOIDED,
    ENTRY_REVERSED,
    SETTLEMENT_SCHEDULED,
    SETTLEMENT_COMPLETED,
    SETTLEMENT_FAILED,
    PAYOUT_CREATED,
    PAYOUT_IN_TRANSIT,
    PAYOUT_PAID,
    PAYOUT_FAILED,
    PAYOUT_CANCELED,
    RECONCILIATION_MATCHED,
    RECONCILIATION_COMPLETED,
)


@dataclass(frozen=True, slots=True)
class Cause:
    """The request behind a change: our request id and the client's correlation id."""

    request_id: str | None = None
    correlation_id: str | None = None


NO_CAUSE = Cause()
_cause: ContextVar[Cause] = ContextVar("gledger_cause", default=NO_CAUSE)


def current_cause() -> Cause:
    return _cause.get()


@contextmanager
def caused_by(cause: Cause) -> Iterator[None]:
    """Record ``cause`` on the events appended inside the block (set per request by the api)."""
    token = _cause.set(cause)
    try:
        yield
    finally:
        _cause.reset(token)


@dataclass(slots=True)
class Event:
    id: str
    seq: int
    type: str
    created_at: datetime
    data: Any
    """A snapshot of the changed resource (a copy: later changes do not show through)."""
    cause: Cause
    wire: bytes | None = None
    """The event rendered once by the api and shared by every feed (an event never changes)."""
    next_holder: Event | None = None
    """The next event holding the same live resource as ``data`` (see ``EventLog.append``)."""


@dataclass(frozen=True, slots=True)
class Retention:
    max_age: timedelta = timedelta(days=30)
    max_count: int = 1_000_000

    def oldest_kept(self, now: datetime) -> datetime:
        """The earliest time still retained (clamped at the calendar's start)."""
        try:
            return now - self.max_age
        except OverflowError:
            return datetime.min.replace(tzinfo=now.tzinfo)


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    has_more: bool
    next_after: int
    """The sequence to read on from: the last event returned, or the cursor given."""


class EventLog:
    """Events in sequence order, with a per-type index; appends are O(1), pages O(limit)."""

    def __init__(
        self,
        ids: IdGenerator,
        clock: SandboxClock,
        uow: UnitOfWork,
        *,
        retention: Retention = Retention(),
        starts_after: int = 0,
        on_publish: Callable[[], None] | None = None,
    ) -> None:
        self._ids = ids
        self._clock = clock
        self._uow = uow
        # A weak reference: the unit of work must not keep the log alive (no cycle between them).
        uow.release_snapshot = functools.partial(_release, weakref.ref(self))
        self.retention = retention
        self._events: list[Event] = []
        self._start = 0  # index of the first retained event in _events
        self._by_type: dict[str, list[int]] = {}
        self._by_id: dict[str, Event] = {}
        self.dropped_through = starts_after
        """The sequence of the last event no longer held (the previous log's end, at first)."""
        self.last_seq = starts_after
        self._published = starts_after
        self._on_publish = on_publish
        self.gaps: list[tuple[int, int]] = []
        """Sequences (first, last) a snapshot restore took back: a cursor in one answers 410."""

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        event_type: str,
        resource: Any,
        *,
        like: Event | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Record a change inside the current unit of work; readers see it after the commit.

        ``like``: an event appended just before for the same resource, unchanged since (an
        entry created posted: ``entry.created`` then ``entry.posted``); the new event shares
        its snapshot and time instead of holding a copy of its own (an event never changes).
        ``at``: the time the change took, already read from the clock in this unit (one
        timestamp object shared with the resource, instead of one more per event).

        A resource with a ``live_event`` slot (an entry: a million of them, most never changed
        again) is not copied: the event holds the resource itself, and the unit of work has it
        copied just before the resource's first change (``_release``), so the event still
        shows it as it was. Only the few that change pay for a copy.
        """
        data = like.data if like else resource
        if data is not resource or not hasattr(type(resource), "live_event"):
            data = like.data if like else copy.copy(resource)
        event = Event(
            id=self._ids.new("evt"),
            seq=self.last_seq + 1,
            type=event_type,
            created_at=like.created_at if like else at or self._clock.now(),
            data=data,
            cause=_cause.get(),
        )
        if data is resource:
            _hold(self, resource, event)
        seqs = self._by_type.get(event_type)
        if seqs is None:
            seqs = []
            self._uow.put(self._by_type, event_type, seqs)  # undone after _drop_newest
        self._uow.on_rollback(self._drop_newest)
        self._events.append(event)
        seqs.append(event.seq)
        self._by_id[event.id] = event
        self.last_seq = event.seq
        self._uow.note_adds(((self._events, event), (seqs, event.seq)))
        self._uow.note("put", self._by_id, event.id, event)
        self._uow.note("set", self, "last_seq", event.seq)
        self._uow.after_commit(self._publish)
        return event

    def _drop_newest(self) -> None:
        event = self._events.pop()
        _unhold_newest(self, event)
        self._by_type[event.type].pop()
        del self._by_id[event.id]
        self.last_seq = event.seq - 1

    def _publish(self) -> None:
        self._published = self.last_seq
        self._uow.note("set", self, "_published", self._published)
        # Listeners first (webhooks take their deliveries now), then retention.
        if self._on_publish is not None:
            self._on_publish()
        self.trim()

    def trim(self) -> None:
        """Drop what retention no longer keeps: events too old on the sandbox clock, or too many."""
        oldest_kept = self.retention.oldest_kept(self._clock.now())
        over = len(self) - self.retention.max_count
        while self._start < len(self._events):
            event = self._events[self._start]
            if over <= 0 and event.created_at >= oldest_kept:
                break
            del self._by_id[event.id]
            _unhold_oldest(event)
            self.dropped_through = event.seq
            # Let go of it now, not at the next compaction: a full log holds up to twice its
            # retained count in dropped slots until then (2M events in a log kept at 1M).
            self._events[self._start] = _DROPPED
            self._uow.note("put", self._events, self._start, _DROPPED)
            self._start += 1
            over -= 1
            self._uow.note("pop", self._by_id, event.id)
            self._uow.note("set", self, "dropped_through", event.seq)
            self._uow.note("set", self, "_start", self._start)
        if self._start > 1024 and self._start * 2 > len(self._events):
            del self._events[: self._start]
            self._start = 0
            self._uow.note("touch", self._events)
            self._uow.note("set", self, "_start", 0)
            for seqs in self._by_type.values():
                del seqs[: bisect_right(seqs, self.dropped_through)]
                self._uow.note("touch", seqs)

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._events) - self._start

    @property
    def first_seq(self) -> int:
        """The sequence of the oldest event held (``last_seq + 1`` when none is)."""
        return self.dropped_through + 1

    def get(self, event_id: str) -> Event:
        found = self._by_id.get(event_id)
        if found is None or found.seq > self._published:
            raise NotFound("event", event_id)
        return found

    def seq_before(self, moment: datetime) -> int:
        """The sequence just before the first held event created at or after ``moment``."""
        held = self._events
        index = bisect_left(held, moment, lo=self._start, key=lambda e: e.created_at)
        return held[index - 1].seq if index > self._start else self.dropped_through

    def start(self, after: int) -> int:
        """The position to read after: 0 means from the oldest event held."""
        return self.dropped_through if after == 0 else after

    def check_cursor(self, after: int, pointer: str = "/query/after") -> None:
        """Refuse a cursor whose next events are no longer held, or that no event has reached."""
        if after < 0 or after > MAX_SEQUENCE:
            raise MalformedInput.at(
                pointer, "validation.invalid_cursor", "A cursor is an event sequence number."
            )
        if after < self.dropped_through:
            raise CursorExpired.at(
                pointer,
                "events.cursor_expired",
                f"Events after {after} are no longer retained: the oldest held is "
                f"{self.first_seq}. Read from {self.dropped_through} and reconcile any gap "
                "from the resources themselves.",
            )
        for first, last in self.gaps:
            if first <= after <= last:
                raise CursorExpired.at(
                    pointer,
                    "events.cursor_restored",
                    f"The tenant was restored to a snapshot taken at sequence {first - 1}: events "
                    f"{first} to {last} no longer exist. Read on from {first - 1} and reconcile "
                    "from the resources themselves.",
                )
        if after > self._published:
            raise MalformedInput.at(
                pointer,
                "events.cursor_out_of_range",
                f"No event has sequence {after}: the log ends at {self._published}. "
                "(A tenant reset starts a new log; read it from its first sequence.)",
            )

    def page(self, after: int, types: Iterable[str] | None, limit: int) -> EventPage:
        """Up to ``limit`` events after sequence ``after``, of ``types`` if given, in order."""
        after = self.start(after)
        self.check_cursor(after)
        wanted = self._seqs_after(after, types)
        found = [self._at(seq) for seq in islice(wanted, limit)]
        has_more = next(wanted, None) is not None
        return EventPage(found, has_more, found[-1].seq if found else after)

    def after(self, after: int, types: frozenset[str] | None, limit: int) -> list[Event]:
        """Like :meth:`page`, for a feed that already checked its cursor."""
        return [self._at(seq) for seq in islice(self._seqs_after(after, types), limit)]

    def restored_over(self, last_seq: int) -> None:
        """This log replaces one that reached ``last_seq`` (a restore): the sequences after this
        log's end up to there become a gap, and new events go on after it, never reusing one."""
        if last_seq > self.last_seq:
            self.gaps.append((self.last_seq + 1, last_seq))
            self.last_seq = self._published = last_seq

    def at(self, seq: int) -> Event:
        """The event of sequence ``seq``, held in the log (dropped ones are not)."""
        return self._at(seq)

    def _at(self, seq: int) -> Event:
        if not self.gaps:
            return self._events[self._start + seq - self.first_seq]
        return self._events[bisect_left(self._events, seq, lo=self._start, key=_seq_of)]

    def _seqs_after(self, after: int, types: Iterable[str] | None) -> Iterator[int]:
        after = max(after, self.dropped_through)
        end = self._published
        if types is None and self.gaps:
            start = bisect_right(self._events, after, lo=self._start, key=_seq_of)
            return (seq for seq in map(_seq_of, _from(self._events, start)) if seq <= end)
        if types is None:
            return iter(range(after + 1, end + 1))
        walks = []
        for event_type in set(types):
            seqs = self._by_type.get(event_type)
            if seqs:
                walks.append(_from(seqs, bisect_right(seqs, after)))
        return (seq for seq in merge(*walks) if seq <= end)


_DROPPED = Event("", 0, "", datetime.min.replace(tzinfo=UTC), None, NO_CAUSE)
"""What a dropped event's slot holds until the list is compacted (nothing reads it)."""


def _seq_of(event: Event) -> int:
    return event.seq


def _from(seqs: list[Any], start: int) -> Iterator[Any]:
    """The list from ``start`` on, without walking the part before it."""
    return (seqs[i] for i in range(start, len(seqs)))


# Copy on write: the events holding a live resource form a chain, from the oldest (its sequence
# is the resource's ``live_event``) through each one's ``next_holder``, in the order appended.


def detached(resource: Any) -> Any:
    """A copy of a live resource as it is now, held by no event chain (an event's snapshot)."""
    snapshot = copy.copy(resource)
    snapshot.live_event = None
    return snapshot


def _hold(log: EventLog, resource: Any, event: Event) -> None:
    if resource.live_event is None:
        resource.live_event = event.seq
        return
    holder = log.at(resource.live_event)
    while holder.next_holder is not None:
        holder = holder.next_holder
    holder.next_holder = event


def _release(log_ref: weakref.ref[EventLog], resource: Any) -> None:
    """Before ``resource`` changes: every event holding it gets one copy of it as it is now."""
    log = log_ref()
    snapshot = detached(resource)
    first, resource.live_event = resource.live_event, None
    holder = log.at(first) if log is not None else None
    while holder is not None:
        holder.data = snapshot
        holder.next_holder, holder = None, holder.next_holder


def _unhold_newest(log: EventLog, event: Event) -> None:
    """A rolled back append: its event, the chain's last if it holds a live resource, leaves."""
    first = getattr(event.data, "live_event", None)
    if first is None:
        return
    if first == event.seq:
        event.data.live_event = None
        return
    holder: Event | None = log.at(first)
    while holder is not None and holder.next_holder is not None:
        if holder.next_holder is event:
            holder.next_holder = None
        holder = holder.next_holder


def _unhold_oldest(event: Event) -> None:
    """A dropped event (retention), the chain's first if it holds a live resource, leaves.

    It takes a copy of the resource as it is: a delivery still due may hold the dropped event,
    and the resource's next change must not show through it (the log no longer copies on write
    for it)."""
    resource = event.data
    if getattr(resource, "live_event", None) == event.seq:
        following = event.next_holder
        resource.live_event = following.seq if following is not None else None
        event.data = detached(resource)
    event.next_holder = None
