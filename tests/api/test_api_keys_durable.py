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
