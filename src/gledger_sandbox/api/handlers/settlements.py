"""Settlements: settle an account's balance into a contra account (now or at ``up_to``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, tenant
from gledger_sandbox.api.serializers import page
from gledger_sandbox.api.serializers.settlements import settlement, settlement_spec
from gledger_sandbox.domain.treasury.settlement_models import SettlementStatus


@idempotent("createSettlement")
async def create_settlement(body: dict[str, Any]) -> Response:
    created = tenant().settlements.create(settlement_spec(body))
    return json_response(settlement(created), 201)


async def list_settlements(
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    ledger_id: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
) -> Response:
    found = tenant().settlements.list(
        page_request(limit, cursor, order),
        ledger_id=ledger_id,
        account_id=account_id,
        status=SettlementStatus(status) if status else None,
    )
    return json_response(page(found, settlement))


async def get_settlement(settlement_id: str) -> Response:
    return json_response(settlement(tenant().settlements.get(settlement_id)))
