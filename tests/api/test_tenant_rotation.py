"""Rotating a tenant's own API key and OAuth client secret, over real HTTP with httpx and with
authlib as the OAuth client: the old secrets stop (at once or after a grace), the new ones
work, tokens end when asked, and other tenants and made keys are untouched."""

from __future__ import annotations

import time
from typing import Any

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from gledger_sandbox.domain.sandbox.credentials import shard_of
from tests.api.test_api_keys import _as, _refused
from tests.conftest import Sandbox, ServerThread, new_sandbox

ROTATE = "/v1/sandbox/tenant/rotate-credentials"


def _rotate(box: Sandbox, **body: Any) -> dict[str, Any]:
    answer = box.client.post(ROTATE, json=body)
    assert answer.status_code == 200, answer.text
    rotated: dict[str, Any] = answer.json()
    box.client.headers["Authorization"] = f"Bearer {rotated['api_key']}"
    return rotated


def _token(server: ServerThread, client_id: str, secret: str) -> dict[str, Any]:
    with OAuth2Client(client_id=client_id, client_secret=secret, timeout=30) as oauth:
        token: dict[str, Any] = oauth.fetch_token(
            f"{server.url}/oauth/token", grant_type="client_credentials"
        )
        return token


def test_the_old_key_stops_at_once_and_the_new_one_holds_every_scope(
    server: ServerThread, sandbox: Sandbox
) -> None:
    old = sandbox.credentials
    rotated = _rotate(sandbox)
    assert rotated["tenant_id"] == old["tenant_id"] and rotated["client_id"] == old["client_id"]
    assert rotated["rotated"] == ["api_key", "client_secret"]
    assert rotated["api_key"] != old["api_key"] and shard_of(rotated["api_key"]) == 0
    assert rotated["client_secret"] != old["client_secret"]
    assert rotated["access_tokens_revoked"] is False
    with _as(server, old["api_key"]) as before, _as(server, rotated["api_key"]) as after:
        refused = before.get("/v1/ledgers")
        _refused(refused, 401, "api_key_rotated")
        assert "WWW-Authenticate" in refused.headers and refused.json()["request_id"]
        assert after.get("/v1/sandbox/tenant").json()["tenant_id"] == old["tenant_id"]
        assert after.post("/v1/ledgers", json={"name": "After"}).status_code == 201
        assert after.post("/v1/sandbox/api-keys", json={"name": "admin"}).status_code == 201


def test_the_old_client_secret_is_refused_and_the_new_one_grants_tokens(
    server: ServerThread, sandbox: Sandbox
) -> None:
    old = sandbox.credentials
    rotated = _rotate(sandbox, credentials=["client_secret"])
    assert rotated["rotated"] == ["client_secret"] and rotated["api_key"] == old["api_key"]
    with pytest.raises(OAuthError) as refused:
        _token(server, old["client_id"], old["client_secret"])
    assert refused.value.error == "invalid_client"
    assert "rotation" in (refused.value.description or "")
    token = _token(server, old["client_id"], rotated["client_secret"])
    with _as(server, token["access_token"]) as client:
        assert client.get("/v1/ledgers").status_code == 200
    with _as(server, old["api_key"]) as unchanged:  # only the secret was asked for
        assert unchanged.get("/v1/ledgers").status_code == 200


def test_a_grace_keeps_the_old_secrets_working_until_it_ends(
    server: ServerThread, sandbox: Sandbox
) -> None:
    old = sandbox.credentials
    rotated = _rotate(sandbox, expire_previous_after_seconds=1)
    with _as(server, old["api_key"]) as before:
        assert before.get("/v1/ledgers").status_code == 200  # within the grace
        assert _token(server, old["client_id"], old["client_secret"])["access_token"]
        deadline = time.monotonic() + 10
        while before.get("/v1/ledgers").status_code == 200:
            assert time.monotonic() < deadline, "the old key never stopped"
            time.sleep(0.1)
        _refused(before.get("/v1/ledgers"), 401, "api_key_rotated")
    with pytest.raises(OAuthError):
        _token(server, old["client_id"], old["client_secret"])
    with _as(server, rotated["api_key"]) as after:
        assert after.get("/v1/ledgers").status_code == 200


def test_tokens_live_on_unless_revoked_and_a_second_rotation_ends_the_first_grace(
    server: ServerThread, sandbox: Sandbox
) -> None:
    old = sandbox.credentials
    token = _token(server, old["client_id"], old["client_secret"])["access_token"]
    first = _rotate(sandbox, expire_previous_after_seconds=3600, credentials=["api_key"])
    with _as(server, token) as bearer, _as(server, old["api_key"]) as oldest:
        assert bearer.get("/v1/ledgers").status_code == 200  # tokens are not ended by default
        assert oldest.get("/v1/ledgers").status_code == 200  # in its hour of grace
        second = _rotate(sandbox, credentials=["api_key"], revoke_access_tokens=True)
        assert second["access_tokens_revoked"] is True
        # Only the last replaced secret is kept: the first one is now simply unknown.
        _refused(oldest.get("/v1/ledgers"), 401, "unauthorized")
        _refused(bearer.get("/v1/ledgers"), 401, "unauthorized")
    with _as(server, first["api_key"]) as middle, _as(server, second["api_key"]) as newest:
        _refused(middle.get("/v1/ledgers"), 401, "api_key_rotated")
        assert newest.get("/v1/ledgers").status_code == 200


def test_other_tenants_and_made_keys_are_untouched(server: ServerThread, sandbox: Sandbox) -> None:
    made = sandbox.client.post("/v1/sandbox/api-keys", json={"name": "ci"}).json()
    other = new_sandbox(server)
    with other.client:
        _rotate(sandbox)
        assert other.client.get("/v1/ledgers").status_code == 200
    with _as(server, made["secret"]) as key:
        assert key.get("/v1/sandbox/tenant").json()["tenant_id"] == sandbox.id


def test_a_read_only_credential_and_a_bad_body_are_refused_and_change_nothing(
    server: ServerThread, sandbox: Sandbox
) -> None:
    made = sandbox.client.post(
        "/v1/sandbox/api-keys", json={"name": "read", "scopes": ["ledger.read"]}
    ).json()
    with _as(server, made["secret"]) as reader:
        _refused(reader.post(ROTATE, json={}), 403, "insufficient_scope")
    for body, pointer in (
        ({"credentials": ["password"]}, "/credentials/0"),
        ({"credentials": []}, "/credentials"),
        ({"expire_previous_after_seconds": 86401}, "/expire_previous_after_seconds"),
        ({"revoke": True}, "/revoke"),
    ):
        answer = sandbox.client.post(ROTATE, json=body)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["pointer"] for e in answer.json()["errors"]] == [pointer], answer.text
    assert sandbox.client.get("/v1/ledgers").status_code == 200  # the key still works
