"""Ledgers: the books that accounts and entries belong to."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, tenant


@idempotent("createLedger")
async def create_ledger(body: dict[str, Any]) -> Response:
    created = tenant().store.create_ledger(
        body["name"], body.get("description"), body.get("metadata") or {}
    )
    return json_response(serializers.ledger(created), 201)


async def list_ledgers(limit: int = 50, cursor: str | None = None, order: str = "desc") -> Response:
    found = tenant().store.list_ledgers(page_request(limit, cursor, order))
    return json_response(serializers.page(found, serializers.ledger))


async def get_ledger(ledger_id: str) -> Response:
    return json_response(serializers.ledger(tenant().store.ledger(ledger_id)))


async def update_ledger(ledger_id: str, body: dict[str, Any]) -> Response:
    changes = serializers.ledger_changes(body)
    return json_response(serializers.ledger(tenant().store.update_ledger(ledger_id, changes)))
