"""The sandbox clock over HTTP: reading it, and advancing it through what falls due."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Sandbox, ServerThread, new_sandbox

START = "2026-03-02T09:00:00Z"


@pytest.fixture
def frozen(server: ServerThread) -> Iterator[Sandbox]:
    box = new_sandbox(server, clock_start=START)
    yield box
    box.client.close()


def chart(box: Sandbox) -> tuple[str, str, str]:
    ledger = box.client.post("/v1/ledgers", json={"name": "Clock"}).json()["id"]
    ids = []
    for code, kind in [("cash", "asset"), ("revenue", "revenue")]:
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        ids.append(box.client.post(f"/v1/ledgers/{ledger}/accounts", json=body).json()["id"])
    return ledger, ids[0], ids[1]


def entry(ledger: str, cash: str, revenue: str, **extra: object) -> dict[str, object]:
    return {
        "ledger_id": ledger,
        "lines": [
            {"account_id": cash, "direction": "debit", "amount": 250},
            {"account_id": revenue, "direction": "credit", "amount": 250},
        ],
        **extra,
    }


def test_advancing_a_frozen_clock_posts_async_entries_and_expires_pending_ones(
    frozen: Sandbox,
) -> None:
    clock = frozen.client.get("/v1/sandbox/clock").json()
    assert clock == {"now": START, "frozen": True, "next_due_at": None}
    ledger, cash, revenue = chart(frozen)
    accepted = frozen.client.post(
        "/v1/entries", json=entry(ledger, cash, revenue), headers={"Prefer": "respond-async"}
    )
    assert accepted.status_code == 202
    held = frozen.client.post(
        "/v1/entries",
        json=entry(ledger, cash, revenue, status="pending", expires_at="2026-03-02T10:00:00Z"),
    ).json()
    assert held["expires_at"] == "2026-03-02T10:00:00Z" and held["void_reason"] is None
    # A frozen clock does not move by itself: the asynchronous entry waits for an advance.
    assert frozen.client.get("/v1/sandbox/clock").json()["next_due_at"] is not None
    assert frozen.client.get(f"/v1/entries/{accepted.json()['id']}").json()["status"] == "pending"

    report = frozen.client.post("/v1/sandbox/clock/advance", json={"seconds": 3600}).json()
    assert report["previous"] == START and report["now"] == "2026-03-02T10:00:00Z"
    assert (report["entries_posted"], report["entries_expired"], report["steps"]) == (1, 1, 2)
    posted = frozen.client.get(f"/v1/entries/{accepted.json()['id']}").json()
    assert posted["status"] == "posted" and posted["posted_at"] == "2026-03-02T09:00:00.200000Z"
    expired = frozen.client.get(f"/v1/entries/{held['id']}").json()
    assert (expired["status"], expired["void_reason"]) == ("voided", "expired")
    assert expired["voided_at"] == "2026-03-02T10:00:00Z"
    balance = frozen.client.get(f"/v1/accounts/{cash}/balance").json()
    assert balance["pending"]["amount"] == 250 == balance["posted"]["amount"]
    kinds = [e["type"] for e in frozen.client.get("/v1/events", params={"after": 3}).json()["data"]]
    assert kinds == ["entry.created", "entry.created", "entry.posted", "entry.voided"]


def test_the_clock_refuses_to_go_back_and_expiry_must_be_ahead(frozen: Sandbox) -> None:
    back = frozen.client.post("/v1/sandbox/clock/advance", json={"seconds": -5})
    assert back.status_code == 400 and back.json()["errors"][0]["pointer"] == "/seconds"
    ledger, cash, revenue = chart(frozen)
    past = frozen.client.post(
        "/v1/entries",
        json=entry(ledger, cash, revenue, status="pending", expires_at="2026-03-01T00:00:00Z"),
    )
    assert past.status_code == 422 and past.json()["errors"][0]["pointer"] == "/expires_at"
    posted = frozen.client.post(
        "/v1/entries", json=entry(ledger, cash, revenue, expires_at="2026-03-03T00:00:00Z")
    )
    assert posted.status_code == 422 and posted.json()["code"] == "validation.invalid_value"


def test_a_voided_expiring_entry_leaves_nothing_due_and_far_advances_are_refused(
    frozen: Sandbox,
) -> None:
    ledger, cash, revenue = chart(frozen)
    held = frozen.client.post(
        "/v1/entries",
        json=entry(ledger, cash, revenue, status="pending", expires_at="2026-03-02T10:00:00Z"),
    ).json()
    assert frozen.client.get("/v1/sandbox/clock").json()["next_due_at"] == "2026-03-02T10:00:00Z"
    frozen.client.post(f"/v1/entries/{held['id']}/void")
    assert frozen.client.get("/v1/sandbox/clock").json()["next_due_at"] is None
    report = frozen.client.post("/v1/sandbox/clock/advance", json={"seconds": 7200}).json()
    assert (report["steps"], report["entries_expired"]) == (0, 0)
    voided = frozen.client.get(f"/v1/entries/{held['id']}").json()
    assert voided["void_reason"] == "requested"
    huge = frozen.client.post("/v1/sandbox/clock/advance", json={"seconds": 31622400})
    assert huge.status_code == 200
