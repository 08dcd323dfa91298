"""Simulations: a charge, a refund, a payout returned by the bank, a bank statement.

Each runs one domain command on the caller's tenant (``domain/sandbox/simulations.py``), so it emits
the events the real business event would, and holds every invariant of the ledger.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.responses import idempotent, json_response, tenant
from gledger_sandbox.api.serializers import simulations as shapes
from gledger_sandbox.api.serializers.settlements import payout
from gledger_sandbox.domain.errors import InvalidRequest
from gledger_sandbox.domain.ledger.entry_rules import named_account
from gledger_sandbox.domain.sandbox import simulations
from gledger_sandbox.domain.sandbox.simulations import ChargeSpec, StatementSpec

STATEMENT_DAYS = 7
"""A statement covers the last week up to now unless the request names its window."""


@idempotent("simulateCharge")
async def simulate_charge(body: dict[str, Any]) -> Response:
    spec = ChargeSpec(
        ledger_id=body["ledger_id"],
        amount=body["amount"],
        tax=body.get("tax", 0),
        fee=body.get("fee", 0),
        invoice=body.get("kind", "checkout") == "invoice",
        pending=body.get("status", "posted") == "pending",
        description=body.get("description"),
        metadata=body.get("metadata") or {},
    )
    entries = simulations.simulate_charge(tenant().store, spec)
    return json_response({"entries": [serializers.entry(e) for e in entries]}, 201)


@idempotent("simulateRefund")
async def simulate_refund(body: dict[str, Any]) -> Response:
    refund = simulations.simulate_refund(
        tenant().store, body["entry_id"], body.get("amount"), body.get("description")
    )
    return json_response(serializers.entry(refund), 201)


@idempotent("simulatePayoutReturn")
async def simulate_payout_return(body: dict[str, Any]) -> Response:
    returned = tenant().payouts.bank_return(body["payout_id"], body.get("failure_code", "declined"))
    return json_response(payout(returned))


@idempotent("simulateBankStatement")
async def simulate_bank_statement(body: dict[str, Any]) -> Response:
    store = tenant().store
    store.ledger(body["ledger_id"], "/ledger_id")
    account, errors = named_account(
        store, body["ledger_id"], body.get("account_id"), body.get("account_code")
    )
    if errors:
        raise InvalidRequest.collected(errors)
    assert account is not None
    now = store.clock.now()
    # By default up to now, now included: a line posted this instant is on the statement.
    until = serializers.optional_timestamp(body, "until") or now + timedelta(seconds=1)
    since = serializers.optional_timestamp(body, "since") or until - timedelta(days=STATEMENT_DAYS)
    if since >= until:
        raise InvalidRequest.at("/until", "validation.invalid_range", "until must be after since.")
    asked = body.get("mismatches") or {}
    records, mismatches = simulations.simulate_statement(
        store,
        StatementSpec(
            account.id,
            since,
            until,
            missing=asked.get("missing", 0),
            amount_changed=asked.get("amount_changed", 0),
            unexpected=asked.get("unexpected", 0),
            seed=body.get("seed", 0),
        ),
    )
    return json_response(shapes.statement(account, since, until, records, mismatches))
