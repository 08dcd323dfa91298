"""An account's posted lines, held as columns: its statement's pages and its effective-time reads.

One object per posted line (a ``StatementLine`` with its own sequence and running balance ints)
cost about 150 bytes a line; a million two-line entries hold two million lines. The columns
hold a line in 34 bytes: its entry (a reference), its place in the entry's lines, its sequence,
the account's balance after it and its effective time (microseconds), each in an array. The
``StatementLine`` rows a read returns are built from them, O(1) each.

Effective order. Lines nearly always post in effective order (an entry is effective when it is
created unless it says otherwise, and the sandbox clock only moves forward), so the effective
times, in sequence order, are kept non-decreasing and bisected as they are. A line effective
before the latest one held (a back-dated entry) is *late*: its slot repeats the time before it
(the column stays sorted), its place is flagged, and its true time and sequence go into
``late``, a sorted list of ``micros << 64 | seq``. Reads in effective order merge the two.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from heapq import merge

from sortedcontainers import SortedList

from gledger_sandbox.domain.ledger.models import Entry, StatementLine
from gledger_sandbox.domain.unit_of_work import UnitOfWork

LATE = 0x8000
"""The flag on a late line's place (an entry has at most 500 lines: its place fits below)."""
_SEQ_BITS = 64
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
NEVER = 1 << 62
"""A time in microseconds after every datetime (the end of an open range)."""


def micros(moment: datetime) -> int:
    """An instant as microseconds since 0001-01-01 UTC: exact, and ordered as instants are."""
    return (moment - _EPOCH) // _MICROSECOND


class Statement:
    """One account's posted lines in sequence order, with their effective order alongside."""

    __slots__ = ("balances", "effective", "entries", "late", "places", "seqs")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.places = array("H")
        self.seqs = array("q")
        self.balances = array("q")
        self.effective = array("q")
        self.late = SortedList()

    def __len__(self) -> int:
        return len(self.seqs)

    def __iter__(self) -> Iterator[StatementLine]:
        return (self[position] for position in range(len(self)))

    def __getitem__(self, position: int) -> StatementLine:
        entry = self.entries[position]
        return StatementLine(
            seq=self.seqs[position],
            line=entry.lines[self.places[position] & ~LATE],
            entry=entry,
            effective_at=entry.effective_at,
            balance_after=self.balances[position],
        )

    def append(self, entry: Entry, place: int, seq: int, balance: int, uow: UnitOfWork) -> None:
        """Add a line of ``entry`` (``entry.lines[place]``), posted at ``seq``, to the end."""
        place, at, late = self.load(entry, place, seq, balance)
        uow.on_rollback(self._drop_last)
        if late is not None:
            uow.note("add", self.late, late)
        uow.note_adds(
            (
                (self.entries, entry),
                (self.places, place),
                (self.seqs, seq),
                (self.balances, balance),
                (self.effective, at),
            )
        )

    def load(self, entry: Entry, place: int, seq: int, balance: int) -> tuple[int, int, int | None]:
        """``append`` outside a unit of work (a statement rebuilt from an older document).

        Returns what the columns took: the place (flagged if late), the time, the late key."""
        at = micros(entry.effective_at)
        latest = self.effective[-1] if self.effective else at
        late = None
        if at < latest:
            late = at << _SEQ_BITS | seq
            self.late.add(late)
            at, place = latest, place | LATE
        self.entries.append(entry)
        self.places.append(place)
        self.seqs.append(seq)
        self.balances.append(balance)
        self.effective.append(at)
        return place, at, late

    def _drop_last(self) -> None:
        place, seq = self.places.pop(), self.seqs.pop()
        entry = self.entries.pop()
        self.balances.pop()
        self.effective.pop()
        if place & LATE:
            self.late.discard(micros(entry.effective_at) << _SEQ_BITS | seq)

    def position_of(self, seq: int) -> int:
        """Where the line of sequence ``seq`` is, or would be (the first line at or after it)."""
        return bisect_left(self.seqs, seq)

    def span(self, start: int, end: int) -> int:
        """About how many lines are effective in [start, end) (microseconds): late lines in
        the range are counted twice at most, so it only serves to choose the cheaper walk."""
        effective, late = self.effective, self.late
        in_order: int = bisect_left(effective, end) - bisect_left(effective, start)
        late_lines: int = late.bisect_left(end << _SEQ_BITS) - late.bisect_left(start << _SEQ_BITS)
        return in_order + late_lines

    def effective_between(self, start: int, end: int) -> Iterator[StatementLine]:
        """The lines effective in [start, end) (microseconds), in effective order, ties by
        sequence: O(log n) to find the start, then O(1) per line read (O(log n) if late)."""
        in_order = self._in_order(start, end)
        if not self.late:
            return (self[position] for _at, _seq, position in in_order)
        return (self[position] for _at, _seq, position in merge(in_order, self._late(start, end)))

    def _in_order(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        effective, places, seqs = self.effective, self.places, self.seqs
        first, last = bisect_left(effective, start), bisect_left(effective, end)
        for position in range(first, last):
            if not places[position] & LATE:
                yield effective[position], seqs[position], position

    def _late(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        keys = self.late.irange(start << _SEQ_BITS, end << _SEQ_BITS, inclusive=(True, False))
        for key in keys:
            seq = key & _SEQ_MASK
            yield key >> _SEQ_BITS, seq, self.position_of(seq)


NO_LINES = Statement()
"""The statement of an account nothing has posted to (never written: accounts get their own)."""
