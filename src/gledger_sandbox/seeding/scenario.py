"""A merchant's past weeks, as business events: each posts balanced journal entries.

- checkout: the customer pays by card; the processor keeps its fee.
  debit cash (gross - fee), debit platform_fee (fee), credit revenue (net), credit tax (tax)
- invoice: issued (debit accounts_receivable, credit revenue and tax), then paid days later
  (debit cash and platform_fee, credit accounts_receivable); recent payments are still pending.
- refund: of an earlier checkout, whole or in part (debit refunds and tax, credit cash),
  linked to the checkout's entry.
- payout: part of the cash available goes to the bank through the sandbox's payouts (see
  ``treasury``), and the tax collected is settled into the bank every week.

The events play in time order, and the tenant's schedule runs the clock's work (payout steps)
up to each event's time before it, so the story ends as the sandbox itself would have.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from gledger_sandbox.domain.ledger.models import EntryStatus
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.seeding import treasury
from gledger_sandbox.seeding.names import SeededNames
from gledger_sandbox.seeding.story import CREDIT, DEBIT, Chart, Story


def _checkout(story: Story, when: datetime) -> None:
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


def _invoice(story: Story, when: datetime) -> None:
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


def _refund(story: Story, when: datetime) -> None:
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


_EVENTS = {
    "checkout": _checkout,
    "invoice": _invoice,
    "refund": _refund,
    "payout": treasury.payout,
}


def _business(story: Story, start: datetime) -> list[treasury.Moment]:
    """The day-to-day events: a seeded count per day, at seeded times, of seeded kinds."""
    config = story.config
    kinds = list(config["mix"])
    weights = [config["mix"][k] for k in kinds]
    per_day = config["events_per_day"]
    found: list[treasury.Moment] = []
    for day in range(config["days"]):
        count = story.rng.randint(per_day["min"], per_day["max"])
        for offset in sorted(story.rng.randrange(86400) for _ in range(count)):
            kind = story.rng.choices(kinds, weights)[0]
            found.append((start + timedelta(days=day, seconds=offset), _EVENTS[kind]))
    return found


def play_scenario(
    tenant: Tenant, chart: Chart, config: dict[str, Any], fake: SeededNames
) -> Iterator[None]:
    """Play the scenario's business events, oldest first, ending at the tenant's now.

    A step per business event (a millisecond or two of work): the caller may let other work run
    between steps. Each tenant's story reads only its own state, so interleaving changes nothing.
    """
    now = tenant.clock.now()
    story = Story(tenant, chart, config, fake, random.Random(tenant.seed), now)
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
    # Fixed moments first: at an equal time they play before the day's business (a stable sort).
    moments = treasury.moments(start, now, config) + _business(story, start)
    for when, event in sorted(moments, key=lambda moment: moment[0]):
        tenant.schedule.run_due(tenant.store, when)
        event(story, when)
        yield
    tenant.schedule.run_due(tenant.store, now)
