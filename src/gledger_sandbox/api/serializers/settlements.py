"""The JSON shape of settlements and payouts, both ways."""

from __future__ import annotations

from dataclasses import replace

from gledger_sandbox.api.serializers import (
    RESOURCES,
    Json,
    optional_timestamp,
    timestamp,
)
from gledger_sandbox.domain.treasury.settlement_models import (
    AccountRef,
    Payout,
    PayoutSpec,
    Settlement,
    SettlementSpec,
)


def settlement(found: Settlement) -> Json:
    return {
        "id": found.id,
        "ledger_id": found.ledger_id,
        "account_id": found.account_id,
        "contra_account_id": found.contra_account_id,
        "currency": found.currency,
        "amount": found.amount,
        "direction": found.direction.value if found.direction else None,
        "up_to": timestamp(found.up_to),
        "status": found.status.value,
        "entry_id": found.entry_id,
        "failure_code": found.failure_code,
        "failure_message": found.failure_message,
        "created_at": timestamp(found.created_at),
        "completed_at": timestamp(found.completed_at),
        "failed_at": timestamp(found.failed_at),
        "description": found.description,
        "metadata": found.metadata,
    }


def payout(found: Payout) -> Json:
    return {
        "id": found.id,
        "ledger_id": found.ledger_id,
        "amount": found.amount,
        "currency": found.currency,
        "status": found.status.value,
        "source_account_id": found.source_account_id,
        "transit_account_id": found.transit_account_id,
        "destination_account_id": found.destination_account_id,
        "entry_ids": {
            "transit": found.entries.transit,
            "arrival": found.entries.arrival,
            "return": found.entries.returned,
        },
        "failure_code": found.failure_code,
        "failure_message": found.failure_message,
        "created_at": timestamp(found.created_at),
        "in_transit_at": timestamp(found.in_transit_at),
        "expected_arrival_at": timestamp(found.expected_arrival_at),
        "paid_at": timestamp(found.paid_at),
        "failed_at": timestamp(found.failed_at),
        "canceled_at": timestamp(found.canceled_at),
        "description": found.description,
        "metadata": found.metadata,
    }


def _account(body: Json, prefix: str) -> AccountRef:
    return AccountRef(body.get(prefix + "account_id"), body.get(prefix + "account_code"))


def settlement_spec(body: Json) -> SettlementSpec:
    return SettlementSpec(
        ledger_id=body["ledger_id"],
        account=_account(body, ""),
        contra=_account(body, "contra_"),
        up_to=optional_timestamp(body, "up_to"),
        description=body.get("description"),
        metadata=body.get("metadata") or {},
    )


def payout_spec(body: Json) -> PayoutSpec:
    """A payout request; an account named by neither id nor code keeps its default code."""
    spec = PayoutSpec(
        ledger_id=body["ledger_id"],
        amount=body["amount"],
        currency=body["currency"],
        description=body.get("description"),
        metadata=body.get("metadata") or {},
    )
    return replace(
        spec,
        source=_account_or(body, "source_", spec.source),
        transit=_account_or(body, "transit_", spec.transit),
        destination=_account_or(body, "destination_", spec.destination),
    )


def _account_or(body: Json, prefix: str, default: AccountRef) -> AccountRef:
    named = prefix + "account_id" in body or prefix + "account_code" in body
    return _account(body, prefix) if named else default


RESOURCES.update({Settlement: settlement, Payout: payout})
