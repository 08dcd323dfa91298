"""Fault rules of the caller's tenant, and the record of the faults they injected."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, tenant
from gledger_sandbox.api.serializers import faults as shapes
from gledger_sandbox.domain.errors import InvalidRequest


@idempotent("createFault")
async def create_fault(body: dict[str, Any]) -> Response:
    caller = tenant()
    spec = shapes.fault_spec(body, caller.clock)
    endpoint_id = spec.match.webhook_endpoint_id
    if endpoint_id is not None and endpoint_id not in caller.webhooks.endpoints:
        raise InvalidRequest.at(
            "/match/webhook_endpoint_id",
            "validation.invalid_value",
            f"No webhook endpoint {endpoint_id!r} in this tenant.",
        )
    rule = caller.faults.create(spec)
    return json_response(shapes.fault(rule, caller.clock), 201)


async def list_faults(limit: int = 50, cursor: str | None = None, order: str = "desc") -> Response:
    caller = tenant()
    found = caller.faults.page(page_request(limit, cursor, order))
    return json_response(serializers.page(found, lambda rule: shapes.fault(rule, caller.clock)))


async def get_fault(fault_id: str) -> Response:
    caller = tenant()
    return json_response(shapes.fault(caller.faults.get(fault_id), caller.clock))


async def delete_fault(fault_id: str) -> Response:
    tenant().faults.delete(fault_id)
    return Response(status_code=204)


async def list_fault_injections(
    limit: int = 50, cursor: str | None = None, order: str = "asc", fault_id: str | None = None
) -> Response:
    found = tenant().faults.list_injections(page_request(limit, cursor, order), fault_id)
    return json_response(serializers.page(found, shapes.injection))
