"""The invariants of a journal entry, checked before anything changes.

At least two lines; every amount > 0; per currency, debits equal credits; each line's currency
is its account's; every account named once by id or by code, in the entry's ledger and active;
``lock_version`` as the line expects; account flags (``debits_must_not_exceed_credits`` and its
mirror) hold after the posting; an expiry only on a pending entry, in the future. Every
offending field is reported at once, with its JSON pointer.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from gledger_sandbox.domain.errors import (
    AccountDisabled,
    Conflict,
    FieldError,
    InsufficientFunds,
    InvalidRequest,
    LedgerError,
)
from gledger_sandbox.domain.ledger.models import Account, AccountStatus, EntryStatus, Line, LineSpec
from gledger_sandbox.domain.ledger.money import MAX_AMOUNT, Totals
from gledger_sandbox.domain.ledger.store import LedgerStore


def check_expiry(store: LedgerStore, status: EntryStatus, expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if status is not EntryStatus.PENDING:
        raise InvalidRequest.at(
            "/expires_at", "validation.invalid_value", "Only a pending entry can expire."
        )
    if expires_at <= store.clock.now():
        raise InvalidRequest.at(
            "/expires_at",
            "validation.invalid_value",
            "expires_at must be later than now on the sandbox clock "
            f"({store.clock.now().isoformat()}).",
        )


def _raise_collected(errors: list[FieldError], kind: type[LedgerError]) -> None:
    if errors:
        raise kind.collected(errors)


def named_account(
    store: LedgerStore,
    ledger_id: str,
    account_id: str | None,
    account_code: str | None,
    at: str = "/",
) -> tuple[Account | None, list[FieldError]]:
    """The account a request names by id, or by code in the ledger, and what is wrong with it.

    ``at`` is where the pair of fields sits: ``/lines/0/`` for ``/lines/0/account_id``,
    ``/contra_`` for ``/contra_account_id``. An unknown account raises ``NotFound``.
    """
    stem = at.rpartition("/")[2]
    if (account_id is None) == (account_code is None):
        detail = f"Give exactly one of {stem}account_id and {stem}account_code."
        return None, [FieldError(f"{at}account_id", "validation.required_field_missing", detail)]
    if account_id is not None:
        account = store.account(account_id, f"{at}account_id")
    else:
        assert account_code is not None
        account = store.account_by_code(ledger_id, account_code, f"{at}account_code")
    if account.ledger_id == ledger_id:
        return account, []
    detail = f"Account {account.id} belongs to ledger {account.ledger_id}, not {ledger_id}."
    return account, [FieldError(f"{at}account_id", "validation.account_not_in_ledger", detail)]


def resolve_lines(store: LedgerStore, ledger_id: str, specs: tuple[LineSpec, ...]) -> list[Line]:
    """Accounts and currencies of the lines, or every reason the lines are refused."""
    if len(specs) < 2:
        raise InvalidRequest.at(
            "/lines", "validation.too_few_lines", "An entry needs at least two lines."
        )
    errors: list[FieldError] = []
    lines: list[Line] = []
    amounts: dict[int, int] = {}
    """One int object per amount of the entry (a balanced pair holds the same amount twice)."""
    for i, spec in enumerate(specs):
        at = f"/lines/{i}"
        account, wrong = named_account(
            store, ledger_id, spec.account_id, spec.account_code, f"{at}/"
        )
        errors += wrong
        if account is None:
            continue
        if not 0 < spec.amount <= MAX_AMOUNT:
            errors.append(
                FieldError(
                    f"{at}/amount",
                    "validation.invalid_value",
                    f"Amounts are integers from 1 to {MAX_AMOUNT} minor units.",
                )
            )
        if spec.currency is not None and spec.currency != account.currency:
            errors.append(
                FieldError(
                    f"{at}/currency",
                    "validation.currency_mismatch",
                    f"Account {account.code} holds {account.currency}, not {spec.currency}.",
                )
            )
        lines.append(
            Line(
                id=store.ids.new("line"),
                account_id=account.id,
                account_code=account.code,
                direction=spec.direction,
                amount=amounts.setdefault(spec.amount, spec.amount),
                currency=account.currency,
                memo=spec.memo,
            )
        )
    _raise_collected(errors, InvalidRequest)
    _check_balanced(lines)
    _check_accounts_usable(store, specs, lines)
    return lines


def _check_balanced(lines: list[Line]) -> None:
    totals: dict[str, Totals] = defaultdict(Totals)
    for line in lines:
        totals[line.currency] = totals[line.currency].plus(line.direction, line.amount)
    errors = [
        FieldError(
            "/lines",
            "validation.unbalanced_entry",
            f"{currency}: debits {t.debits} do not equal credits {t.credits}.",
        )
        for currency, t in sorted(totals.items())
        if t.debits != t.credits
    ]
    _raise_collected(errors, InvalidRequest)


def _check_accounts_usable(
    store: LedgerStore, specs: tuple[LineSpec, ...], lines: list[Line]
) -> None:
    disabled: list[FieldError] = []
    stale: list[FieldError] = []
    for i, (spec, line) in enumerate(zip(specs, lines, strict=True)):
        account = store.accounts[line.account_id]
        if account.status is AccountStatus.DISABLED:
            disabled.append(
                FieldError(
                    f"/lines/{i}", "account.disabled", f"Account {account.code} is disabled."
                )
            )
        if spec.lock_version is not None and spec.lock_version != account.lock_version:
            stale.append(
                FieldError(
                    f"/lines/{i}/lock_version",
                    "conflict.lock_version_mismatch",
                    f"Account {account.code} is at lock_version {account.lock_version}, "
                    f"not {spec.lock_version}.",
                )
            )
    _raise_collected(disabled, AccountDisabled)
    _raise_collected(stale, Conflict)


def check_flags(store: LedgerStore, lines: tuple[Line, ...]) -> None:
    """After the lines are applied: does any account now break its flag?"""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        account = store.accounts[line.account_id]
        if account.id in seen:
            continue
        seen.add(account.id)
        available = account.available
        if account.flags.debits_must_not_exceed_credits and available.debits > available.credits:
            short = available.debits - available.credits
        elif account.flags.credits_must_not_exceed_debits and available.credits > available.debits:
            short = available.credits - available.debits
        else:
            continue
        errors.append(
            FieldError(
                f"/lines/{i}",
                "insufficient_funds",
                f"Account {account.code} would be short by {short} {account.currency}.",
            )
        )
    _raise_collected(errors, InsufficientFunds)
