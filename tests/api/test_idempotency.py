"""Idempotency-Key over HTTP: replays byte for byte, refuses reuse, scoped per tenant and route."""

from __future__ import annotations

import httpx

from tests.conftest import Books, Sandbox, ServerThread, entry_body, new_sandbox


def test_replay_is_byte_identical_and_writes_once(sandbox: Sandbox, books: Books) -> None:
    body = entry_body(books, ("cash", "debit", 25), ("revenue", "credit", 25))
    key = {"Idempotency-Key": "order-1001"}
    first = sandbox.client.post("/v1/entries", json=body, headers=key)
    second = sandbox.client.post(
        "/v1/entries", json=dict(reversed(list(body.items()))), headers=key
    )
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert (
        second.headers["Idempotent-Replayed"] == "true"
        and "Idempotent-Replayed" not in first.headers
    )
    assert len(sandbox.client.get("/v1/entries").json()["data"]) == 1


def test_a_refusal_is_replayed_too(sandbox: Sandbox, books: Books) -> None:
    body = entry_body(books, ("cash", "debit", 25), ("revenue", "credit", 24))
    key = {"Idempotency-Key": "bad-1"}
    first = sandbox.client.post("/v1/entries", json=body, headers=key)
    again = sandbox.client.post("/v1/entries", json=body, headers=key)
    assert first.status_code == again.status_code == 422 and again.content == first.content


def test_a_reused_key_with_another_body_is_422(sandbox: Sandbox, books: Books) -> None:
    key = {"Idempotency-Key": "order-1002"}
    sandbox.client.post(
        "/v1/entries",
        json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1)),
        headers=key,
    )
    clash = sandbox.client.post(
        "/v1/entries",
        json=entry_body(books, ("cash", "debit", 2), ("revenue", "credit", 2)),
        headers=key,
    )
    assert clash.status_code == 422 and clash.json()["code"] == "idempotency.key_reused"
    assert clash.json()["errors"][0]["pointer"] == "/header/Idempotency-Key"


def test_keys_are_scoped_per_route_and_tenant(
    server: ServerThread, sandbox: Sandbox, books: Books
) -> None:
    key = {"Idempotency-Key": "shared"}
    ledger = sandbox.client.post("/v1/ledgers", json={"name": "A"}, headers=key)
    entry = sandbox.client.post(
        "/v1/entries",
        json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1)),
        headers=key,
    )
    assert ledger.status_code == entry.status_code == 201
    other = new_sandbox(server)
    with other.client:
        theirs = other.client.post("/v1/ledgers", json={"name": "A"}, headers=key)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert "Idempotent-Replayed" not in entry.headers


def test_tenant_creation_honours_its_key(server: ServerThread) -> None:
    key = {"Idempotency-Key": "signup-7f3c9a1e-unguessable"}
    first = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}, headers=key)
    again = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    other = httpx.post(
        f"{server.url}/v1/sandbox/tenants", json={"fixture": "merchant"}, headers=key
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency.key_reused"
