"""A tenant's allowed client networks: read them, or replace the list."""

from __future__ import annotations

from typing import Any

from connexion.context import scope as request_scope
from starlette.responses import Response

from gledger_sandbox.api.allowlist import client_address
from gledger_sandbox.api.responses import json_response, tenant
from gledger_sandbox.api.serializers.networks import allowed_networks
from gledger_sandbox.domain.errors import InvalidRequest
from gledger_sandbox.domain.sandbox.allowlist import admits, parse_networks


async def get_allowed_networks() -> Response:
    return json_response(allowed_networks(tenant(), client_address(request_scope)))


async def set_allowed_networks(body: dict[str, Any]) -> Response:
    """Replace the list; one that would shut out the address setting it is refused."""
    networks = parse_networks(body["networks"])
    client = client_address(request_scope)
    if not admits(networks, client):
        raise InvalidRequest.at(
            "/networks",
            "allowlist.excludes_caller",
            f"None of these networks holds {client or 'your address'}, the address this "
            "request comes from: the list would lock you out. Include it, or send [] for any.",
        )
    found = tenant()
    found.allowed_networks = networks
    return json_response(allowed_networks(found, client))
