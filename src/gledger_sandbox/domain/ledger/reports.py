"""Reports of a ledger, derived from its posted lines: profit and loss, cash flow, trial balance.

Nothing is stored twice: every figure is summed from the per-day posted totals the store keeps
per account (``day_totals``), so a report costs O(accounts x days with postings in its range),
never a scan of the entries. Pending and voided entries never count; a reversal counts on its
own effective day, as the new entry it is.

Which accounts count where in the P&L (by code first, then kind):

    code refunds                      -> refunds         debits - credits
    code platform_fee, platform_fees  -> platform_fees   debits - credits
    code tax, sales_tax               -> tax             credits - debits
    any other revenue account         -> revenue         credits - debits
    any other expense account         -> other_expenses  debits - credits
    other assets, liabilities, equity -> not counted

``net = revenue - refunds - platform_fees - other_expenses``: revenue is booked net of tax (a
checkout credits revenue and tax separately), so tax is reported beside the net, not in it.
Cash accounts are asset accounts coded ``cash``, ``bank``, ``cash_*`` or ``bank_*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from gledger_sandbox.domain.errors import FieldError, MalformedInput
from gledger_sandbox.domain.ledger.day_totals import total
from gledger_sandbox.domain.ledger.models import Account, AccountKind
from gledger_sandbox.domain.ledger.money import CURRENCIES, Direction, Totals
from gledger_sandbox.domain.ledger.store import LedgerStore

MAX_CASH_FLOW_DAYS = 366
"""Cash-flow buckets are listed one per day, empty days included: at most a leap year of them."""


class Category(StrEnum):
    REVENUE = "revenue"
    REFUNDS = "refunds"
    PLATFORM_FEES = "platform_fees"
    TAX = "tax"
    OTHER_EXPENSES = "other_expenses"


CATEGORY_BY_CODE = {
    "refunds": Category.REFUNDS,
    "platform_fee": Category.PLATFORM_FEES,
    "platform_fees": Category.PLATFORM_FEES,
    "tax": Category.TAX,
    "sales_tax": Category.TAX,
}
CATEGORY_BY_KIND = {
    AccountKind.REVENUE: Category.REVENUE,
    AccountKind.EXPENSE: Category.OTHER_EXPENSES,
}
CREDIT_CATEGORIES = frozenset({Category.REVENUE, Category.TAX})
"""Categories that grow by credits; the others grow by debits."""
CASH_CODES = frozenset({"cash", "bank"})
CASH_PREFIXES = ("cash_", "bank_")


def category(account: Account) -> Category | None:
    """Where the account counts in the P&L, or None when it does not."""
    return CATEGORY_BY_CODE.get(account.code) or CATEGORY_BY_KIND.get(account.kind)


def is_cash(account: Account) -> bool:
    return account.kind is AccountKind.ASSET and (
        account.code in CASH_CODES or account.code.startswith(CASH_PREFIXES)
    )


@dataclass(frozen=True, slots=True)
class Period:
    """UTC days from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """What one account contributed to a report: its posted totals over the report's span."""

    account: Account
    totals: Totals
    category: Category | None = None

    @property
    def amount(self) -> int:
        """The totals signed the way the report reads them (by category, else by normal side)."""
        if self.category is None:
            return self.totals.signed(self.account.normal_balance)
        side = Direction.CREDIT if self.category in CREDIT_CATEGORIES else Direction.DEBIT
        return self.totals.signed(side)


@dataclass(frozen=True, slots=True)
class ProfitAndLoss:
    ledger_id: str
    currency: str | None
    period: Period
    by_category: dict[Category, int]
    accounts: tuple[AccountActivity, ...]
    generated_at: datetime

    @property
    def net(self) -> int:
        c = self.by_category
        return (
            c[Category.REVENUE]
            - c[Category.REFUNDS]
            - c[Category.PLATFORM_FEES]
            - c[Category.OTHER_EXPENSES]
        )


@dataclass(frozen=True, slots=True)
class CashFlowDay:
    day: date
    inflow: int
    outflow: int

    @property
    def net(self) -> int:
        return self.inflow - self.outflow


@dataclass(frozen=True, slots=True)
class CashFlow:
    ledger_id: str
    currency: str | None
    period: Period
    days: tuple[CashFlowDay, ...]
    accounts: tuple[AccountActivity, ...]
    generated_at: datetime

    @property
    def inflow(self) -> int:
        return sum(d.inflow for d in self.days)

    @property
    def outflow(self) -> int:
        return sum(d.outflow for d in self.days)


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    """One currency's column sums in a trial balance."""

    currency: str
    debits: int
    credits: int
    debit_balances: int
    credit_balances: int

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits and self.debit_balances == self.credit_balances


@dataclass(frozen=True, slots=True)
class TrialBalance:
    ledger_id: str
    currency: str | None
    as_of: datetime
    accounts: tuple[AccountActivity, ...]
    totals: tuple[CurrencyTotals, ...]
    generated_at: datetime


