"""Work that falls due on a tenant's clock, as rows of one queue per kind of work.

A row names a resource, when its work is due, and the request that asked for it (the work runs
as that request: its events carry the request's ids). Rows are never updated in place: a
change of plan pushes a new row and leaves the old one stale, and the queue's owner says which
rows still stand when it looks (``live``). A row pushed inside a unit of work goes with it on a
rollback, so a refused command schedules nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gledger_sandbox.domain.ledger.events import Cause, current_cause
from gledger_sandbox.domain.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True, order=True)
class DueRow:
    when: datetime
    seq: int
    """The resource's sequence: ties at one instant run in creation order."""
    resource_id: str
    cause: Cause = field(compare=False)

    @property
    def key(self) -> tuple[datetime, int]:
        return self.when, self.seq


Live = Callable[[DueRow], bool]


class DueQueue:
    """Rows in due order; stale ones are dropped when they reach the front."""

    __slots__ = ("_rows", "_uow")

    def __init__(self, uow: UnitOfWork | None = None) -> None:
        """With ``uow``, every push must happen inside one of its units and is undone with it."""
        self._rows: list[DueRow] = []
        self._uow = uow

    def __len__(self) -> int:
        return len(self._rows)

    def push(self, when: datetime, seq: int, resource_id: str) -> None:
        """Schedule work on a resource, as the current request."""
        row = DueRow(when, seq, resource_id, current_cause())
        if self._uow is not None:
            self._uow.on_rollback(lambda: self._remove(row))
        heapq.heappush(self._rows, row)
        if self._uow is not None:
            self._uow.note("touch", self._rows)  # a heap: written whole (it holds due rows only)

    def _remove(self, row: DueRow) -> None:
        # By identity: an equal row pushed by another request (another cause) must stay.
        index = next(i for i, held in enumerate(self._rows) if held is row)
        self._rows[index] = self._rows[-1]
        self._rows.pop()
        heapq.heapify(self._rows)

    def peek(self, live: Live) -> tuple[datetime, int] | None:
        """The due time and sequence of the earliest live row (stale rows in front are dropped)."""
        while self._rows and not live(self._rows[0]):
            heapq.heappop(self._rows)
        return self._rows[0].key if self._rows else None

    def pop(self) -> DueRow:
        """Take the front row (call :meth:`peek` first, so that it is live)."""
        return heapq.heappop(self._rows)
