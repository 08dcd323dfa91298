"""The merchant's money going out: payouts to the bank and weekly tax remittances.

Both go through the sandbox's own commands at their time in the story, and the tenant's
schedule plays the clock between business events, so history reads as it would have happened:
payouts older than two days are paid, recent ones in transit or pending. A few payouts sit at
fixed places so every fresh sandbox shows each state: the very first payout bounces (a magic
amount, ``failed``), one is canceled, one is in transit and one still pending at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gledger_sandbox.domain.errors import InvalidRequest
from gledger_sandbox.domain.treasury.settlement_models import AccountRef, PayoutSpec, SettlementSpec
from gledger_sandbox.seeding.story import Story

Moment = tuple[datetime, Callable[[Story, datetime], None]]


def payout(
    story: Story, when: datetime, amount: int | None = None, cancel_after: timedelta | None = None
) -> None:
    """A payout of ``amount``, or of a share of the cash available; canceled if asked."""
    if amount is None:
        cash = story.account("cash")
        share = story.config["payouts"]["share"]
        percent = story.rng.randint(share["min"], share["max"])
        amount = cash.available.signed(cash.normal_balance) * percent // 100
        if amount <= 0:
            return
    payouts = story.tenant.payouts
    made = payouts.create(
        PayoutSpec(story.chart.ledger_id, amount, story.chart.currency, description="Payout"),
        at=when,
    )
    if cancel_after is not None:
        payouts.cancel(made.id, at=when + cancel_after)


def remit_tax(story: Story, week_end: datetime) -> None:
    """Settle what the tax account holds as of the week's end into the bank (if anything)."""
    plan = story.config["tax_settlement"]
    spec = SettlementSpec(
        story.chart.ledger_id,
        AccountRef(account_code=plan["account"]),
        AccountRef(account_code=plan["contra"]),
        up_to=week_end,
        description="Sales tax remitted",
    )
    try:
        story.tenant.settlements.create(spec, at=week_end)
    except InvalidRequest as refused:
        if refused.code != "settlement.nothing_to_settle":
            raise


def moments(start: datetime, now: datetime, config: dict[str, Any]) -> list[Moment]:
    """The payouts at fixed places and the weekly tax settlements, with their times."""
    plan = config["payouts"]
    fixed: list[Moment] = [
        (start, functools.partial(payout, amount=plan["bounced_amount"])),
        (
            now - timedelta(days=plan["canceled_days_ago"]),
            functools.partial(payout, cancel_after=timedelta(minutes=15)),
        ),
        (now - timedelta(hours=plan["in_transit_hours_ago"]), payout),
        (now - timedelta(minutes=plan["pending_minutes_ago"]), payout),
    ]
    # Weeks that ended before now: the current week's tax is remitted after it ends.
    every = timedelta(days=config["tax_settlement"]["every_days"])
    week_ends = (start + every * week for week in range(1, int((now - start) / every) + 1))
    return fixed + [(week_end, remit_tax) for week_end in week_ends if week_end < now]
