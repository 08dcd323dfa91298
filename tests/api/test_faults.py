"""Fault rules on API calls, seen by a real httpx client: errors, latency, drops, the header."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import Books, Sandbox, ServerThread, entry_body, new_sandbox


def add_fault(sandbox: Sandbox, **body: Any) -> dict[str, Any]:
    created = sandbox.client.post("/v1/sandbox/faults", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def injections(sandbox: Sandbox, **params: Any) -> list[dict[str, Any]]:
    page = sandbox.client.get("/v1/sandbox/fault-injections", params={"limit": 200, **params})
    assert page.status_code == 200, page.text
    return list(page.json()["data"])


def sale(books: Books, amount: int = 1000) -> dict[str, Any]:
    return entry_body(books, ("cash", "debit", amount), ("revenue", "credit", amount))


def entry_count(sandbox: Sandbox) -> int:
    return int(sandbox.client.get("/v1/sandbox/tenant").json()["counts"]["entries"])


def test_a_forced_503_applies_nothing_and_says_it_was_injected(
    sandbox: Sandbox, books: Books
) -> None:
    rule = add_fault(
        sandbox,
        match={"operation_id": "createEntry"},
        effect={"type": "error", "status": 503, "retry_after_seconds": 2},
        times=1,
    )
    forced = sandbox.client.post("/v1/entries", json=sale(books))
    assert forced.status_code == 503
    assert forced.headers["content-type"] == "application/problem+json"
    assert forced.headers["retry-after"] == "2"
    problem = forced.json()
    assert problem["code"] == "sandbox.fault.service_unavailable"
    assert problem["injected"] is True and problem["fault_id"] == rule["id"]
    assert problem["request_id"] == forced.headers["x-gledger-request-id"]
    assert entry_count(sandbox) == 0  # nothing applied
    again = sandbox.client.post("/v1/entries", json=sale(books))
    assert again.status_code == 201  # times=1: used up
    shown = sandbox.client.get(f"/v1/sandbox/faults/{rule['id']}").json()
    assert shown["status"] == "exhausted" and shown["remaining"] == 0
    assert shown["matched_count"] == 1 and shown["injected_count"] == 1
    [record] = injections(sandbox, fault_id=rule["id"])
    assert record["id"] == forced.headers["gledger-sandbox-fault-injected"]
    assert record["request_id"] == forced.headers["x-gledger-request-id"]
    assert (record["operation_id"], record["method"], record["path"]) == (
        "createEntry",
        "POST",
        "/v1/entries",
    )
    assert (record["effect"], record["status"]) == ("error", 503)


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "internal_error"), (429, "rate_limited"), (409, "idempotency.key_in_use")],
)
def test_forced_statuses_carry_their_code(
    sandbox: Sandbox, books: Books, status: int, code: str
) -> None:
    effect: dict[str, Any] = {"type": "error", "status": status}
    if status == 409:
        effect["code"] = code
    if status == 429:
        effect["retry_after_seconds"] = 5
    add_fault(sandbox, match={"method": "GET", "path": "/v1/ledgers/{ledger_id}"}, effect=effect)
    forced = sandbox.client.get(f"/v1/ledgers/{books.ledger_id}")
    assert forced.status_code == status
    assert forced.json()["code"] == code and forced.json()["injected"] is True
    if status == 429:
        assert forced.headers["retry-after"] == "5"
    # A concrete path matches too, and other operations are untouched.
    assert sandbox.client.get("/v1/ledgers").status_code == 200


def test_after_commit_commits_and_a_replay_answers_the_stored_success(
    sandbox: Sandbox, books: Books
) -> None:
    add_fault(
        sandbox,
        match={"operation_id": "createEntry"},
        effect={"type": "error", "status": 500, "after_commit": True},
        times=1,
    )
    key = {"Idempotency-Key": "after-commit-1"}
    failed = sandbox.client.post("/v1/entries", json=sale(books), headers=key)
    assert failed.status_code == 500 and failed.json()["injected"] is True
    assert entry_count(sandbox) == 1  # it went through
    retried = sandbox.client.post("/v1/entries", json=sale(books), headers=key)
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert entry_count(sandbox) == 1  # posted once
    balance = sandbox.client.get(f"/v1/accounts/{books.accounts['cash']}/balance").json()
    assert balance["posted"]["debits"] == 1000


def test_without_after_commit_a_retry_with_the_key_runs_for_real(
    sandbox: Sandbox, books: Books
) -> None:
    add_fault(
        sandbox,
        match={"operation_id": "createEntry"},
        effect={"type": "error", "status": 503},
        times=1,
    )
    key = {"Idempotency-Key": "before-commit-1"}
    assert sandbox.client.post("/v1/entries", json=sale(books), headers=key).status_code == 503
    retried = sandbox.client.post("/v1/entries", json=sale(books), headers=key)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert entry_count(sandbox) == 1


def test_a_dropped_connection_is_seen_by_the_client_and_applies_nothing(
    sandbox: Sandbox, books: Books
) -> None:
    rule = add_fault(
        sandbox, match={"operation_id": "createEntry"}, effect={"type": "drop"}, times=1
    )
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox.client.post("/v1/entries", json=sale(books))
    assert entry_count(sandbox) == 0
    [record] = injections(sandbox, fault_id=rule["id"])
    assert record["effect"] == "drop"


def test_a_dropped_connection_after_commit_commits(sandbox: Sandbox, books: Books) -> None:
    add_fault(
        sandbox,
        match={"operation_id": "createEntry"},
        effect={"type": "drop", "after_commit": True},
        times=1,
    )
    key = {"Idempotency-Key": "dropped-after-commit"}
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox.client.post("/v1/entries", json=sale(books), headers=key)
    retried = sandbox.client.post("/v1/entries", json=sale(books), headers=key)
    assert retried.status_code == 201 and retried.headers["idempotent-replayed"] == "true"
    assert entry_count(sandbox) == 1


def test_fixed_latency_delays_the_answer(sandbox: Sandbox) -> None:
    add_fault(
        sandbox,
        match={"operation_id": "listLedgers"},
        effect={"type": "latency", "latency_ms": 300},
    )
    began = time.perf_counter()
    slow = sandbox.client.get("/v1/ledgers")
    took = time.perf_counter() - began
    assert slow.status_code == 200 and took >= 0.3
    [record] = injections(sandbox)
    assert record["effect"] == "latency" and record["latency_ms"] == 300
    assert slow.headers["gledger-sandbox-fault-injected"] == record["id"]


def _pattern(server: ServerThread, seed: int) -> tuple[list[int], list[float]]:
    box = new_sandbox(server)
    try:
        add_fault(
            box,
            match={"operation_id": "listLedgers"},
            effect={"type": "error", "status": 503},
            probability=0.5,
            seed=seed,
        )
        add_fault(
            box,
            match={"operation_id": "getTenant"},
            effect={
                "type": "latency",
                "latency_ms": 1,
                "latency_max_ms": 5,
                "distribution": "uniform",
            },
            seed=seed,
        )
        statuses = [box.client.get("/v1/ledgers").status_code for _ in range(30)]
        for _ in range(5):
            box.client.get("/v1/sandbox/tenant")
        delays = [r["latency_ms"] for r in injections(box) if r["effect"] == "latency"]
        return statuses, delays
    finally:
        box.client.close()


def test_seeded_faults_are_the_same_for_the_same_seed(server: ServerThread) -> None:
    first = _pattern(server, 11)
    assert first == _pattern(server, 11)
    assert set(first[0]) == {200, 503}  # some fire, some do not
    assert all(1 <= d <= 5 for d in first[1]) and len(set(first[1])) > 1
    assert _pattern(server, 12) != first


def test_a_rule_expires_on_the_tenant_clock(sandbox: Sandbox) -> None:
    add_fault(
        sandbox,
        match={"operation_id": "listLedgers"},
        effect={"type": "error", "status": 503},
        expires_in_seconds=60,
    )
    assert sandbox.client.get("/v1/ledgers").status_code == 503
    advanced = sandbox.client.post("/v1/sandbox/clock/advance", json={"seconds": 61})
    assert advanced.status_code == 200
    assert sandbox.client.get("/v1/ledgers").status_code == 200
    [rule] = sandbox.client.get("/v1/sandbox/faults").json()["data"]
    assert rule["status"] == "expired"


def test_the_one_off_header_faults_one_call(sandbox: Sandbox, books: Books) -> None:
    header = {"GLedger-Sandbox-Fault": "status=503; retry_after=1"}
    forced = sandbox.client.post("/v1/entries", json=sale(books), headers=header)
    assert forced.status_code == 503 and forced.json()["fault_id"] is None
    assert forced.headers["retry-after"] == "1"
    assert entry_count(sandbox) == 0
    committed = sandbox.client.post(
        "/v1/entries",
        json=sale(books),
        headers={"GLedger-Sandbox-Fault": "status=502; after_commit", "Idempotency-Key": "h1"},
    )
    assert committed.status_code == 502 and entry_count(sandbox) == 1
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox.client.get("/v1/ledgers", headers={"GLedger-Sandbox-Fault": "drop"})
    records = injections(sandbox)
    assert [(r["fault_id"], r["effect"]) for r in records] == [
        (None, "error"),
        (None, "error"),
        (None, "drop"),
    ]
    bad = sandbox.client.get("/v1/ledgers", headers={"GLedger-Sandbox-Fault": "status=200"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["pointer"] == "/header/GLedger-Sandbox-Fault"


def test_rules_are_listed_read_and_deleted(sandbox: Sandbox) -> None:
    rule = add_fault(
        sandbox, match={"operation_id": "listLedgers"}, effect={"type": "error", "status": 503}
    )
    assert sandbox.client.get("/v1/ledgers").status_code == 503
    listed = sandbox.client.get("/v1/sandbox/faults").json()["data"]
    assert [r["id"] for r in listed] == [rule["id"]]
    assert sandbox.client.delete(f"/v1/sandbox/faults/{rule['id']}").status_code == 204
    assert sandbox.client.get("/v1/ledgers").status_code == 200
    assert sandbox.client.get(f"/v1/sandbox/faults/{rule['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (
            {
                "match": {"operation_id": "noSuchOperation"},
                "effect": {"type": "error", "status": 503},
            },
            "/match/operation_id",
        ),
        (
            {"match": {"operation_id": "deleteFault"}, "effect": {"type": "error", "status": 503}},
            "/match/operation_id",
        ),
        ({"match": {}, "effect": {"type": "error", "status": 503}}, "/match"),
        ({"match": {"path": "/v1/nowhere"}, "effect": {"type": "drop"}}, "/match/path"),
        ({"match": {"operation_id": "listLedgers"}, "effect": {"type": "error"}}, "/effect/status"),
        (
            {"match": {"operation_id": "listLedgers"}, "effect": {"type": "latency"}},
            "/effect/latency_ms",
        ),
        (
            {
                "match": {"operation_id": "listLedgers"},
                "effect": {"type": "latency", "latency_ms": 1, "after_commit": True},
            },
            "/effect/after_commit",
        ),
        (
            {"match": {"operation_id": "listLedgers"}, "effect": {"type": "webhook_drop"}},
            "/match/operation_id",
        ),
        (
            {
                "match": {"operation_id": "listLedgers", "method": "POST"},
                "effect": {"type": "drop"},
            },
            "/match/method",
        ),
        (
            {"match": {"webhook_endpoint_id": "we_none"}, "effect": {"type": "webhook_drop"}},
            "/match/webhook_endpoint_id",
        ),
    ],
)
def test_a_rule_that_cannot_work_is_a_422_pointing_at_the_field(
    sandbox: Sandbox, body: dict[str, Any], pointer: str
) -> None:
    refused = sandbox.client.post("/v1/sandbox/faults", json=body)
    assert refused.status_code == 422, refused.text
    assert pointer in [e["pointer"] for e in refused.json()["errors"]]


def test_faults_are_per_tenant(server: ServerThread, sandbox: Sandbox) -> None:
    add_fault(
        sandbox, match={"operation_id": "listLedgers"}, effect={"type": "error", "status": 503}
    )
    other = new_sandbox(server)
    try:
        assert other.client.get("/v1/ledgers").status_code == 200
        assert other.client.get("/v1/sandbox/faults").json()["data"] == []
    finally:
        other.client.close()


def test_a_reset_removes_the_rules_and_their_record(sandbox: Sandbox) -> None:
    add_fault(
        sandbox, match={"operation_id": "listLedgers"}, effect={"type": "error", "status": 503}
    )
    assert sandbox.client.get("/v1/ledgers").status_code == 503
    assert sandbox.client.post("/v1/sandbox/reset", json={}).status_code == 200
    assert sandbox.client.get("/v1/ledgers").status_code == 200
    assert sandbox.client.get("/v1/sandbox/faults").json()["data"] == []
    assert injections(sandbox) == []
