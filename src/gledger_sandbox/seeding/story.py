"""The state a fixture scenario plays through: the seeded chart, the generators, the clock.

Amounts come from a seeded generator, names and memos from a seeded Faker: same seed, same data.
Business events write only through the domain's commands, so fixtures obey every invariant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.ledger.models import Account, Entry, EntrySpec, EntryStatus, LineSpec
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.seeding.names import SeededNames

DEBIT, CREDIT = Direction.DEBIT, Direction.CREDIT


@dataclass(frozen=True, slots=True)
class Chart:
    """A seeded ledger: its id, currency and account ids by code."""

    ledger_id: str
    currency: str
    accounts: dict[str, str]
    opening_balance: dict[str, Any] | None = None


@dataclass(slots=True)
class Story:
    tenant: Tenant
    chart: Chart
    config: dict[str, Any]
    fake: SeededNames
    rng: random.Random
    now: datetime
    checkouts: list[tuple[Entry, int]] = field(default_factory=list)

    def source_id(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(64):016x}"

    def account(self, code: str) -> Account:
        return self.tenant.store.accounts[self.chart.accounts[code]]

    def post(
        self,
        when: datetime,
        lines: list[tuple[str, Direction, int]],
        description: str,
        source: tuple[str, str],
        status: EntryStatus = EntryStatus.POSTED,
        related: tuple[str, ...] = (),
        metadata: dict[str, str] | None = None,
    ) -> Entry:
        spec = EntrySpec(
            ledger_id=self.chart.ledger_id,
            lines=tuple(
                LineSpec(direction, amount, account_id=self.chart.accounts[code], memo=description)
                for code, direction, amount in lines
                if amount > 0
            ),
            status=status,
            description=description,
            effective_at=when,
            source_type=source[0],
            source_id=source[1],
            related_entry_ids=related,
            metadata=metadata or {},
        )
        return postings.create_entry(self.tenant.store, spec)

    def split(self, gross: int) -> tuple[int, int, int]:
        """Net, tax and processor fee of a gross amount (tax included in the price)."""
        rate = self.config["tax_rate"]
        tax = round(gross * rate / (1 + rate))
        fee = round(gross * self.config["fee"]["rate"]) + self.config["fee"]["fixed"]
        return gross - tax, tax, fee

    def gross(self) -> int:
        return self.rng.randint(self.config["amount"]["min"], self.config["amount"]["max"])
