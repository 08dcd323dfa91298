"""Simulations: business events of the fixture's chart, and a bank statement from the ledger.

In the spirit of Increase's and Modern Treasury's sandbox simulations, each causes what a real
integration would see, without hand-writing its preconditions. They write only through the
domain's commands (``create_entry``, the payouts' own return), so every invariant holds:

- a card checkout: debit cash (gross - fee) and platform_fee (fee), credit revenue (gross -
  tax) and tax (tax), as the merchant fixture posts it;
- an invoice paid: issued (debit accounts_receivable, credit revenue and tax), then paid
  (debit cash and platform_fee, credit accounts_receivable), the payment posted or pending;
- a refund of a checkout (whole or part, never more than is left): debit refunds and tax,
  credit cash, linked to the checkout's entry;
- the bank returning a payout (``Payouts.bank_return``);
- a bank statement of an account's posted lines in a window, with chosen mismatches (lines
  missing from it, amounts changed, records the ledger does not have), drawn from a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import FieldError, InvalidRequest, NotFound
from gledger_sandbox.domain.ledger.models import (
    Entry,
    EntrySpec,
    EntryStatus,
    LineSpec,
    Metadata,
    StatementLine,
)
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.postings import create_entry
from gledger_sandbox.domain.ledger.store import LedgerStore

CHECKOUT = "checkout_session"
INVOICE = "invoice"
REFUND = "refund"
MAX_STATEMENT_LINES = 1000
"""A statement holds at most this many lines (a reconciliation takes 1,000 records)."""


@dataclass(frozen=True, slots=True)
class ChargeSpec:
    ledger_id: str
    amount: int
    """What the customer pays (tax included), in minor units."""
    tax: int = 0
    fee: int = 0
    invoice: bool = False
    pending: bool = False
    """The payment entry is created pending (post or void it later)."""
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)


def _chart_check(store: LedgerStore, ledger_id: str, codes: tuple[str, ...]) -> None:
    missing = []
    for code in codes:
        try:
            store.account_by_code(ledger_id, code)
        except NotFound:
            missing.append(code)
    if missing:
        raise InvalidRequest.at(
            "/ledger_id",
            "simulation.chart_mismatch",
            f"Ledger {ledger_id} has no account {', '.join(missing)}: the simulation posts "
            "through the fixture's chart (cash, accounts_receivable, revenue, refunds, "
            "platform_fee, tax).",
        )


def _lines(*lines: tuple[str, Direction, int]) -> tuple[LineSpec, ...]:
    """Lines by account code; a zero amount (no tax, no fee) is left out."""
    return tuple(
        LineSpec(direction, amount, account_code=code)
        for code, direction, amount in lines
        if amount
    )


def simulate_charge(store: LedgerStore, spec: ChargeSpec) -> list[Entry]:
    """A checkout (one entry) or an invoice issued and paid (two), on the fixture's chart."""
    errors = [
        FieldError(f"/{name}", "simulation.invalid_split", f"{name} must be below amount.")
        for name, part in (("tax", spec.tax), ("fee", spec.fee))
        if part >= spec.amount
    ]
    if errors:
        raise InvalidRequest.collected(errors)
    store.ledger(spec.ledger_id, "/ledger_id")
    codes = ("cash", "platform_fee", "revenue", "tax")
    _chart_check(store, spec.ledger_id, codes + (("accounts_receivable",) if spec.invoice else ()))
    gross, tax, fee = spec.amount, spec.tax, spec.fee
    debit, credit = Direction.DEBIT, Direction.CREDIT
    status = EntryStatus.PENDING if spec.pending else EntryStatus.POSTED
    with store.uow.atomic():
        source = (INVOICE, store.ids.new("in")) if spec.invoice else (CHECKOUT, store.ids.new("cs"))
        made = []
        if spec.invoice:
            issued = _lines(
                ("accounts_receivable", debit, gross), ("revenue", credit, gross - tax),
                ("tax", credit, tax),
            )  # fmt: skip
            made.append(_post(store, spec, issued, "Invoice issued (simulated)", source))
            paid = _lines(
                ("cash", debit, gross - fee), ("platform_fee", debit, fee),
                ("accounts_receivable", credit, gross),
            )  # fmt: skip
            made.append(_post(store, spec, paid, "Invoice paid (simulated)", source, status))
        else:
            lines = _lines(
                ("cash", debit, gross - fee), ("platform_fee", debit, fee),
                ("revenue", credit, gross - tax), ("tax", credit, tax),
            )  # fmt: skip
            made.append(_post(store, spec, lines, "Card checkout (simulated)", source, status))
    return made


def _post(
    store: LedgerStore,
    spec: ChargeSpec,
    lines: tuple[LineSpec, ...],
    description: str,
    source: tuple[str, str],
    status: EntryStatus = EntryStatus.POSTED,
    related: tuple[str, ...] = (),
) -> Entry:
    entry_spec = EntrySpec(
        ledger_id=spec.ledger_id,
        lines=lines,
        status=status,
        description=spec.description or description,
        source_type=source[0],
        source_id=source[1],
        related_entry_ids=related,
        metadata=dict(spec.metadata),
    )
    return create_entry(store, entry_spec)


