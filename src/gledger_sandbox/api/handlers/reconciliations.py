"""Reconciliation runs: run one (or preview it with ``dry_run``), read it, page its results."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, tenant
from gledger_sandbox.api.serializers import reconciliations as shapes
from gledger_sandbox.domain.treasury.reconciliation import ItemStatus


@idempotent("createReconciliation")
async def create_reconciliation(body: dict[str, Any]) -> Response:
    spec = shapes.reconciliation_spec(body)
    found, items = tenant().reconciliations.run(spec)
    if spec.dry_run:
        return json_response(shapes.reconciliation(found, items), 200)
    return json_response(shapes.reconciliation(found), 201)


async def get_reconciliation(reconciliation_id: str) -> Response:
    return json_response(shapes.reconciliation(tenant().reconciliations.get(reconciliation_id)))


async def list_reconciliation_matches(
    reconciliation_id: str,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    status: str | None = None,
) -> Response:
    found = tenant().reconciliations.list_items(
        reconciliation_id,
        page_request(limit, cursor, order),
        ItemStatus(status) if status else None,
    )
    return json_response(serializers.page(found, shapes.match_item))
