"""A simulated bank statement as JSON: records ready for a reconciliation, its mismatches."""

from __future__ import annotations

from datetime import datetime

from gledger_sandbox.api.serializers import Json, timestamp
from gledger_sandbox.domain.ledger.models import Account
from gledger_sandbox.domain.sandbox.simulations import Mismatch, StatementRecord


def statement(
    account: Account,
    since: datetime,
    until: datetime,
    records: list[StatementRecord],
    mismatches: list[Mismatch],
) -> Json:
    return {
        "ledger_id": account.ledger_id,
        "account_id": account.id,
        "currency": account.currency,
        "since": timestamp(since),
        "until": timestamp(until),
        "records": [
            {
                "id": r.id,
                "amount": r.amount,
                "direction": r.direction.value,
                "date": r.date,
                "reference": r.reference,
                "description": r.description,
            }
            for r in records
        ],
        "mismatches": [
            {
                "kind": m.kind,
                "record_id": m.record_id,
                "entry_id": m.entry_id,
                "line_id": m.line_id,
                "ledger_amount": m.ledger_amount,
                "statement_amount": m.statement_amount,
            }
            for m in mismatches
        ],
    }