def simulate_refund(
    store: LedgerStore, entry_id: str, amount: int | None, description: str | None
) -> Entry:
    """Refund a posted checkout, whole (by default) or in part; its tax back in proportion."""
    charge = store.entries.get(entry_id)
    if charge is None:
        raise NotFound("entry", entry_id, "/entry_id")
    if charge.source_type != CHECKOUT or charge.status is not EntryStatus.POSTED:
        raise InvalidRequest.at(
            "/entry_id",
            "simulation.not_refundable",
            f"Entry {entry_id} is not a posted checkout (source_type {CHECKOUT}).",
        )
    credits = _credits(charge)
    gross = sum(credits.values())
    # Every refund of a checkout has the same source (refund, re_<the checkout's id>), so
    # the store's source index finds the earlier ones without a scan of the ledger.
    source = (REFUND, "re_" + charge.id.removeprefix("ent_"))
    refunded = 0
    for seq in store.index(("entries", "source", *source)):
        earlier = store.fetch(seq)
        if earlier.status is not EntryStatus.VOIDED:
            refunded += sum(_credits(earlier).values())
    left = gross - refunded
    amount = left if amount is None else amount
    if amount > left or amount <= 0:
        raise InvalidRequest.at(
            "/amount",
            "simulation.refund_exceeds_charge",
            f"{left} of the checkout's {gross} is left to refund.",
        )
    tax = credits.get("tax", 0) * amount // gross
    spec = ChargeSpec(charge.ledger_id, amount, description=description)
    _chart_check(store, charge.ledger_id, ("refunds", "cash") + (("tax",) if tax else ()))
    lines = _lines(
        ("refunds", Direction.DEBIT, amount - tax), ("tax", Direction.DEBIT, tax),
        ("cash", Direction.CREDIT, amount),
    )  # fmt: skip
    return _post(store, spec, lines, "Refund (simulated)", source, related=(charge.id,))


def _credits(entry: Entry) -> dict[str, int]:
    credits: dict[str, int] = {}
    for line in entry.lines:
        if line.direction is Direction.CREDIT:
            credits[line.account_code] = credits.get(line.account_code, 0) + line.amount
    return credits


@dataclass(frozen=True, slots=True)
class StatementSpec:
    account_id: str
    since: datetime
    until: datetime
    missing: int = 0
    amount_changed: int = 0
    unexpected: int = 0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class StatementRecord:
    id: str
    amount: int
    direction: Direction
    date: str
    reference: str
    description: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str
    """``missing`` (a line the statement leaves out), ``amount_changed``, ``unexpected``."""
    record_id: str | None
    entry_id: str | None
    line_id: str | None
    ledger_amount: int | None
    statement_amount: int | None


def simulate_statement(
    store: LedgerStore, spec: StatementSpec
) -> tuple[list[StatementRecord], list[Mismatch]]:
    """The bank's statement of the account's posted lines in [since, until), with mismatches."""
    lines: list[StatementLine] = []
    for posted in store.effective_between(spec.account_id, spec.since, spec.until):
        if len(lines) == MAX_STATEMENT_LINES:
            raise InvalidRequest.at(
                "/since",
                "simulation.too_many_lines",
                f"More than {MAX_STATEMENT_LINES} posted lines fall in the window: shorten it.",
            )
        lines.append(posted)
    if spec.missing + spec.amount_changed > len(lines):
        raise InvalidRequest.at(
            "/mismatches",
            "simulation.too_few_lines",
            f"The window holds {len(lines)} posted lines, fewer than the mismatches asked.",
        )
    rng = random.Random(spec.seed)
    chosen = rng.sample(range(len(lines)), spec.missing + spec.amount_changed)
    left_out, changed = set(chosen[: spec.missing]), set(chosen[spec.missing :])
    records: list[StatementRecord] = []
    mismatches: list[Mismatch] = []
    for index, posted in enumerate(lines):
        entry = store.entries[posted.entry_id]
        amount = posted.line.amount
        record_id = f"stmt-{index + 1:04d}"
        if index in left_out:
            mismatches.append(Mismatch("missing", None, entry.id, posted.line.id, amount, None))
            continue
        if index in changed:
            shown = amount + max(1, amount // 100)
            mismatches.append(
                Mismatch("amount_changed", record_id, entry.id, posted.line.id, amount, shown)
            )
            amount = shown
        reference = entry.external_id or entry.source_id or entry.id
        day = posted.effective_at.date().isoformat()
        text = entry.description or "Ledger posting"
        records.append(
            StatementRecord(record_id, amount, posted.line.direction, day, reference, text)
        )
    span = max((spec.until - spec.since).total_seconds(), 1.0)
    for extra in range(spec.unexpected):
        record_id = f"stmt-x{extra + 1:03d}"
        day = (spec.since + timedelta(seconds=rng.uniform(0, span))).date().isoformat()
        amount = rng.randint(100, 100_000)
        direction = rng.choice((Direction.DEBIT, Direction.CREDIT))
        records.append(
            StatementRecord(record_id, amount, direction, day, f"unknown-{extra + 1}", "Bank fee")
        )
        mismatches.append(Mismatch("unexpected", record_id, None, None, None, amount))
    return records, mismatches
