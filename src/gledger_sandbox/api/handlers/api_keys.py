"""API keys the caller's tenant makes, lists, rotates and revokes (``domain.sandbox.api_keys``),
and the rotation of the tenant's own key and client secret (``replaced_credentials``).

A new key holds at most the caller's own scopes: a credential cannot mint a stronger one.
Making and rotating take no ``Idempotency-Key``: a replay would have to keep the secret in the
tenant's idempotency keys, which snapshots and exports carry (and the server keeps a digest
of a secret only). Revoking twice is revoking once, so revoke takes one as any POST does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.responses import idempotent, json_response, services
from gledger_sandbox.api.security import principal
from gledger_sandbox.api.serializers import api_keys as shapes
from gledger_sandbox.domain.errors import AccessError, FieldError, InvalidRequest
from gledger_sandbox.domain.sandbox.api_keys import MAX_LIFETIME, ApiKeys
from gledger_sandbox.domain.sandbox.replaced_credentials import KINDS


def _keys() -> tuple[ApiKeys, datetime]:
    registry = services().registry
    return registry.api_keys, registry.now()


async def create_api_key(body: dict[str, Any]) -> Response:
    caller = principal()
    keys, now = _keys()
    scopes = frozenset(body.get("scopes") or caller.scopes)
    beyond = sorted(scopes - caller.scopes)
    if beyond:
        detail = f"A key can hold only the caller's own scopes; this credential lacks {beyond}."
        at = [
            FieldError(f"/scopes/{i}", "insufficient_scope", detail)
            for i, scope in enumerate(body["scopes"])
            if scope in beyond
        ]
        raise AccessError("insufficient_scope", detail, tuple(at))
    expiry = _expiry(body, now)
    if caller.expires_at is not None:  # a made key's keys may not outlive it
        if expiry is not None and expiry > caller.expires_at:
            pointer = "/ttl_seconds" if body.get("ttl_seconds") is not None else "/expires_at"
            raise InvalidRequest.at(
                pointer,
                "validation.invalid_value",
                "A key made with an expiring key may not outlive it: it expires at "
                f"{serializers.timestamp(caller.expires_at)}.",
            )
        expiry = expiry or caller.expires_at
    made, secret = keys.create(caller.tenant.id, body["name"], scopes, expiry, now)
    location = {"Location": f"/v1/sandbox/api-keys/{made.id}"}
    return json_response(shapes.api_key_with_secret(made, secret, now), 201, location)


def _expiry(body: dict[str, Any], now: datetime) -> datetime | None:
    """When a new key stops working: ``expires_at`` or ``ttl_seconds`` from now (or never)."""
    at, ttl = body.get("expires_at"), body.get("ttl_seconds")
    if at is not None and ttl is not None:
        raise InvalidRequest.at(
            "/ttl_seconds", "validation.invalid_value", "Give expires_at or ttl_seconds, not both."
        )
    if ttl is not None:
        return now + timedelta(seconds=ttl)
    if at is None:
        return None
    moment = serializers.parse_timestamp(at, "/expires_at")
    if not now < moment <= now + MAX_LIFETIME:
        raise InvalidRequest.at(
            "/expires_at",
            "validation.invalid_value",
            f"expires_at must be in the future, and at most {MAX_LIFETIME.days} days away.",
        )
    return moment


async def list_api_keys() -> Response:
    keys, now = _keys()
    made = keys.of(principal().tenant.id)
    return json_response({"data": [shapes.api_key(key, now) for key in made]})


async def get_api_key(api_key_id: str) -> Response:
    keys, now = _keys()
    return json_response(shapes.api_key(keys.get(principal().tenant.id, api_key_id), now))


async def rotate_api_key(api_key_id: str, body: dict[str, Any] | None = None) -> Response:
    keys, now = _keys()
    grace = timedelta(seconds=(body or {}).get("expire_previous_after_seconds", 0))
    rotated, secret = keys.rotate(principal().tenant.id, api_key_id, grace, now)
    return json_response(shapes.api_key_with_secret(rotated, secret, now))


@idempotent("revokeApiKey")
async def revoke_api_key(api_key_id: str) -> Response:
    keys, now = _keys()
    return json_response(shapes.api_key(keys.revoke(principal().tenant.id, api_key_id, now), now))


async def rotate_tenant_credentials(body: dict[str, Any] | None = None) -> Response:
    body = body or {}
    tenant = principal().tenant
    kinds = [kind for kind in KINDS if kind in body.get("credentials", KINDS)]
    grace = timedelta(seconds=body.get("expire_previous_after_seconds", 0))
    revoke = bool(body.get("revoke_access_tokens", False))
    until = services().registry.rotate(tenant, kinds, grace, revoke)
    return json_response(
        {
            "tenant_id": tenant.id,
            "api_key": tenant.api_key,
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "rotated": kinds,
            "previous_expires_at": serializers.timestamp(until),
            "access_tokens_revoked": revoke,
        }
    )
