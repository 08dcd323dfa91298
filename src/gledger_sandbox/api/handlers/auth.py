"""OAuth2 client credentials (RFC 6749 4.4): a form-encoded grant, answered with a scoped token.

The client authenticates by HTTP Basic or by the ``client_id`` and ``client_secret`` form
fields (RFC 6749 2.3.1). Refusals are :class:`GrantRefused`, answered as RFC 6749 5.2 has it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api.problems import NO_STORE
from gledger_sandbox.api.responses import header, json_response, services
from gledger_sandbox.api.security import basic_credentials
from gledger_sandbox.domain.errors import FieldError, GrantRefused

CLIENT_FIELDS = ("client_id", "client_secret")


async def issue_token(body: dict[str, Any]) -> Response:
    registry = services().registry
    client_id, client_secret = client_of(body, header("Authorization"))
    grant = registry.issue_token(client_id, client_secret, body.get("scope"))
    return json_response(
        {
            "access_token": grant.token,
            "token_type": "Bearer",
            "expires_in": int(registry.token_ttl.total_seconds()),
            "scope": " ".join(sorted(grant.scopes)),
        },
        headers=NO_STORE,
    )


def client_of(form: dict[str, Any], authorization: str | None) -> tuple[str, str]:
    """The client id and secret the request authenticates with: Basic, or the form's fields.

    The form may repeat what the Basic header says, never differ from it (two clients in one
    request is ``invalid_request``); no client at all is ``invalid_client``.
    """
    sent = {name: form.get(name) for name in CLIENT_FIELDS}
    basic = basic_credentials(authorization)
    if basic is not None:
        differ = [
            FieldError(
                f"/{name}",
                "invalid_request",
                f"{name} differs from the one in the Authorization header: "
                "authenticate the client one way only.",
            )
            for name, value in zip(CLIENT_FIELDS, basic, strict=True)
            if sent[name] is not None and sent[name] != value
        ]
        if differ:
            raise GrantRefused.collected(differ)
        return basic
    client_id, client_secret = sent["client_id"], sent["client_secret"]
    if client_id is None and client_secret is None:
        raise GrantRefused(
            "invalid_client",
            "Authenticate the client: HTTP Basic with client_id and client_secret, "
            "or both as form fields.",
        )
    if client_id is None or client_secret is None:
        raise GrantRefused.collected(
            [
                FieldError(
                    f"/{name}",
                    "validation.required_field_missing",
                    f"{name} is required with {' and '.join(CLIENT_FIELDS)} as form fields.",
                )
                for name in CLIENT_FIELDS
                if sent[name] is None
            ]
        )
    return str(client_id), str(client_secret)
