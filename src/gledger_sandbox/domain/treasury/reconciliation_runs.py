"""Reconciliation runs of a tenant: read both sides, match them, store the results, tell events.

The ledger side is one account's posted lines effective in the window, read from the store's
effective-time index (O(lines in the window), capped), less the lines an earlier stored run
matched: those are reconciled and never candidates again. The matching itself is the pure
``reconciliation.match``.

A stored run is one unit of work: the run, its items, the reconciled marks and its events
(``reconciliation.matched`` per match in item order, then ``reconciliation.completed``) stand or
fall together. A dry run reads the same way and matches the same way, but stores nothing, emits
nothing, marks nothing and draws no id or sequence number.

A public sandbox keeps memory bounded: a tenant keeps its latest ``KEPT_RUNS`` stored runs, and
no more than ``KEPT_ITEMS`` items across them (the newest run is always kept whole). Once a run
commits, the oldest runs beyond either bound are forgotten: reading them is 404 ``not_found``.
The lines they reconciled stay reconciled (the marks are the ledger's, and cost one line id
each), and their events stay in the event log.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sortedcontainers import SortedList

from gledger_sandbox.domain.errors import FieldError, InvalidRequest, NotFound
from gledger_sandbox.domain.ledger import events
from gledger_sandbox.domain.ledger.day_totals import midnight
from gledger_sandbox.domain.ledger.entry_rules import named_account
from gledger_sandbox.domain.ledger.models import Account, Metadata
from gledger_sandbox.domain.ledger.pages import Page, PageRequest, paginate
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.treasury.reconciliation import (
    ExternalRecord,
    ItemStatus,
    LedgerLine,
    MatchItem,
    Rules,
    Summary,
    match,
)

MAX_RECORDS = 1_000
MAX_WINDOW_LINES = 10_000
KEPT_RUNS = 100
KEPT_ITEMS = 50_000
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Window:
    """The ledger side's effective times: ``start`` inclusive, ``end`` exclusive."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ReconciliationSpec:
    ledger_id: str
    records: tuple[ExternalRecord, ...]
    account_id: str | None = None
    account_code: str | None = None
    rules: Rules = field(default_factory=Rules)
    window: Window | None = None
    """Explicit; else from the earliest record date less the date window to the latest plus it."""
    dry_run: bool = False
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    id: str | None
    """None for a dry run, which is never stored."""
    seq: int
    ledger_id: str
    account_id: str
    account_code: str
    currency: str
    dry_run: bool
    rules: Rules
    window: Window
    summary: Summary
    created_at: datetime
    metadata: Metadata
    status: str = COMPLETED


@dataclass(frozen=True, slots=True)
class _Results:
    """A stored run's items, with an index of positions (from 1) per status for paging."""

    items: tuple[MatchItem, ...]
    every: SortedList
    by_status: dict[ItemStatus, SortedList]


