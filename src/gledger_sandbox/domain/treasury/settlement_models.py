"""Settlements and payouts as values: what they are, their statuses, and what callers ask for.

Both are owned by their modules (``settlements``, ``payouts``), which change them only through
the store's unit of work; like entries, a snapshot taken for an event must not see later
changes, so the one nested value (a payout's entry links) is frozen and replaced, never edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gledger_sandbox.domain.ledger.models import Metadata
from gledger_sandbox.domain.ledger.money import Direction


class SettlementStatus(StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    FAILED = "failed"


class PayoutStatus(StrEnum):
    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account as a request names it: by id, or by code in the ledger (exactly one)."""

    account_id: str | None = None
    account_code: str | None = None


@dataclass(slots=True)
class Settlement:
    """An instruction to move an account's posted balance as of ``up_to`` into a contra account."""

    id: str
    seq: int
    ledger_id: str
    account_id: str
    contra_account_id: str
    currency: str
    up_to: datetime
    status: SettlementStatus
    created_at: datetime
    description: str | None
    metadata: Metadata
    amount: int | None = None
    """What was settled (minor units); null until the settlement completes."""
    direction: Direction | None = None
    """The side the settling entry posted to the settled account (the contra got the other)."""
    entry_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SettlementSpec:
    ledger_id: str
    account: AccountRef
    contra: AccountRef
    up_to: datetime | None = None
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PayoutEntries:
    """The entries a payout posted: the transit (pending until in transit), then either the
    arrival at the destination or the return of the funds (a reversal of the transit)."""

    transit: str
    arrival: str | None = None
    returned: str | None = None


@dataclass(slots=True)
class Payout:
    """Money leaving the ledger: source -> in transit -> destination, moved on by the clock."""

    id: str
    seq: int
    ledger_id: str
    amount: int
    currency: str
    status: PayoutStatus
    source_account_id: str
    transit_account_id: str
    destination_account_id: str
    entries: PayoutEntries
    created_at: datetime
    expected_arrival_at: datetime
    description: str | None
    metadata: Metadata
    failure_code: str | None = None
    failure_message: str | None = None
    in_transit_at: datetime | None = None
    paid_at: datetime | None = None
    failed_at: datetime | None = None
    canceled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PayoutSpec:
    ledger_id: str
    amount: int
    currency: str
    source: AccountRef = AccountRef(account_code="cash")
    transit: AccountRef = AccountRef(account_code="payouts_in_transit")
    destination: AccountRef = AccountRef(account_code="bank")
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)
