"""The JSON shape of the API keys a tenant makes (the secret only in the answer that made it)."""

from __future__ import annotations

from datetime import datetime

from gledger_sandbox.api.serializers import Json, timestamp
from gledger_sandbox.domain.sandbox.api_keys import ApiKey


def api_key(found: ApiKey, now: datetime) -> Json:
    return {
        "id": found.id,
        "object": "api_key",
        "name": found.name,
        "scopes": sorted(found.scopes),
        "status": found.status(now),
        "hint": found.hint,
        "created_at": timestamp(found.created_at),
        "expires_at": timestamp(found.expires_at),
        "rotated_at": timestamp(found.rotated_at),
        "previous_secret_expires_at": timestamp(found.previous_until),
        "revoked_at": timestamp(found.revoked_at),
        "secret": None,
    }


def api_key_with_secret(found: ApiKey, secret: str, now: datetime) -> Json:
    return {**api_key(found, now), "secret": secret}
