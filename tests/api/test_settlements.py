"""Settlements over HTTP on a frozen clock: immediate, scheduled, refused, replayed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Sandbox, ServerThread, new_sandbox

START = "2026-03-02T09:00:00Z"


class Books:
    """A frozen-clock tenant whose tax account collected 800 before START and 50 after."""

    def __init__(self, box: Sandbox) -> None:
        self.client = box.client
        self.ledger = self.ok(self.client.post("/v1/ledgers", json={"name": "Tax"}))["id"]
        self.accounts: dict[str, str] = {}
        for code, kind, currency, flags in [
            ("bank", "asset", "USD", {}),
            ("tax", "liability", "USD", {}),
            ("wallet", "liability", "USD", {"debits_must_not_exceed_credits": True}),
            ("bank_eur", "asset", "EUR", {}),
        ]:
            body = {"code": code, "name": code, "kind": kind, "currency": currency, "flags": flags}
            created = self.client.post(f"/v1/ledgers/{self.ledger}/accounts", json=body)
            self.accounts[code] = self.ok(created)["id"]
        self.collect(800, "2026-03-01T12:00:00Z")

    @staticmethod
    def ok(response: Any) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def collect(self, tax: int, effective_at: str) -> None:
        lines = [
            {"account_code": "bank", "direction": "debit", "amount": tax},
            {"account_code": "tax", "direction": "credit", "amount": tax},
        ]
        body = {"ledger_id": self.ledger, "lines": lines, "effective_at": effective_at}
        self.ok(self.client.post("/v1/entries", json=body))

    def settle(self, **fields: object) -> Any:
        body = {
            "ledger_id": self.ledger,
            "account_code": "tax",
            "contra_account_code": "bank",
            **fields,
        }
        return self.client.post("/v1/settlements", json=body)

    def posted(self, code: str) -> int:
        found = self.ok(self.client.get(f"/v1/accounts/{self.accounts[code]}/balance"))
        return int(found["posted"]["amount"])


@pytest.fixture
def books(server: ServerThread) -> Iterator[Books]:
    box = new_sandbox(server, clock_start=START)
    yield Books(box)
    box.client.close()


def test_an_immediate_settlement_moves_the_balance_as_of_up_to(books: Books) -> None:
    books.collect(50, "2026-03-02T08:00:00Z")
    created = books.settle(up_to="2026-03-02T00:00:00Z", metadata={"week": "9"})
    assert created.status_code == 201, created.text
    settlement = created.json()
    assert (settlement["status"], settlement["amount"], settlement["direction"]) == (
        "completed",
        800,
        "debit",
    )
    assert (settlement["account_id"], settlement["contra_account_id"]) == (
        books.accounts["tax"],
        books.accounts["bank"],
    )
    assert settlement["completed_at"] == START and settlement["currency"] == "USD"
    entry = books.ok(books.client.get(f"/v1/entries/{settlement['entry_id']}"))
    assert (entry["source_type"], entry["source_id"]) == ("settlement", settlement["id"])
    assert entry["effective_at"] == "2026-03-02T00:00:00Z"
    assert [(line["account_code"], line["direction"]) for line in entry["lines"]] == [
        ("tax", "debit"),
        ("bank", "credit"),
    ]
    assert (books.posted("tax"), books.posted("bank")) == (50, 50)
    assert books.ok(books.client.get(f"/v1/settlements/{settlement['id']}")) == settlement
    events = books.ok(books.client.get("/v1/events", params={"types": "settlement.completed"}))
    assert [e["data"] for e in events["data"]] == [settlement]
    # Up to now (the default) settles what came after; an earlier up_to would settle twice.
    rest = books.ok(books.settle())
    assert (rest["amount"], rest["up_to"]) == (50, START)
    earlier = books.settle(up_to="2026-03-01T00:00:00Z")
    assert (earlier.status_code, earlier.json()["code"]) == (422, "settlement.out_of_order")
    assert earlier.json()["errors"][0]["pointer"] == "/up_to"


def test_a_scheduled_settlement_completes_when_the_clock_reaches_up_to(books: Books) -> None:
    scheduled = books.ok(books.settle(up_to="2026-03-03T09:00:00Z"))
    assert (scheduled["status"], scheduled["amount"], scheduled["entry_id"]) == (
        "scheduled",
        None,
        None,
    )
    nothing = books.ok(books.settle(account_code="wallet", up_to="2026-03-04T09:00:00Z"))
    assert nothing["status"] == "scheduled"
    books.collect(200, "2026-03-02T10:00:00Z")  # before up_to: settled too
    assert books.ok(books.client.get("/v1/sandbox/clock"))["next_due_at"] == "2026-03-03T09:00:00Z"
    report = books.ok(books.client.post("/v1/sandbox/clock/advance", json={"seconds": 3 * 86400}))
    assert report["settlements"] == [
        {"id": scheduled["id"], "status": "completed"},
        {"id": nothing["id"], "status": "failed"},
    ]
    done = books.ok(books.client.get(f"/v1/settlements/{scheduled['id']}"))
    assert (done["status"], done["amount"], done["completed_at"]) == (
        "completed",
        1000,
        "2026-03-03T09:00:00Z",
    )
    failed = books.ok(books.client.get(f"/v1/settlements/{nothing['id']}"))
    assert (failed["failure_code"], failed["failed_at"]) == (
        "nothing_to_settle",
        "2026-03-04T09:00:00Z",
    )
    kinds = books.ok(
        books.client.get(
            "/v1/events",
            params={"types": "settlement.scheduled,settlement.completed,settlement.failed"},
        )
    )["data"]
    assert [e["type"] for e in kinds] == [
        "settlement.scheduled",
        "settlement.scheduled",
        "settlement.completed",
        "settlement.failed",
    ]
    by_status = books.ok(books.client.get("/v1/settlements", params={"status": "failed"}))
    assert [s["id"] for s in by_status["data"]] == [nothing["id"]]
    by_account = books.ok(
        books.client.get("/v1/settlements", params={"account_id": books.accounts["tax"]})
    )
    assert [s["id"] for s in by_account["data"]] == [scheduled["id"]]


@pytest.mark.parametrize(
    ("fields", "status", "code", "pointer"),
    [
        ({"account_code": "wallet"}, 422, "settlement.nothing_to_settle", "/up_to"),
        (
            {"contra_account_code": "bank_eur"},
            422,
            "settlement.currency_mismatch",
            "/contra_account_id",
        ),
        ({"contra_account_code": "tax"}, 422, "settlement.same_account", "/contra_account_id"),
        ({"contra_account_code": "savings"}, 404, "not_found", "/contra_account_code"),
        ({"account_id": "acct_x"}, 422, "validation.required_field_missing", "/account_id"),
        (
            {"account_code": "bank", "contra_account_code": "wallet"},
            422,
            "insufficient_funds",
            "/contra_account_id",
        ),
        ({"ledger_id": "ldg_nope"}, 404, "not_found", "/ledger_id"),
    ],
)
def test_refusals_leave_nothing(
    books: Books, fields: dict[str, str], status: int, code: str, pointer: str
) -> None:
    last = books.ok(books.client.get("/v1/events"))["next_after"]
    refused = books.settle(**fields)
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert refused.json()["errors"][0]["pointer"] == pointer
    assert books.ok(books.client.get("/v1/events", params={"after": last}))["data"] == []
    assert books.ok(books.client.get("/v1/settlements"))["data"] == []
    assert books.posted("tax") == 800


def test_a_replayed_settlement_is_the_same_answer_and_settles_once(books: Books) -> None:
    key = {"Idempotency-Key": "remit-week-9"}
    body = {"ledger_id": books.ledger, "account_code": "tax", "contra_account_code": "bank"}
    first = books.client.post("/v1/settlements", json=body, headers=key)
    again = books.client.post("/v1/settlements", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert len(books.ok(books.client.get("/v1/settlements"))["data"]) == 1
    assert books.posted("tax") == 0
    # Without the key, the same request finds nothing left to settle.
    fresh = books.client.post("/v1/settlements", json=body)
    assert (fresh.status_code, fresh.json()["code"]) == (422, "settlement.nothing_to_settle")
