"""The JSON shape of the reports (P&L, cash flow, trial balance), and their date parameters."""

from __future__ import annotations

import re
from datetime import date

from gledger_sandbox.api.serializers import Json, timestamp
from gledger_sandbox.domain.errors import MalformedInput
from gledger_sandbox.domain.ledger.reports import (
    AccountActivity,
    CashFlow,
    Category,
    CurrencyTotals,
    Period,
    ProfitAndLoss,
    TrialBalance,
    credit_balance,
    debit_balance,
)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str, pointer: str) -> date:
    """A calendar day written YYYY-MM-DD (the spec's pattern catches most else; this the rest,
    such as February 30)."""
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedInput.at(
            pointer, "validation.invalid_value", f"{text!r} is not a date (YYYY-MM-DD)."
        ) from None


def period(start: str, end: str) -> Period:
    return Period(parse_day(start, "/query/from"), parse_day(end, "/query/to"))


def _period(found: Period) -> Json:
    return {"from": found.start.isoformat(), "to": found.end.isoformat()}


def _activity(found: AccountActivity) -> Json:
    account = found.account
    return {
        "account_id": account.id,
        "code": account.code,
        "kind": account.kind.value,
        "debits": found.totals.debits,
        "credits": found.totals.credits,
        "amount": found.amount,
    }


def profit_and_loss(found: ProfitAndLoss) -> Json:
    amounts = {category.value: found.by_category[category] for category in Category}
    return {
        "ledger_id": found.ledger_id,
        "currency": found.currency,
        **_period(found.period),
        **amounts,
        "net": found.net,
        "accounts": [
            {**_activity(a), "category": a.category.value if a.category else None}
            for a in found.accounts
        ],
        "generated_at": timestamp(found.generated_at),
    }


def cash_flow(found: CashFlow) -> Json:
    return {
        "ledger_id": found.ledger_id,
        "currency": found.currency,
        **_period(found.period),
        "inflow": found.inflow,
        "outflow": found.outflow,
        "net": found.inflow - found.outflow,
        "buckets": [
            {"day": d.day.isoformat(), "inflow": d.inflow, "outflow": d.outflow, "net": d.net}
            for d in found.days
        ],
        "accounts": [_activity(a) for a in found.accounts],
        "generated_at": timestamp(found.generated_at),
    }


def _trial_balance_row(found: AccountActivity) -> Json:
    account = found.account
    return {
        "account_id": account.id,
        "code": account.code,
        "name": account.name,
        "kind": account.kind.value,
        "normal_balance": account.normal_balance.value,
        "currency": account.currency,
        "debits": found.totals.debits,
        "credits": found.totals.credits,
        "balance": found.amount,
        "debit_balance": debit_balance(found.totals),
        "credit_balance": credit_balance(found.totals),
    }


def _currency_totals(found: CurrencyTotals) -> Json:
    return {
        "currency": found.currency,
        "debits": found.debits,
        "credits": found.credits,
        "debit_balances": found.debit_balances,
        "credit_balances": found.credit_balances,
        "balanced": found.balanced,
    }


def trial_balance(found: TrialBalance) -> Json:
    return {
        "ledger_id": found.ledger_id,
        "currency": found.currency,
        "as_of": timestamp(found.as_of),
        "accounts": [_trial_balance_row(row) for row in found.accounts],
        "totals": [_currency_totals(column) for column in found.totals],
        "generated_at": timestamp(found.generated_at),
    }
