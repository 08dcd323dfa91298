"""API keys a tenant makes for itself, over real HTTP with httpx (and authlib for OAuth tokens):
scopes at most the caller's, rotation, revocation, expiry on wall time, and tenancy."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from gledger_sandbox.domain.sandbox.credentials import shard_of
from tests.conftest import Sandbox, ServerThread, new_sandbox

KEYS = "/v1/sandbox/api-keys"


def _make(box: Sandbox, **body: Any) -> dict[str, Any]:
    made = box.client.post(KEYS, json={"name": "ci", **body})
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    assert made.headers["Location"] == f"{KEYS}/{found['id']}"
    return found


def _as(server: ServerThread, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def _refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code, answer.text


def _until(condition: Any, seconds: float = 10) -> None:
    """Poll a wall-clock condition (a key's expiry) with a deadline; never a fixed sleep."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


def test_a_key_is_shown_once_carries_the_shard_and_holds_its_scopes(
    server: ServerThread, sandbox: Sandbox
) -> None:
    made = _make(sandbox, scopes=["ledger.read"])
    secret = made["secret"]
    assert secret.startswith("gls_test_s0_") and shard_of(secret) == 0
    assert made["status"] == "active" and made["scopes"] == ["ledger.read"]
    assert made["hint"] == f"gls_test_s0_...{secret[-4:]}" and made["expires_at"] is None
    listed = sandbox.client.get(KEYS)
    read = sandbox.client.get(f"{KEYS}/{made['id']}")
    assert listed.status_code == read.status_code == 200
    assert [k["id"] for k in listed.json()["data"]] == [made["id"]]
    for answer in (listed, read):
        assert secret not in answer.text and secret[12:] not in answer.text
    assert read.json()["secret"] is None
    with _as(server, secret) as key:
        assert key.get("/v1/ledgers").status_code == 200
        _refused(key.post("/v1/ledgers", json={"name": "No"}), 403, "insufficient_scope")
        _refused(key.get(KEYS), 403, "insufficient_scope")  # managing keys needs admin


def test_rotation_stops_the_old_secret_at_once_and_the_new_one_works(
    server: ServerThread, sandbox: Sandbox
) -> None:
    made = _make(sandbox)
    rotated = sandbox.client.post(f"{KEYS}/{made['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["id"] == made["id"] and new["secret"] != made["secret"]
    assert new["rotated_at"] is not None and shard_of(new["secret"]) == 0
    with _as(server, made["secret"]) as old, _as(server, new["secret"]) as fresh:
        _refused(old.get("/v1/ledgers"), 401, "api_key_rotated")
        assert "WWW-Authenticate" in old.get("/v1/ledgers").headers
        assert fresh.get("/v1/ledgers").status_code == 200
        assert fresh.post("/v1/ledgers", json={"name": "Yes"}).status_code == 201


def test_a_rotation_with_grace_keeps_the_old_secret_until_the_grace_ends(
    server: ServerThread, sandbox: Sandbox
) -> None:
    made = _make(sandbox)
    body = {"expire_previous_after_seconds": 1}
    rotated = sandbox.client.post(f"{KEYS}/{made['id']}/rotate", json=body).json()
    assert rotated["previous_secret_expires_at"] is not None
    with _as(server, made["secret"]) as old, _as(server, rotated["secret"]) as fresh:
        assert old.get("/v1/ledgers").status_code == 200  # within the grace period
        _until(lambda: old.get("/v1/ledgers").status_code == 401)
        _refused(old.get("/v1/ledgers"), 401, "api_key_rotated")
        assert fresh.get("/v1/ledgers").status_code == 200


def test_a_revoked_key_answers_401_and_stays_listed(server: ServerThread, sandbox: Sandbox) -> None:
    made = _make(sandbox)
    other = _make(sandbox, name="other")
    revoked = sandbox.client.post(f"{KEYS}/{made['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    with _as(server, made["secret"]) as gone, _as(server, other["secret"]) as kept:
        _refused(gone.get("/v1/ledgers"), 401, "api_key_revoked")
        assert kept.get("/v1/ledgers").status_code == 200
    again = sandbox.client.post(f"{KEYS}/{made['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    _refused(sandbox.client.post(f"{KEYS}/{made['id']}/rotate"), 409, "api_key.not_rotatable")
    listed = sandbox.client.get(KEYS).json()["data"]
    assert {k["id"]: k["status"] for k in listed} == {made["id"]: "revoked", other["id"]: "active"}


def test_a_key_can_revoke_itself(server: ServerThread, sandbox: Sandbox) -> None:
    made = _make(sandbox, scopes=["admin"])
    with _as(server, made["secret"]) as key:
        assert key.post(f"{KEYS}/{made['id']}/revoke").status_code == 200
        _refused(key.get(KEYS), 401, "api_key_revoked")


def test_a_key_expires_on_wall_time(server: ServerThread, sandbox: Sandbox) -> None:
    made = _make(sandbox, ttl_seconds=1)
    assert made["expires_at"] is not None
    with _as(server, made["secret"]) as key:
        # The sandbox clock is not the key's: advancing it a day changes nothing.
        advanced = sandbox.client.post("/v1/sandbox/clock/advance", json={"seconds": 86400})
        assert advanced.status_code == 200
        assert key.get("/v1/ledgers").status_code == 200
        _until(lambda: key.get("/v1/ledgers").status_code == 401)
        _refused(key.get("/v1/ledgers"), 401, "api_key_expired")
    assert sandbox.client.get(f"{KEYS}/{made['id']}").json()["status"] == "expired"
    _refused(sandbox.client.post(f"{KEYS}/{made['id']}/rotate"), 409, "api_key.not_rotatable")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, "/expires_at"),
        ({"expires_at": "2999-01-01T00:00:00Z"}, "/expires_at"),
        ({"expires_at": "2999-01-01T00:00:00Z", "ttl_seconds": 60}, "/ttl_seconds"),
    ],
    ids=["past", "too-far", "both"],
)
def test_an_expiry_that_cannot_be_is_refused(
    sandbox: Sandbox, body: dict[str, Any], pointer: str
) -> None:
    answer = sandbox.client.post(KEYS, json={"name": "x", **body})
    _refused(answer, 422, "validation.invalid_value")
    assert [e["pointer"] for e in answer.json()["errors"]] == [pointer]
    assert sandbox.client.get(KEYS).json()["data"] == []


def test_a_key_never_holds_more_scopes_than_its_maker(
    server: ServerThread, sandbox: Sandbox
) -> None:
    """An authlib token of scope admin alone can make an admin key, not a reading one; a made
    key can make keys of its own scopes only."""
    with OAuth2Client(
        client_id=sandbox.credentials["client_id"],
        client_secret=sandbox.credentials["client_secret"],
        base_url=server.url,
        timeout=30,
    ) as oauth:
        oauth.fetch_token(
            f"{server.url}/oauth/token", grant_type="client_credentials", scope="admin"
        )
        beyond = oauth.post(KEYS, json={"name": "x", "scopes": ["admin", "ledger.read"]})
        _refused(beyond, 403, "insufficient_scope")
        assert [e["pointer"] for e in beyond.json()["errors"]] == ["/scopes/1"]
        defaulted = oauth.post(KEYS, json={"name": "mine"})
        assert defaulted.status_code == 201 and defaulted.json()["scopes"] == ["admin"]
    made = _make(sandbox, scopes=["admin", "ledger.read"])
    with _as(server, made["secret"]) as key:
        _refused(
            key.post(KEYS, json={"name": "y", "scopes": ["ledger.write"]}),
            403,
            "insufficient_scope",
        )
        child = key.post(KEYS, json={"name": "y", "scopes": ["ledger.read"]})
        assert child.status_code == 201, child.text
    assert len(sandbox.client.get(KEYS).json()["data"]) == 3


def test_another_tenants_key_ids_are_unknown(server: ServerThread, sandbox: Sandbox) -> None:
    made = _make(sandbox)
    other = new_sandbox(server)
    with other.client:
        for answer in (
            other.client.get(f"{KEYS}/{made['id']}"),
            other.client.post(f"{KEYS}/{made['id']}/rotate"),
            other.client.post(f"{KEYS}/{made['id']}/revoke"),
        ):
            _refused(answer, 404, "not_found")
        assert other.client.get(KEYS).json()["data"] == []
    with _as(server, made["secret"]) as key:
        assert key.get("/v1/sandbox/tenant").json()["tenant_id"] == sandbox.id


def test_a_reset_keeps_the_keys_and_a_delete_ends_them(server: ServerThread) -> None:
    box = new_sandbox(server)
    with box.client, _as(server, _make(box)["secret"]) as key:
        assert box.client.post("/v1/sandbox/reset", json={}).status_code == 200
        assert key.get("/v1/ledgers").status_code == 200
        assert key.delete("/v1/sandbox/tenant").status_code == 204
        _refused(key.get("/v1/ledgers"), 401, "unauthorized")


def test_no_secret_is_kept_where_a_snapshot_or_export_would_carry_it(sandbox: Sandbox) -> None:
    """Making a key takes no Idempotency-Key (a stored answer would keep the secret): the same
    key sent twice makes two keys, and the tenant's exported state holds neither secret."""
    key = {"Idempotency-Key": "make-a-key-once"}
    first = sandbox.client.post(KEYS, json={"name": "a"}, headers=key)
    second = sandbox.client.post(KEYS, json={"name": "a"}, headers=key)
    rotated = sandbox.client.post(f"{KEYS}/{first.json()['id']}/rotate", headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second.headers and rotated.status_code == 200
    snapshot = sandbox.client.post("/v1/sandbox/snapshots", json={"name": "after keys"})
    assert snapshot.status_code == 201, snapshot.text
    export = sandbox.client.get(f"/v1/sandbox/snapshots/{snapshot.json()['id']}/export")
    assert export.status_code == 200
    for made in (first, second, rotated):
        assert made.json()["secret"] not in export.text


def test_the_event_feeds_refuse_a_revoked_key_with_its_code(
    server: ServerThread, sandbox: Sandbox
) -> None:
    made = _make(sandbox, scopes=["ledger.read"])
    socket_url = server.url.replace("http", "ws", 1) + "/v1/events/ws"
    with connect(f"{socket_url}?access_token={made['secret']}&after=0&max_events=1") as socket:
        assert json.loads(socket.recv(timeout=5))["kind"] != "error"
    sandbox.client.post(f"{KEYS}/{made['id']}/revoke")
    with _as(server, made["secret"]) as key:
        _refused(key.get("/v1/events/stream", params={"timeout": 1}), 401, "api_key_revoked")
    with connect(f"{socket_url}?access_token={made['secret']}") as socket:
        refusal = json.loads(socket.recv(timeout=5))
        assert refusal["kind"] == "error" and refusal["problem"]["code"] == "api_key_revoked"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_key_made_with_an_expiring_key_does_not_outlive_it(
    server: ServerThread, sandbox: Sandbox
) -> None:
    parent = _make(sandbox, ttl_seconds=600)
    with _as(server, parent["secret"]) as key:
        longer = key.post(KEYS, json={"name": "longer", "ttl_seconds": 601})
        _refused(longer, 422, "validation.invalid_value")
        assert [e["pointer"] for e in longer.json()["errors"]] == ["/ttl_seconds"]
        never = key.post(KEYS, json={"name": "unbounded"})
        assert never.status_code == 201 and never.json()["expires_at"] == parent["expires_at"]
        shorter = key.post(KEYS, json={"name": "shorter", "ttl_seconds": 60})
        assert shorter.status_code == 201
        assert _moment(shorter.json()["expires_at"]) < _moment(parent["expires_at"])


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
