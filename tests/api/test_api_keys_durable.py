"""``serve --state-dir`` keeps the API keys a tenant made: a key made, one rotated and one
revoked before a SIGKILL answer the same after the restart."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.api.durable import KEY, Server, state

__all__ = ["state"]  # the fixture, shared with the other durability tests

KEYS = "/v1/sandbox/api-keys"


def _get(server: Server, secret: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v1/ledgers", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def test_made_keys_survive_a_restart(state: Path) -> None:
    server = Server(state).start()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as admin:
        kept = admin.post(KEYS, json={"name": "kept", "scopes": ["ledger.read"]}).json()
        rotated = admin.post(KEYS, json={"name": "rotated"}).json()
        revoked = admin.post(KEYS, json={"name": "revoked"}).json()
        new = admin.post(f"{KEYS}/{rotated['id']}/rotate").json()
        assert admin.post(f"{KEYS}/{revoked['id']}/revoke").status_code == 200
        before = admin.get(KEYS).json()
    server.stop(signal.SIGKILL)
    server.start()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as admin:
        assert admin.get(KEYS).json() == before
    assert _get(server, kept["secret"]).status_code == 200
    assert _get(server, new["secret"]).status_code == 200
    assert _get(server, rotated["secret"]).json()["code"] == "api_key_rotated"
    assert _get(server, revoked["secret"]).json()["code"] == "api_key_revoked"
    wrote = b"".join(path.read_bytes() for path in state.rglob("*") if path.is_file())
    assert kept["secret"].encode() not in wrote  # only digests are kept


def test_a_rotated_tenant_key_and_its_grace_survive_a_restart(state: Path) -> None:
    server = Server(state).start()
    created = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}, timeout=30)
    first = created.json()
    rotate = f"{server.url}/v1/sandbox/tenant/rotate-credentials"

    def rotated(secret: str, body: dict[str, object]) -> dict[str, str]:
        answer = httpx.post(
            rotate, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, str] = answer.json()
        return found

    second = rotated(first["api_key"], {})  # first's key stops at once
    third = rotated(second["api_key"], {"expire_previous_after_seconds": 3600})
    server.stop(signal.SIGKILL)
    server.start()
    assert _get(server, third["api_key"]).status_code == 200
    assert _get(server, second["api_key"]).status_code == 200  # its hour of grace goes on
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(first["client_id"], third["client_secret"]),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    rotated(third["api_key"], {"credentials": ["api_key"]})  # ends second's grace
    server.stop(signal.SIGTERM)
    server.start()
    assert _get(server, third["api_key"]).json()["code"] == "api_key_rotated"
    wrote = b"".join(path.read_bytes() for path in state.rglob("*") if path.is_file())
    assert second["api_key"].encode() not in wrote  # a replaced key is kept as a digest