class Reconciliations:
    """The runs of one tenant and the lines they reconciled, kept in its store's unit of work."""

    def __init__(
        self,
        store: LedgerStore,
        max_window_lines: int = MAX_WINDOW_LINES,
        *,
        kept_runs: int = KEPT_RUNS,
        kept_items: int = KEPT_ITEMS,
    ) -> None:
        self.store = store
        self.max_window_lines = max_window_lines
        self.kept_runs = kept_runs
        self.kept_items = kept_items
        self.runs: dict[str, Reconciliation] = {}
        """The stored runs still kept, oldest first (runs are only added at a commit)."""
        self._results: dict[str, _Results] = {}
        self._reconciled: dict[str, set[str]] = {}
        """Per account, the ids of the lines a stored run matched."""

    def run(self, spec: ReconciliationSpec) -> tuple[Reconciliation, tuple[MatchItem, ...]]:
        """Match the records against the account's lines; store the run unless it is dry."""
        store = self.store
        store.ledger(spec.ledger_id, "/ledger_id")
        account = self._account(spec)
        _check_records(spec.records, account)
        records = tuple(
            r if r.currency else replace(r, currency=account.currency) for r in spec.records
        )
        if spec.window is not None and spec.window.end <= spec.window.start:
            raise InvalidRequest.at(
                "/window/to", "validation.invalid_range", "The window's to must be after its from."
            )
        window = spec.window or _window_of(records, spec.rules)
        lines = self._lines(account, window, explicit=spec.window is not None)
        items = match(records, lines, spec.rules)
        found = Reconciliation(
            id=None,
            seq=0,
            ledger_id=account.ledger_id,
            account_id=account.id,
            account_code=account.code,
            currency=account.currency,
            dry_run=spec.dry_run,
            rules=spec.rules,
            window=window,
            summary=Summary.of(items),
            created_at=store.clock.now(),
            metadata=dict(spec.metadata),
        )
        if spec.dry_run:
            return found, tuple(items)
        return self._commit(found, items)

    def get(self, reconciliation_id: str) -> Reconciliation:
        found = self.runs.get(reconciliation_id)
        if found is None:
            raise NotFound("reconciliation", reconciliation_id)
        return found

    def list_items(
        self, reconciliation_id: str, page: PageRequest, status: ItemStatus | None = None
    ) -> Page[MatchItem]:
        """A page of a run's items in item order, optionally of one status: O(limit)."""
        self.get(reconciliation_id)
        results = self._results[reconciliation_id]
        positions = results.every if status is None else results.by_status[status]
        return paginate(positions, lambda n: results.items[n - 1], page)

    # -- the two sides ---------------------------------------------------------------------

    def _account(self, spec: ReconciliationSpec) -> Account:
        account, errors = named_account(
            self.store, spec.ledger_id, spec.account_id, spec.account_code
        )
        if errors:
            raise InvalidRequest.collected(errors)
        assert account is not None
        return account

    def _lines(self, account: Account, window: Window, *, explicit: bool) -> list[LedgerLine]:
        """The account's unreconciled posted lines in the window, in ledger order."""
        reconciled = self._reconciled.get(account.id, set())
        lines: list[LedgerLine] = []
        for count, posted in enumerate(
            self.store.effective_between(account.id, window.start, window.end), 1
        ):
            if count > self.max_window_lines:
                raise InvalidRequest.at(
                    "/window" if explicit else "/records",
                    "reconciliation.too_many_lines",
                    f"More than {self.max_window_lines} posted lines of {account.code} fall in the "
                    "window: reconcile a shorter period.",
                )
            if posted.line.id in reconciled:
                continue
            lines.append(
                LedgerLine(
                    entry_id=posted.entry_id,
                    line_id=posted.line.id,
                    amount=posted.line.amount,
                    direction=posted.line.direction,
                    effective_at=posted.effective_at,
                    external_id=self.store.entries[posted.entry_id].external_id,
                    source_id=posted.source_id,
                )
            )
        return lines

    # -- storing ---------------------------------------------------------------------------

    def _commit(
        self, preview: Reconciliation, items: list[MatchItem]
    ) -> tuple[Reconciliation, tuple[MatchItem, ...]]:
        """The run with its ids, stored with its items, marks and events in one unit of work."""
        store = self.store
        with store.uow.atomic():
            found = replace(preview, id=store.ids.new("rcn"), seq=store.next_seq())
            stored = tuple(
                replace(item, id=store.ids.new("rcm"), reconciliation_id=found.id) for item in items
            )
            self._store(found, stored)
            self._mark_reconciled(found.account_id, stored)
            for item in stored:
                if item.status is ItemStatus.MATCHED:
                    store.events.append(events.RECONCILIATION_MATCHED, item)
            store.events.append(events.RECONCILIATION_COMPLETED, found)
        return found, stored

    def _store(self, found: Reconciliation, items: tuple[MatchItem, ...]) -> None:
        assert found.id is not None
        by_status: dict[ItemStatus, SortedList] = {status: SortedList() for status in ItemStatus}
        for position, item in enumerate(items, 1):
            by_status[item.status].add(position)
        every = SortedList(range(1, len(items) + 1))
        self.store.uow.put(self.runs, found.id, found)
        self.store.uow.put(self._results, found.id, _Results(items, every, by_status))
        self.store.uow.after_commit(self._forget_oldest)

    def _forget_oldest(self) -> None:
        """Drop the oldest runs beyond the bounds (after the commit: keeping less is no change
        to roll back, like the event log's retention)."""
        kept_items = sum(len(results.items) for results in self._results.values())
        while len(self.runs) > 1 and (
            len(self.runs) > self.kept_runs or kept_items > self.kept_items
        ):
            oldest = next(iter(self.runs))
            del self.runs[oldest]
            kept_items -= len(self._results.pop(oldest).items)

    def _mark_reconciled(self, account_id: str, items: tuple[MatchItem, ...]) -> None:
        matched = {
            line.line_id
            for item in items
            if item.status is ItemStatus.MATCHED
            for line in item.ledger_lines
        }
        marks = self._reconciled.setdefault(account_id, set())
        fresh = matched - marks
        marks |= fresh
        self.store.uow.on_rollback(lambda: marks.difference_update(fresh))


def _check_records(records: tuple[ExternalRecord, ...], account: Account) -> None:
    """Every duplicate record id and foreign currency, reported at once (422)."""
    if not 0 < len(records) <= MAX_RECORDS:
        raise InvalidRequest.at(
            "/records", "validation.invalid_value", f"From 1 to {MAX_RECORDS} records per run."
        )
    errors: list[FieldError] = []
    first_of: dict[str, int] = {}
    for index, record in enumerate(records):
        first = first_of.setdefault(record.id, index)
        if first != index:
            errors.append(
                FieldError(
                    f"/records/{index}/id",
                    "reconciliation.duplicate_record_id",
                    f"Record id {record.id!r} is already used by /records/{first}.",
                )
            )
        if record.currency is not None and record.currency != account.currency:
            errors.append(
                FieldError(
                    f"/records/{index}/currency",
                    "reconciliation.currency_mismatch",
                    f"Account {account.code} holds {account.currency}, not {record.currency}.",
                )
            )
    if errors:
        raise InvalidRequest.collected(errors)


def _window_of(records: tuple[ExternalRecord, ...], rules: Rules) -> Window:
    """Whole UTC days: the earliest record day less the date window, to the end of the latest
    record day plus it (clamped at the calendar's ends)."""
    days = [record.day for record in records]
    slack = rules.date_window_days
    return Window(_midnight(min(days), -slack), _midnight(max(days), slack + 1))


def _midnight(day: date, days: int) -> datetime:
    """Midnight UTC ``days`` after ``day``, or the calendar's first or last day."""
    try:
        shifted = day + timedelta(days=days)
    except OverflowError:
        shifted = date.max if days > 0 else date.min
    return midnight(shifted)
