"""The ledger store of one tenant: its resources, indexes, and the ledger and account commands.

Everything lives in memory. Reads are cheap by construction: a balance is a pair of running totals
on the account (O(1)); every list walks a sequence-ordered index (O(limit), see ``pages``).
Every change goes through the store's unit of work, so a refused command leaves no trace.
Entry commands live in ``postings``; they use the primitives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from sortedcontainers import SortedList

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import Conflict, InvalidRequest, NotFound
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger import events
from gledger_sandbox.domain.ledger.day_totals import (
    NO_DAYS,
    DayTotals,
    day_of,
    midnight,
    next_midnight,
)
from gledger_sandbox.domain.ledger.due import DueQueue
from gledger_sandbox.domain.ledger.events import EventLog, Retention
from gledger_sandbox.domain.ledger.models import (
    Account,
    AccountKind,
    AccountSpec,
    AccountStatus,
    Entry,
    Ledger,
    Metadata,
    StatementLine,
)
from gledger_sandbox.domain.ledger.money import CURRENCIES, Totals
from gledger_sandbox.domain.ledger.pages import EMPTY, Page, PageRequest, paginate, paginate_rows
from gledger_sandbox.domain.ledger.statements import NEVER, NO_LINES, Statement, micros
from gledger_sandbox.domain.quotas import TenantQuotas
from gledger_sandbox.domain.state_graph import sort_key
from gledger_sandbox.domain.unit_of_work import UnitOfWork

IndexKey = tuple[Any, ...]


@sort_key
def effective_order(line: StatementLine) -> tuple[datetime, int]:
    """An account's posted lines in effective order, as state documents written before the
    lines sorted themselves (``StatementLine.__lt__``) name it: they still load."""
    return (line.effective_at, line.seq)


class _Counter:
    __slots__ = ("seq",)

    def __init__(self) -> None:
        self.seq = 0


def _nothing() -> None:
    return None


def _snapshot(counter: _Counter, *ids: IdGenerator) -> Callable[[], Callable[[], None]]:
    """Take the sequence and id counters at the start of a unit; give back their restorer."""

    def take() -> Callable[[], None]:
        seq, id_states = counter.seq, [generator.state() for generator in ids]

        def restore() -> None:
            counter.seq = seq
            for generator, state in zip(ids, id_states, strict=True):
                generator.restore(state)

        return restore

    return take


class LedgerStore:
    """Ledgers, accounts, entries and statements of one tenant, with their indexes."""

    def __init__(
        self,
        ids: IdGenerator,
        clock: SandboxClock,
        *,
        retention: Retention = Retention(),
        events_after: int = 0,
        on_events: Callable[[], None] | None = None,
        quotas: TenantQuotas = TenantQuotas(),
    ) -> None:
        self.ids = ids
        self.quotas = quotas
        self.metadata_bytes = 0
        """Bytes of ``metadata`` the tenant's requests carried into this store (its quota)."""
        self.clock = clock
        self.uow = UnitOfWork()
        event_ids = ids.stream(b"events")
        self.events = EventLog(
            event_ids,
            clock,
            self.uow,
            retention=retention,
            starts_after=events_after,
            on_publish=on_events,
        )
        self._counter = _Counter()
        # A closure over the counters, not a bound method: no store <-> unit-of-work cycle, so a
        # dropped tenant is freed by reference counting alone.
        self.uow.snapshot_on_begin(_snapshot(self._counter, ids, event_ids))
        self.ledgers: dict[str, Ledger] = {}
        self.accounts: dict[str, Account] = {}
        self.entries: dict[str, Entry] = {}
        # Per account, its posted lines in posting (sequence) order, the statement's pages, and
        # in effective order: balances as of a past time, and the reports.
        self.statements: dict[str, Statement] = {}
        self.posted_lines = 0
        self._by_seq: dict[int, Any] = {}
        self._indexes: dict[IndexKey, SortedList] = {}
        self._account_codes: dict[tuple[str, str], str] = {}
        self._external_ids: dict[tuple[str, str], str] = {}
        # Entries a workflow moves itself (entry id -> the owner's id, a payout): the public
        # post, void, reverse and change of an entry refuse them while they are owned.
        self._owners: dict[str, str] = {}
        # Per account, its posted totals per UTC day of effective_at.
        self._days: dict[str, DayTotals] = {}
        # Per (ledger, currency), the debits of its posted and pending lines: kept within
        # money.MAX_AMOUNT by the postings, so no balance or report sum passes it.
        self.volumes: dict[tuple[str, str], int] = {}
        # Pending entries with an expiry, by expires_at; stale rows are skipped (see schedule).
        self.expiring = DueQueue(self.uow)

    # -- primitives ------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.uow.on_rollback(_nothing)  # asserts a unit of work is open
        self._counter.seq += 1
        return self._counter.seq

    def index_add(self, key: IndexKey, seq: int) -> None:
        self.uow.note("add", self._index_add(key, seq), seq)

    def _index_add(self, key: IndexKey, seq: int) -> SortedList:
        """Add ``seq`` to the index of ``key`` (made if need be); the caller records the add."""
        index = self._indexes.get(key)
        if index is None:
            index = SortedList()
            self.uow.put(self._indexes, key, index)
        index.add(seq)
        self.uow.on_rollback(lambda: index.discard(seq))
        return index

    def index_remove(self, key: IndexKey, seq: int) -> None:
        index = self._indexes[key]
        index.discard(seq)
        self.uow.on_rollback(lambda: index.add(seq))
        self.uow.note("discard", index, seq)

    def index(self, key: IndexKey) -> SortedList:
        return self._indexes.get(key, EMPTY)

    def set_status(self, resource: Any, kind: str, status: Any) -> None:
        """Change a resource's ``status``, moving it between its kind's status indexes."""
        self.index_remove((kind, "status", resource.status), resource.seq)
        self.uow.set(resource, "status", status)
        self.index_add((kind, "status", status), resource.seq)

    def keep(self, table: dict[str, Any], resource: Any, keys: Iterable[IndexKey]) -> None:
        """Hold a new resource by id (in ``table``) and by sequence, in each of its indexes."""
        self.uow.put(table, resource.id, resource)
        seq = resource.seq
        self.register(seq, resource)
        self.uow.note_adds(tuple((self._index_add(key, seq), seq) for key in keys))

    def narrowest(self, keys: Iterable[IndexKey]) -> SortedList:
        """The smallest of these indexes: the one a list filtered by all of them walks."""
        return min((self.index(key) for key in keys), key=len)

    def register(self, seq: int, resource: Any) -> None:
        self.uow.put(self._by_seq, seq, resource)

    def fetch(self, seq: int) -> Any:
        return self._by_seq[seq]

    def add_statement_line(self, account: Account, entry: Entry, place: int) -> None:
        """Post ``entry.lines[place]`` to its account's statement (the account's totals already
        count it: its balance after the line is the account's posted balance now)."""
        statement = self.statements.get(account.id)
        if statement is None:
            statement = Statement()
            self.uow.put(self.statements, account.id, statement)
        balance = account.posted.signed(account.normal_balance)
        statement.append(entry, place, self.next_seq(), balance, self.uow)
        self.uow.set(self, "posted_lines", self.posted_lines + 1)
        days = self._days.get(account.id)
        if days is None:
            days = DayTotals()
            self.uow.put(self._days, account.id, days)
        line = entry.lines[place]
        days.add(day_of(entry.effective_at), line.direction, line.amount, self.uow)

    def day_totals(self, account_id: str) -> DayTotals:
        """An account's posted totals per UTC day of effective time (read only)."""
        return self._days.get(account_id, NO_DAYS)

    def expire_later(self, entry: Entry) -> None:
        """Void the pending entry at its ``expires_at``, as the request that set it."""
        assert entry.expires_at is not None
        self.expiring.push(entry.expires_at, entry.seq, entry.id)

    # -- ledgers ---------------------------------------------------------------------------

    def create_ledger(self, name: str, description: str | None, metadata: Metadata) -> Ledger:
        with self.uow.atomic():
            now = self.clock.now()
            seq = self.next_seq()
            ledger = Ledger(self.ids.new("ldg"), seq, name, description, dict(metadata), now, now)
            self.uow.put(self.ledgers, ledger.id, ledger)
            self.register(seq, ledger)
            self.index_add(("ledgers",), seq)
            self.events.append(events.LEDGER_CREATED, ledger)
            return ledger

    def ledger(self, ledger_id: str, pointer: str = "") -> Ledger:
        found = self.ledgers.get(ledger_id)
        if found is None:
            raise NotFound("ledger", ledger_id, pointer)
        return found

    def update_ledger(self, ledger_id: str, changes: dict[str, Any]) -> Ledger:
        ledger = self.ledger(ledger_id)
        with self.uow.atomic():
            for name in ("name", "description", "metadata"):
                if name in changes:
                    self.uow.set(ledger, name, changes[name])
            self.uow.set(ledger, "updated_at", self.clock.now())
            self.events.append(events.LEDGER_UPDATED, ledger)
        return ledger

    def list_ledgers(self, page: PageRequest) -> Page[Ledger]:
        return paginate(self.index(("ledgers",)), self.fetch, page)

    # -- accounts --------------------------------------------------------------------------

    def create_account(self, ledger_id: str, spec: AccountSpec) -> Account:
        ledger = self.ledger(ledger_id)
        if spec.currency not in CURRENCIES:
            raise InvalidRequest.at(
                "/currency", "validation.unknown_currency", f"{spec.currency} is no ISO 4217 code."
            )
        if (ledger.id, spec.code) in self._account_codes:
            raise Conflict.at(
                "/code",
                "duplicate_account_code",
                f"Ledger {ledger.id} already has an account with code {spec.code!r}.",
            )
        with self.uow.atomic():
            now = self.clock.now()
            seq = self.next_seq()
            account = Account(
                id=self.ids.new("acct"),
                seq=seq,
                ledger_id=ledger.id,
                code=spec.code,
                name=spec.name,
                kind=spec.kind,
                normal_balance=spec.normal_balance or spec.kind.normal_balance,
                currency=spec.currency,
                status=AccountStatus.ACTIVE,
                flags=spec.flags,
                metadata=dict(spec.metadata),
                created_at=now,
                updated_at=now,
            )
            self.uow.put(self.accounts, account.id, account)
            self.uow.put(self._account_codes, (ledger.id, account.code), account.id)
            self.register(seq, account)
            self.index_add(("accounts", ledger.id), seq)
            self.index_add(("accounts", ledger.id, account.kind), seq)
            self.events.append(events.ACCOUNT_CREATED, account)
            return account

    def account(self, account_id: str, pointer: str = "") -> Account:
        found = self.accounts.get(account_id)
        if found is None:
            raise NotFound("account", account_id, pointer)
        return found

    def account_by_code(self, ledger_id: str, code: str, pointer: str = "") -> Account:
        account_id = self._account_codes.get((ledger_id, code))
        if account_id is None:
            raise NotFound("account", code, pointer)
        return self.accounts[account_id]

    def update_account(self, account_id: str, changes: dict[str, Any]) -> Account:
        account = self.account(account_id)
        with self.uow.atomic():
            for name in ("name", "status", "metadata", "flags"):
                if name in changes:
                    self.uow.set(account, name, changes[name])
            self.uow.set(account, "updated_at", self.clock.now())
            self.events.append(events.ACCOUNT_UPDATED, account)
        return account

    def list_accounts(
        self,
        ledger_id: str,
        page: PageRequest,
        code: str | None = None,
        kind: AccountKind | None = None,
        currency: str | None = None,
    ) -> Page[Account]:
        """A ledger's accounts, walking the narrowest index; the other filters checked per row."""
        self.ledger(ledger_id)
        if code is not None:
            account_id = self._account_codes.get((ledger_id, code))
            seqs = SortedList([self.accounts[account_id].seq]) if account_id else EMPTY
        else:
            key = ("accounts", ledger_id, kind) if kind is not None else ("accounts", ledger_id)
            seqs = self.index(key)

        def accept(account: Account) -> bool:
            return (kind is None or account.kind is kind) and (
                currency is None or account.currency == currency
            )

        return paginate(seqs, self.fetch, page, accept)

    def list_statement(self, account_id: str, page: PageRequest) -> Page[StatementLine]:
        self.account(account_id)
        statement = self.statements.get(account_id, NO_LINES)
        return paginate_rows(statement, statement.seqs, page)

    def posted_as_of(self, account: Account, as_of: datetime) -> Totals:
        """Posted totals counting only lines effective at or before ``as_of``.

        The current totals less the days after ``as_of``'s UTC day; that day itself is settled
        line by line from whichever end of it is nearer. O(days with postings after ``as_of`` +
        the fewer of that day's lines before or after it), never the whole history.
        """
        statement = self.statements.get(account.id)
        if statement is None:
            return account.posted
        day, day_end = day_of(as_of), next_midnight(as_of)
        first, cut = micros(midnight(day)), micros(as_of) + 1
        last = NEVER if day_end is None else micros(day_end)
        days = self.day_totals(account.id)
        if statement.span(first, cut) < statement.span(cut, last):
            # drop the whole day, add back its lines up to as_of
            drop, sign = days.sum_after(day, inclusive=True), 1
            lines = statement.effective_between(first, cut)
        else:  # keep the day, drop its lines after as_of
            drop, lines, sign = days.sum_after(day), statement.effective_between(cut, last), -1
        totals = Totals(account.posted.debits - drop.debits, account.posted.credits - drop.credits)
        for later in lines:
            totals = totals.plus(later.line.direction, sign * later.line.amount)
        return totals

    def effective_between(
        self, account_id: str, start: datetime, end: datetime
    ) -> Iterator[StatementLine]:
        """An account's posted lines effective in [start, end), in effective order.

        Costs O(log n) to find the start, then O(1) per line read: never a scan of the account.
        """
        statement = self.statements.get(account_id, NO_LINES)
        return statement.effective_between(micros(start), micros(end))

    def external_id_owner(self, ledger_id: str, external_id: str) -> str | None:
        return self._external_ids.get((ledger_id, external_id))

    def claim_external_id(self, ledger_id: str, external_id: str, entry_id: str) -> None:
        self.uow.put(self._external_ids, (ledger_id, external_id), entry_id)

    def release_external_id(self, ledger_id: str, external_id: str) -> None:
        self.uow.pop(self._external_ids, (ledger_id, external_id))

    def entry_owner(self, entry_id: str) -> str | None:
        return self._owners.get(entry_id)

    def own_entry(self, entry_id: str, owner: str) -> None:
        self.uow.put(self._owners, entry_id, owner)

    def release_entry(self, entry_id: str) -> None:
        self.uow.pop(self._owners, entry_id)

    def counts(self) -> dict[str, int]:
        return {
            "ledgers": len(self.ledgers),
            "accounts": len(self.accounts),
            "entries": len(self.entries),
        }
