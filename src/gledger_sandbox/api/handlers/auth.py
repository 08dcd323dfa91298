"""OAuth2 client credentials: a form-encoded grant, answered with a scoped bearer token."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api.responses import json_response, services


async def issue_token(body: dict[str, Any]) -> Response:
    registry = services().registry
    grant = registry.issue_token(body["client_id"], body["client_secret"], body.get("scope"))
    return json_response(
        {
            "access_token": grant.token,
            "token_type": "Bearer",
            "expires_in": int(registry.token_ttl.total_seconds()),
            "scope": " ".join(sorted(grant.scopes)),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
