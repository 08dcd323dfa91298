"""Posted totals per account and UTC day of effective time: what reports and past balances sum.

The store adds every posted line to its account's days as the line posts, inside the unit of
work (a rollback takes it back; reversals are new entries, so a day's totals only ever grow).
A report over a range then costs O(accounts x days with postings in the range), and a balance
as of a past time O(days with postings after it): neither depends on the number of entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta

from sortedcontainers import SortedDict

from gledger_sandbox.domain.ledger.money import Direction, Totals
from gledger_sandbox.domain.unit_of_work import UnitOfWork


def day_of(moment: datetime) -> date:
    """The UTC calendar day of an instant: the bucket its lines go to."""
    return moment.astimezone(UTC).date()


def midnight(day: date) -> datetime:
    """The instant a UTC day starts."""
    return datetime.combine(day, time(), UTC)


def next_midnight(moment: datetime) -> datetime | None:
    """The start of the UTC day after ``moment``'s; None past the calendar's last day."""
    day = day_of(moment)
    return None if day == date.max else midnight(day + timedelta(days=1))


def total(days: Iterable[Totals]) -> Totals:
    """The sum of some days' totals."""
    debits = credits = 0
    for one in days:
        debits += one.debits
        credits += one.credits
    return Totals(debits, credits)


class DayTotals:
    """One account's posted debits and credits per UTC day of ``effective_at``, in day order."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: SortedDict = SortedDict()

    def __len__(self) -> int:
        return len(self._days)

    def add(self, day: date, direction: Direction, amount: int, uow: UnitOfWork) -> None:
        """Count a posted line on its day, remembering how to take it back."""
        before: Totals = self._days.get(day) or Totals()
        uow.put(self._days, day, before.plus(direction, amount))

    def between(self, start: date, end: date) -> Iterator[tuple[date, Totals]]:
        """The days with postings from ``start`` (inclusive) to ``end`` (exclusive)."""
        for day in self._days.irange(start, end, inclusive=(True, False)):
            yield day, self._days[day]

    def sum_between(self, start: date, end: date) -> Totals:
        return total(totals for _day, totals in self.between(start, end))

    def sum_after(self, day: date, inclusive: bool = False) -> Totals:
        """Everything posted on the days after ``day`` (and on ``day`` itself if inclusive)."""
        later = self._days.irange(day, inclusive=(inclusive, True))
        return total(self._days[one] for one in later)


NO_DAYS = DayTotals()
"""The days of an account nothing has posted to (never written: accounts get their own)."""
