"""Payouts: create (funds reserved at once), list, read, cancel while pending."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, tenant
from gledger_sandbox.api.serializers import page
from gledger_sandbox.api.serializers.settlements import payout, payout_spec
from gledger_sandbox.domain.treasury.settlement_models import PayoutStatus


@idempotent("createPayout")
async def create_payout(body: dict[str, Any]) -> Response:
    return json_response(payout(tenant().payouts.create(payout_spec(body))), 201)


async def list_payouts(
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    ledger_id: str | None = None,
    status: str | None = None,
) -> Response:
    found = tenant().payouts.list(
        page_request(limit, cursor, order),
        ledger_id=ledger_id,
        status=PayoutStatus(status) if status else None,
    )
    return json_response(page(found, payout))


async def get_payout(payout_id: str) -> Response:
    return json_response(payout(tenant().payouts.get(payout_id)))


@idempotent("cancelPayout")
async def cancel_payout(payout_id: str) -> Response:
    return json_response(payout(tenant().payouts.cancel(payout_id)))
