"""A merchant's past weeks, as business events: each posts one balanced journal entry.

- checkout: the customer pays by card; the processor keeps its fee.
  debit cash (gross - fee), debit platform_fee (fee), credit revenue (net), credit tax (tax)
- invoice: issued (debit accounts_receivable, credit revenue and tax), then paid days later
  (debit cash and platform_fee, credit accounts_receivable); recent payments are still pending.
- refund: of an earlier checkout, whole or in part (debit refunds and tax, credit cash),
  linked to the checkout's entry.
- payout: part of the cash goes to the bank (debit payouts_in_transit, credit cash), and lands
  two days later (debit bank, credit payouts_in_transit).
Amounts come from a seeded generator, names and memos from a seeded Faker: same seed, same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from gledger_sandbox.domain import postings
from gledger_sandbox.domain.models import Entry, EntrySpec, EntryStatus, LineSpec
from gledger_sandbox.domain.money import Direction
from gledger_sandbox.domain.tenants import Tenant

DEBIT, CREDIT = Direction.DEBIT, Direction.CREDIT


@dataclass(frozen=True, slots=True)
class Chart:
    """A seeded ledger: its id, currency and account ids by code."""

    ledger_id: str
    currency: str
    accounts: dict[str, str]
    opening_balance: dict[str, Any] | None = None


@dataclass(slots=True)
class _Story:
    tenant: Tenant
    chart: Chart
    config: dict[str, Any]
    fake: Faker
    rng: random.Random
    now: datetime
    checkouts: list[tuple[Entry, int]] = field(default_factory=list)

    def source_id(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(64):016x}"

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


def _checkout(story: _Story, when: datetime) -> None:
    gross = story.gross()
    net, tax, fee = story.split(gross)
    customer = story.fake.name()
    entry = story.post(
        when,
        [
            ("cash", DEBIT, gross - fee),
            ("platform_fee", DEBIT, fee),
            ("revenue", CREDIT, net),
            ("tax", CREDIT, tax),
        ],
        f"Card checkout by {customer}",
        ("checkout_session", story.source_id("cs")),
        metadata={"customer": customer, "email": story.fake.email()},
    )
    story.checkouts.append((entry, gross))


def _invoice(story: _Story, when: datetime) -> None:
    gross = story.gross()
    net, tax, fee = story.split(gross)
    company = story.fake.company()
    source = ("invoice", story.source_id("in"))
    story.post(
        when,
        [("accounts_receivable", DEBIT, gross), ("revenue", CREDIT, net), ("tax", CREDIT, tax)],
        f"Invoice issued to {company}",
        source,
        metadata={"customer": company},
    )
    paid = when + timedelta(days=story.rng.randint(1, 5))
    recent = story.now - timedelta(days=story.config["pending_invoice_days"])
    story.post(
        min(paid, story.now),
        [
            ("cash", DEBIT, gross - fee),
            ("platform_fee", DEBIT, fee),
            ("accounts_receivable", CREDIT, gross),
        ],
        f"Invoice paid by {company}",
        source,
        status=EntryStatus.PENDING if when >= recent else EntryStatus.POSTED,
        metadata={"customer": company},
    )


def _refund(story: _Story, when: datetime) -> None:
    if not story.checkouts:  # nothing to refund yet: the customer buys instead
        _checkout(story, when)
        return
    charge, charged = story.checkouts.pop(story.rng.randrange(len(story.checkouts)))
    gross = charged if story.rng.random() < 0.6 else story.rng.randint(500, charged)
    net, tax, _ = story.split(gross)
    story.post(
        when,
        [("refunds", DEBIT, net), ("tax", DEBIT, tax), ("cash", CREDIT, gross)],
        f"Refund: {story.fake.sentence(nb_words=4).rstrip('.').lower()}",
        ("refund", story.source_id("re")),
        related=(charge.id,),
    )


def _payout(story: _Story, when: datetime) -> None:
    cash = story.tenant.store.accounts[story.chart.accounts["cash"]]
    amount = cash.posted.signed(cash.normal_balance) * story.rng.randint(40, 70) // 100
    if amount <= 0:
        return
    source = ("payout", story.source_id("po"))
    story.post(
        when,
        [("payouts_in_transit", DEBIT, amount), ("cash", CREDIT, amount)],
        "Payout to bank",
        source,
    )
    landed = when + timedelta(days=2)
    if landed <= story.now:
        story.post(
            landed,
            [("bank", DEBIT, amount), ("payouts_in_transit", CREDIT, amount)],
            "Payout arrived at bank",
            source,
        )


_EVENTS = {"checkout": _checkout, "invoice": _invoice, "refund": _refund, "payout": _payout}


def play_scenario(tenant: Tenant, chart: Chart, config: dict[str, Any], fake: Faker) -> None:
    """Post the scenario's business events, oldest first, ending at the tenant's now."""
    now = tenant.clock.now()
    story = _Story(tenant, chart, config, fake, random.Random(tenant.seed), now)
    start = now - timedelta(days=config["days"])
    if chart.opening_balance:
        opening = chart.opening_balance
        story.post(
            start,
            [
                (opening["debit"], DEBIT, opening["amount"]),
                (opening["credit"], CREDIT, opening["amount"]),
            ],
            "Opening balance",
            ("opening_balance", story.source_id("ob")),
        )
    kinds = list(config["mix"])
    weights = [config["mix"][k] for k in kinds]
    per_day = config["events_per_day"]
    for day in range(config["days"]):
        count = story.rng.randint(per_day["min"], per_day["max"])
        seconds = sorted(story.rng.randrange(86400) for _ in range(count))
        for offset in seconds:
            when = start + timedelta(days=day, seconds=offset)
            _EVENTS[story.rng.choices(kinds, weights)[0]](story, when)
