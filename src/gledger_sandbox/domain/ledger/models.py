"""The ledger's resources: ledgers, accounts, journal entries and their lines.

Entities are mutable, but only the store changes them, and only through its unit of work (so a
refused command leaves nothing behind). Values (lines, specs) are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gledger_sandbox.domain.ledger.money import Direction, Totals

Metadata = dict[str, str]


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def normal_balance(self) -> Direction:
        """Assets and expenses grow by debits; the rest grow by credits."""
        if self in (AccountKind.ASSET, AccountKind.EXPENSE):
            return Direction.DEBIT
        return Direction.CREDIT


class AccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class EntryStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class VoidReason(StrEnum):
    REQUESTED = "requested"
    EXPIRED = "expired"


@dataclass(slots=True)
class Ledger:
    id: str
    seq: int
    name: str
    description: str | None
    metadata: Metadata
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AccountFlags:
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False


@dataclass(slots=True)
class Account:
    id: str
    seq: int
    ledger_id: str
    code: str
    name: str
    kind: AccountKind
    normal_balance: Direction
    currency: str
    status: AccountStatus
    flags: AccountFlags
    metadata: Metadata
    created_at: datetime
    updated_at: datetime
    lock_version: int = 0
    posted: Totals = field(default_factory=Totals)
    pending: Totals = field(default_factory=Totals)
    """Lines of pending entries only; the API's ``pending`` bucket is ``posted`` plus these."""

    @property
    def pending_view(self) -> Totals:
        return Totals(
            self.posted.debits + self.pending.debits, self.posted.credits + self.pending.credits
        )

    @property
    def available(self) -> Totals:
        """Posted, less what pending entries are about to take away (never what they add)."""
        if self.normal_balance is Direction.DEBIT:
            return Totals(self.posted.debits, self.posted.credits + self.pending.credits)
        return Totals(self.posted.debits + self.pending.debits, self.posted.credits)


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    account_id: str
    account_code: str
    direction: Direction
    amount: int
    currency: str
    memo: str | None


@dataclass(slots=True)
class EntryLinks:
    reverses: str | None = None
    reversed_by: str | None = None
    related: tuple[str, ...] = ()


NO_LINKS = EntryLinks()
"""The links of an entry that has none: one object shared by all of them (links are replaced
whole, never changed in place; a million entries would otherwise hold a million of these)."""
NO_METADATA: Metadata = {}
"""The metadata of an entry created without any, shared likewise: metadata is replaced whole
(``uow.set``), never changed in place. Never mutate an entity's metadata dict."""


@dataclass(slots=True)
class Entry:
    id: str
    seq: int
    ledger_id: str
    status: EntryStatus
    lines: tuple[Line, ...]
    description: str | None
    external_id: str | None
    effective_at: datetime
    created_at: datetime
    updated_at: datetime
    source_type: str | None
    source_id: str | None
    metadata: Metadata
    links: EntryLinks = field(default_factory=EntryLinks)
    posted_at: datetime | None = None
    voided_at: datetime | None = None
    expires_at: datetime | None = None
    """A pending entry still pending then is voided by the sandbox clock (reason ``expired``)."""
    void_reason: VoidReason | None = None
    version: int = 1
    live_event: int | None = field(default=None, compare=False, repr=False)
    """The sequence of the oldest event that holds this entry itself as its snapshot, not a
    copy (None: none does); the unit of work has the log copy it before it changes
    (``EventLog.append``). A sequence, not the event: no entry <-> event reference cycle, so a
    dropped tenant is still freed by reference counting alone."""


@dataclass(frozen=True, slots=True)
class StatementLine:
    """A posted line as an account's statement shows it, with the running balance after it.

    Built for a read from the account's ``statements.Statement`` (which holds no object per
    line). The entry's own facts (its id, posted time and source) are read from the entry,
    which never changes them once posted.
    """

    seq: int
    line: Line
    entry: Entry = field(compare=False)
    effective_at: datetime
    balance_after: int

    @property
    def entry_id(self) -> str:
        return self.entry.id

    @property
    def posted_at(self) -> datetime:
        posted_at = self.entry.posted_at
        assert posted_at is not None  # a statement line is a posted entry's
        return posted_at

    @property
    def source_type(self) -> str | None:
        return self.entry.source_type

    @property
    def source_id(self) -> str | None:
        return self.entry.source_id

    def __lt__(self, other: StatementLine) -> bool:
        """Effective order, ties by sequence: how a version-2 document's effective index
        sorted the lines themselves (read only to rebuild it, ``sandbox.state_upgrades``)."""
        return (self.effective_at, self.seq) < (other.effective_at, other.seq)


# What callers ask for: plain values, built by the API's parsers or the fixtures.


@dataclass(frozen=True, slots=True)
class LineSpec:
    direction: Direction
    amount: int
    account_id: str | None = None
    account_code: str | None = None
    currency: str | None = None
    memo: str | None = None
    lock_version: int | None = None


@dataclass(frozen=True, slots=True)
class EntrySpec:
    ledger_id: str
    lines: tuple[LineSpec, ...]
    status: EntryStatus = EntryStatus.POSTED
    description: str | None = None
    external_id: str | None = None
    effective_at: datetime | None = None
    source_type: str | None = None
    source_id: str | None = None
    related_entry_ids: tuple[str, ...] = ()
    metadata: Metadata = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    name: str
    kind: AccountKind
    currency: str
    normal_balance: Direction | None = None
    flags: AccountFlags = AccountFlags()
    metadata: Metadata = field(default_factory=dict)
