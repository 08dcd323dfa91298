"""Real in-memory domain objects for the domain tests (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger.models import (
    AccountFlags,
    AccountKind,
    AccountSpec,
    EntrySpec,
    LineSpec,
)
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.store import LedgerStore

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
D, C = Direction.DEBIT, Direction.CREDIT


def new_store(seed: int = 7) -> LedgerStore:
    return LedgerStore(IdGenerator(seed), SandboxClock(frozen_at=START))


def chart(store: LedgerStore) -> tuple[str, dict[str, str]]:
    ledger = store.create_ledger("Books", None, {})
    accounts = {}
    for code, kind, currency, flags in [
        ("cash", AccountKind.ASSET, "USD", AccountFlags()),
        ("revenue", AccountKind.REVENUE, "USD", AccountFlags()),
        ("tax", AccountKind.LIABILITY, "USD", AccountFlags()),
        ("wallet", AccountKind.LIABILITY, "USD", AccountFlags(debits_must_not_exceed_credits=True)),
        ("cash_eur", AccountKind.ASSET, "EUR", AccountFlags()),
        ("revenue_eur", AccountKind.REVENUE, "EUR", AccountFlags()),
    ]:
        accounts[code] = store.create_account(
            ledger.id, AccountSpec(code, code, kind, currency, flags=flags)
        ).id
    return ledger.id, accounts


def spec(
    ledger_id: str, accounts: dict[str, str], *lines: tuple[str, Direction, int], **extra: object
) -> EntrySpec:
    return EntrySpec(
        ledger_id,
        tuple(
            LineSpec(direction, amount, account_id=accounts[code])
            for code, direction, amount in lines
        ),
        **extra,  # type: ignore[arg-type]
    )