def debit_balance(totals: Totals) -> int:
    """The classic two-column trial balance: a net debit goes left..."""
    return max(totals.debits - totals.credits, 0)


def credit_balance(totals: Totals) -> int:
    """...and a net credit goes right."""
    return max(totals.credits - totals.debits, 0)


# -- the reports -----------------------------------------------------------------------------


def profit_and_loss(
    store: LedgerStore, ledger_id: str, period: Period, currency: str | None
) -> ProfitAndLoss:
    """Revenue, refunds, platform fees, tax and other expenses posted in the period, and net."""
    _check_period(period)
    accounts, currency = _accounts_in(store, ledger_id, currency)
    by_category = dict.fromkeys(Category, 0)
    counted = []
    for account in accounts:
        where = category(account)
        if where is None:
            continue
        activity = AccountActivity(
            account, store.day_totals(account.id).sum_between(period.start, period.end), where
        )
        by_category[where] += activity.amount
        counted.append(activity)
    return ProfitAndLoss(
        ledger_id, currency, period, by_category, tuple(counted), store.clock.now()
    )


def cash_flow(store: LedgerStore, ledger_id: str, period: Period, currency: str | None) -> CashFlow:
    """Per UTC day of the period, debits (inflow) and credits (outflow) of the cash accounts."""
    _check_period(period)
    if period.days > MAX_CASH_FLOW_DAYS:
        raise MalformedInput(
            "validation.range_too_long",
            f"A cash flow lists one bucket per day: at most {MAX_CASH_FLOW_DAYS} days.",
            _range_errors(
                "validation.range_too_long",
                f"to is more than {MAX_CASH_FLOW_DAYS} days after from.",
            ),
        )
    accounts, currency = _accounts_in(store, ledger_id, currency)
    inflow = dict.fromkeys(period.each_day(), 0)
    outflow = dict.fromkeys(inflow, 0)
    counted = []
    for account in filter(is_cash, accounts):
        days = list(store.day_totals(account.id).between(period.start, period.end))
        for day, totals in days:
            inflow[day] += totals.debits
            outflow[day] += totals.credits
        counted.append(AccountActivity(account, total(totals for _day, totals in days)))
    buckets = tuple(CashFlowDay(day, inflow[day], outflow[day]) for day in inflow)
    return CashFlow(ledger_id, currency, period, buckets, tuple(counted), store.clock.now())


def trial_balance(
    store: LedgerStore, ledger_id: str, as_of: datetime | None, currency: str | None
) -> TrialBalance:
    """Every account's posted debits, credits and balance as of an instant, and column sums."""
    if currency is not None:
        _check_currency(currency)
    now = store.clock.now()
    moment = now if as_of is None else as_of
    store.ledger(ledger_id)
    rows = tuple(
        AccountActivity(account, store.posted_as_of(account, moment))
        for account in _ledger_accounts(store, ledger_id)
        if currency is None or account.currency == currency
    )
    sums: dict[str, list[int]] = {}
    for row in rows:
        column = sums.setdefault(row.account.currency, [0, 0, 0, 0])
        column[0] += row.totals.debits
        column[1] += row.totals.credits
        column[2] += debit_balance(row.totals)
        column[3] += credit_balance(row.totals)
    totals = tuple(CurrencyTotals(code, *sums[code]) for code in sorted(sums))
    return TrialBalance(ledger_id, currency, moment, rows, totals, now)


# -- shared steps ----------------------------------------------------------------------------


def _range_errors(code: str, detail: str) -> tuple[FieldError, ...]:
    return (FieldError("/query/from", code, detail), FieldError("/query/to", code, detail))


def _check_period(period: Period) -> None:
    if period.start >= period.end:
        detail = "from must be a day before to (from is inclusive, to exclusive)."
        raise MalformedInput(
            "validation.invalid_range", detail, _range_errors("validation.invalid_range", detail)
        )


def _check_currency(currency: str) -> None:
    if currency not in CURRENCIES:
        raise MalformedInput.at(
            "/query/currency", "validation.unknown_currency", f"{currency} is no ISO 4217 code."
        )


def _ledger_accounts(store: LedgerStore, ledger_id: str) -> list[Account]:
    return [store.fetch(seq) for seq in store.index(("accounts", ledger_id))]


def _accounts_in(
    store: LedgerStore, ledger_id: str, currency: str | None
) -> tuple[list[Account], str | None]:
    """The ledger's accounts in the report's currency, and that currency.

    Without one asked for, the ledger's only currency; several are ambiguous (400).
    """
    store.ledger(ledger_id)
    if currency is not None:
        _check_currency(currency)
    accounts = _ledger_accounts(store, ledger_id)
    if currency is None:
        used = sorted({account.currency for account in accounts})
        if len(used) > 1:
            raise MalformedInput.at(
                "/query/currency",
                "validation.currency_required",
                f"The ledger's accounts hold {', '.join(used)}: say which currency to report.",
            )
        currency = used[0] if used else None
    return [a for a in accounts if a.currency == currency], currency
