"""Matching external records (bank statement lines) against an account's posted lines: pure.

Nothing here reads or changes a store: :func:`match` takes the two sides and the rules and
returns the result items, so a dry run and a stored run compute exactly the same thing.

The passes, strongest evidence first, each greedy in record order (deviation from a single
greedy pass: a record matched on amount alone must never take a line that a later record names
by its reference):

1. ``reference``: a record and one line whose references agree (the line's entry
   ``external_id``, ``source_id`` or ``id``), same direction, amount within the tolerance, date
   within the window. Skipped when references are ``ignored``.
2. ``reference_group`` (``one_to_many``): one record and every still-unmatched line (two or
   more) carrying its reference, same direction, dates within the window, whose amounts sum to
   the record's within the tolerance: a bank deposit that batches several payouts.
3. ``amount_and_date``: a record and one line of the same direction, amount within the
   tolerance, date within the window, whatever the references. Skipped when references are
   ``required``.

Among a record's candidates the best is the smallest amount difference, then the closest date,
then the earliest in ledger order (effective time, then posting order). Dates compare as whole
UTC calendar days. Items come out in record order (a match, or an unmatched record), then the
unmatched ledger lines in ledger order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from gledger_sandbox.domain.ledger.money import Direction

CalendarDay = date
"""A UTC calendar day (a record's ``date`` field shadows the name inside its class)."""


class ReferenceRule(StrEnum):
    REQUIRED = "required"
    PREFERRED = "preferred"
    IGNORED = "ignored"


class MatchRule(StrEnum):
    REFERENCE = "reference"
    AMOUNT_AND_DATE = "amount_and_date"
    REFERENCE_GROUP = "reference_group"


class ItemStatus(StrEnum):
    MATCHED = "matched"
    UNMATCHED_RECORD = "unmatched_record"
    UNMATCHED_LEDGER_LINE = "unmatched_ledger_line"


@dataclass(frozen=True, slots=True)
class Rules:
    match_reference: ReferenceRule = ReferenceRule.PREFERRED
    amount_tolerance: int = 0
    date_window_days: int = 3
    one_to_many: bool = True


@dataclass(frozen=True, slots=True)
class ExternalRecord:
    """One line of the client's statement; ``direction`` is from the ledger account's side."""

    id: str
    amount: int
    direction: Direction
    currency: str | None
    date: datetime
    date_only: bool
    """The client sent a calendar date, not a date-time (it is shown back that way)."""
    reference: str | None = None
    description: str | None = None

    @property
    def day(self) -> CalendarDay:
        return self.date.date()


Candidates = Callable[[ExternalRecord], Iterable[int]]
"""Where a pass looks for a record's lines (positions in ledger order)."""


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A posted line of the reconciled account, with the references of its entry."""

    entry_id: str
    line_id: str
    amount: int
    direction: Direction
    effective_at: datetime
    external_id: str | None
    source_id: str | None

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(r for r in (self.external_id, self.source_id, self.entry_id) if r)

    @property
    def reference(self) -> str:
        """The line's first reference: ``external_id``, else ``source_id``, else the entry id."""
        return self.references[0]

    @property
    def day(self) -> date:
        return self.effective_at.date()


@dataclass(frozen=True, slots=True)
class MatchItem:
    """One result of a run: a match, an unmatched record or an unmatched ledger line.

    ``id`` and ``reconciliation_id`` are None in a dry run (which stores nothing).
    Differences are record minus ledger: amount in minor units, date in days (line day minus
    record day; for a group, the line farthest from the record).
    """

    status: ItemStatus
    rule: MatchRule | None
    records: tuple[ExternalRecord, ...]
    ledger_lines: tuple[LedgerLine, ...]
    amount_difference: int | None = None
    date_difference_days: int | None = None
    id: str | None = None
    reconciliation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    records: int
    matched_records: int
    unmatched_records: int
    ledger_lines: int
    matched_ledger_lines: int
    unmatched_ledger_lines: int
    matched_amount: int
    """The matched records' amounts (whatever their direction)."""
    unmatched_record_amount: int
    unmatched_ledger_amount: int

    @classmethod
    def of(cls, items: Iterable[MatchItem]) -> Summary:
        counts = {status: 0 for status in ItemStatus}
        amounts = {status: 0 for status in ItemStatus}
        matched_lines = 0
        for item in items:
            counts[item.status] += 1
            if item.status is ItemStatus.UNMATCHED_LEDGER_LINE:
                amounts[item.status] += item.ledger_lines[0].amount
            else:
                amounts[item.status] += item.records[0].amount
            if item.status is ItemStatus.MATCHED:
                matched_lines += len(item.ledger_lines)
        unmatched_lines = counts[ItemStatus.UNMATCHED_LEDGER_LINE]
        matched, unmatched = counts[ItemStatus.MATCHED], counts[ItemStatus.UNMATCHED_RECORD]
        return cls(
            records=matched + unmatched,
            matched_records=matched,
            unmatched_records=unmatched,
            ledger_lines=matched_lines + unmatched_lines,
            matched_ledger_lines=matched_lines,
            unmatched_ledger_lines=unmatched_lines,
            matched_amount=amounts[ItemStatus.MATCHED],
            unmatched_record_amount=amounts[ItemStatus.UNMATCHED_RECORD],
            unmatched_ledger_amount=amounts[ItemStatus.UNMATCHED_LEDGER_LINE],
        )


def match(
    records: Sequence[ExternalRecord], lines: Sequence[LedgerLine], rules: Rules
) -> list[MatchItem]:
    """Every result item of reconciling ``records`` against ``lines`` (given in ledger order)."""
    return _Matcher(records, lines, rules).run()


class _Matcher:
    """The state of one run: which lines are taken, and the indexes that find candidates."""

    def __init__(
        self, records: Sequence[ExternalRecord], lines: Sequence[LedgerLine], rules: Rules
    ) -> None:
        self.records = records
        self.lines = lines
        self.rules = rules
        self.taken = [False] * len(lines)
        self.found: dict[int, MatchItem] = {}
        self.by_reference: dict[str, list[int]] = {}
        for position, line in enumerate(lines):
            for reference in dict.fromkeys(line.references):
                self.by_reference.setdefault(reference, []).append(position)
        # Per direction, (amount, position) sorted: the lines within a tolerance by bisection.
        self.by_amount: dict[Direction, list[tuple[int, int]]] = {d: [] for d in Direction}
        for position, line in enumerate(lines):
            self.by_amount[line.direction].append((line.amount, position))
        for rows in self.by_amount.values():
            rows.sort()

    def run(self) -> list[MatchItem]:
        reference = self.rules.match_reference
        if reference is not ReferenceRule.IGNORED:
            self._one_to_one(MatchRule.REFERENCE, self._named)
            if self.rules.one_to_many:
                self._groups()
        if reference is not ReferenceRule.REQUIRED:
            self._one_to_one(MatchRule.AMOUNT_AND_DATE, self._near_amount)
        return self._items()

    # -- candidates ------------------------------------------------------------------------

    def _named(self, record: ExternalRecord) -> Iterable[int]:
        return self.by_reference.get(record.reference, ()) if record.reference else ()

    def _near_amount(self, record: ExternalRecord) -> Iterable[int]:
        rows = self.by_amount[record.direction]
        tolerance = self.rules.amount_tolerance
        low = bisect_left(rows, (record.amount - tolerance, -1))
        high = bisect_right(rows, (record.amount + tolerance, len(self.lines)))
        return (position for _, position in rows[low:high])

    def _in_window(self, record: ExternalRecord, line: LedgerLine) -> bool:
        return abs((line.day - record.day).days) <= self.rules.date_window_days

    def _fits(self, record: ExternalRecord, position: int) -> bool:
        line = self.lines[position]
        return (
            not self.taken[position]
            and line.direction is record.direction
            and abs(record.amount - line.amount) <= self.rules.amount_tolerance
            and self._in_window(record, line)
        )

    # -- passes ----------------------------------------------------------------------------

    def _one_to_one(self, rule: MatchRule, candidates: Candidates) -> None:
        for index, record in enumerate(self.records):
            if index in self.found:
                continue
            fitting = [p for p in candidates(record) if self._fits(record, p)]
            if not fitting:
                continue
            best = min(fitting, key=lambda p: self._rank(record, p))
            self._take(index, rule, [best])

    def _rank(self, record: ExternalRecord, position: int) -> tuple[int, int, int]:
        line = self.lines[position]
        return (abs(record.amount - line.amount), abs((line.day - record.day).days), position)

    def _groups(self) -> None:
        for index, record in enumerate(self.records):
            if index in self.found:
                continue
            group = [
                p
                for p in self._named(record)
                if not self.taken[p]
                and self.lines[p].direction is record.direction
                and self._in_window(record, self.lines[p])
            ]
            total = sum(self.lines[p].amount for p in group)
            if len(group) >= 2 and abs(record.amount - total) <= self.rules.amount_tolerance:
                self._take(index, MatchRule.REFERENCE_GROUP, group)

    def _take(self, index: int, rule: MatchRule, positions: list[int]) -> None:
        record = self.records[index]
        lines = tuple(self.lines[p] for p in positions)
        for position in positions:
            self.taken[position] = True
        days = [(line.day - record.day).days for line in lines]
        self.found[index] = MatchItem(
            status=ItemStatus.MATCHED,
            rule=rule,
            records=(record,),
            ledger_lines=lines,
            amount_difference=record.amount - sum(line.amount for line in lines),
            date_difference_days=max(days, key=abs),
        )

    def _items(self) -> list[MatchItem]:
        items = [
            self.found.get(index)
            or MatchItem(ItemStatus.UNMATCHED_RECORD, None, records=(record,), ledger_lines=())
            for index, record in enumerate(self.records)
        ]
        items += [
            MatchItem(ItemStatus.UNMATCHED_LEDGER_LINE, None, records=(), ledger_lines=(line,))
            for position, line in enumerate(self.lines)
            if not self.taken[position]
        ]
        return items
