"""Payouts over HTTP on a frozen clock: every step through clock advances, balances at each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Sandbox, ServerThread, new_sandbox

START = "2026-03-02T09:00:00Z"
MAGIC = {
    400001: "account_closed",
    400002: "invalid_account_number",
    400003: "insufficient_funds_at_bank",
    400004: "declined",
    400005: "could_not_process",
}


class Books:
    """A frozen-clock tenant with cash (funded with 3,000,000), payouts_in_transit and bank."""

    def __init__(self, box: Sandbox) -> None:
        self.client = box.client
        self.ledger = self.ok(self.client.post("/v1/ledgers", json={"name": "Payouts"}))["id"]
        self.accounts: dict[str, str] = {}
        for code, kind in [
            ("cash", "asset"),
            ("payouts_in_transit", "asset"),
            ("bank", "asset"),
            ("revenue", "revenue"),
        ]:
            body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
            created = self.client.post(f"/v1/ledgers/{self.ledger}/accounts", json=body)
            self.accounts[code] = self.ok(created)["id"]
        self.ok(
            self.client.post(
                "/v1/entries",
                json={
                    "ledger_id": self.ledger,
                    "lines": [
                        {"account_code": "cash", "direction": "debit", "amount": 3_000_000},
                        {"account_code": "revenue", "direction": "credit", "amount": 3_000_000},
                    ],
                },
            )
        )

    @staticmethod
    def ok(response: Any) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def pay_out(self, amount: int, **extra: object) -> Any:
        body = {"ledger_id": self.ledger, "amount": amount, "currency": "USD", **extra}
        return self.client.post("/v1/payouts", json=body)

    def advance(self, seconds: int) -> dict[str, Any]:
        return dict(
            self.ok(self.client.post("/v1/sandbox/clock/advance", json={"seconds": seconds}))
        )

    def balance(self, code: str) -> tuple[int, int, int]:
        """(posted, pending, available) amounts of an account."""
        found = self.ok(self.client.get(f"/v1/accounts/{self.accounts[code]}/balance"))
        return found["posted"]["amount"], found["pending"]["amount"], found["available"]["amount"]

    def events(self, types: str) -> list[dict[str, Any]]:
        return list(self.ok(self.client.get("/v1/events", params={"types": types}))["data"])

    def payout(self, payout_id: str) -> Any:
        return self.ok(self.client.get(f"/v1/payouts/{payout_id}"))


@pytest.fixture
def books(server: ServerThread) -> Iterator[Books]:
    box = new_sandbox(server, clock_start=START)
    yield Books(box)
    box.client.close()


def test_a_payout_goes_pending_in_transit_paid_on_the_clock(books: Books) -> None:
    created = books.pay_out(250_000, description="Weekly payout")
    assert created.status_code == 201, created.text
    payout = created.json()
    request_id = created.headers["X-GLedger-Request-Id"]
    assert (payout["status"], payout["created_at"], payout["expected_arrival_at"]) == (
        "pending",
        START,
        "2026-03-04T09:00:00Z",
    )
    assert payout["source_account_id"] == books.accounts["cash"]
    # Reserved: available drops at once, posted waits; transit shows it pending only.
    assert books.balance("cash") == (3_000_000, 2_750_000, 2_750_000)
    assert books.balance("payouts_in_transit") == (0, 250_000, 0)
    clock = books.ok(books.client.get("/v1/sandbox/clock"))
    assert clock["next_due_at"] == "2026-03-02T10:00:00Z"

    report = books.advance(3600)
    assert report["payouts"] == [{"id": payout["id"], "status": "in_transit"}]
    assert books.balance("cash") == (2_750_000, 2_750_000, 2_750_000)
    assert books.balance("payouts_in_transit") == (250_000, 250_000, 250_000)
    assert books.balance("bank") == (0, 0, 0)
    assert books.payout(payout["id"])["in_transit_at"] == "2026-03-02T10:00:00Z"

    report = books.advance(2 * 86400)
    assert report["payouts"] == [{"id": payout["id"], "status": "paid"}]
    assert books.balance("cash") == (2_750_000, 2_750_000, 2_750_000)
    assert books.balance("payouts_in_transit") == (0, 0, 0)
    assert books.balance("bank") == (250_000, 250_000, 250_000)
    paid = books.payout(payout["id"])
    assert (paid["status"], paid["paid_at"]) == ("paid", "2026-03-04T09:00:00Z")
    arrival = books.ok(books.client.get(f"/v1/entries/{paid['entry_ids']['arrival']}"))
    assert (arrival["source_type"], arrival["source_id"]) == ("payout", payout["id"])
    transit = books.ok(books.client.get(f"/v1/entries/{paid['entry_ids']['transit']}"))
    assert transit["status"] == "posted"

    events = books.events("payout.created,payout.in_transit,payout.paid,payout.failed")
    assert [(e["type"], e["data"]["status"]) for e in events] == [
        ("payout.created", "pending"),
        ("payout.in_transit", "in_transit"),
        ("payout.paid", "paid"),
    ]
    # The clock's steps run as the request that created the payout.
    assert {e["request_id"] for e in events} == {request_id}
    assert books.ok(books.client.get("/v1/sandbox/clock"))["next_due_at"] is None


def test_each_magic_amount_fails_with_its_code_and_the_funds_come_back(books: Books) -> None:
    made = {amount: books.ok(books.pay_out(amount))["id"] for amount in MAGIC}
    assert books.balance("cash")[2] == 3_000_000 - sum(MAGIC)
    report = books.advance(2 * 86400)
    assert [p["status"] for p in report["payouts"]] == ["in_transit"] * 5 + ["failed"] * 5
    for amount, payout_id in made.items():
        failed = books.payout(payout_id)
        assert (failed["status"], failed["failure_code"]) == ("failed", MAGIC[amount])
        assert failed["failure_message"] and failed["failed_at"] == "2026-03-04T09:00:00Z"
        returned = books.ok(books.client.get(f"/v1/entries/{failed['entry_ids']['return']}"))
        assert returned["links"]["reverses"] == failed["entry_ids"]["transit"]
    assert books.balance("cash") == (3_000_000, 3_000_000, 3_000_000)
    assert books.balance("payouts_in_transit") == (0, 0, 0)
    assert books.balance("bank") == (0, 0, 0)
    failures = books.events("payout.failed")
    assert [e["data"]["failure_code"] for e in failures] == list(MAGIC.values())
    listed = books.ok(books.client.get("/v1/payouts", params={"status": "failed", "limit": 2}))
    assert len(listed["data"]) == 2 and listed["has_more"]


def test_cancel_while_pending_restores_available_and_later_is_409(books: Books) -> None:
    payout = books.ok(books.pay_out(100_000))
    assert books.balance("cash")[2] == 2_900_000
    canceled = books.client.post(f"/v1/payouts/{payout['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["status"], canceled.json()["canceled_at"]) == ("canceled", START)
    assert books.balance("cash") == (3_000_000, 3_000_000, 3_000_000)
    assert books.balance("payouts_in_transit") == (0, 0, 0)
    again = books.client.post(f"/v1/payouts/{payout['id']}/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "payout.not_cancelable")
    assert books.advance(3 * 86400)["payouts"] == []

    moving = books.ok(books.pay_out(100_000))
    books.advance(3600)
    late = books.client.post(f"/v1/payouts/{moving['id']}/cancel")
    assert (late.status_code, late.json()["code"]) == (409, "payout.not_cancelable")
    assert books.payout(moving["id"])["status"] == "in_transit"
    types = [e["type"] for e in books.events("payout.created,payout.canceled,payout.in_transit")]
    assert types == ["payout.created", "payout.canceled", "payout.created", "payout.in_transit"]
    missing = books.client.post("/v1/payouts/po_nope/cancel")
    assert missing.status_code == 404


def test_refused_payouts_leave_nothing(books: Books) -> None:
    last = books.ok(books.client.get("/v1/events"))["next_after"]
    entries = len(books.ok(books.client.get("/v1/entries"))["data"])
    short = books.pay_out(3_000_001)
    assert (short.status_code, short.json()["code"]) == (422, "insufficient_funds")
    assert [e["pointer"] for e in short.json()["errors"]] == ["/amount"]
    euros = books.pay_out(10, currency="EUR")
    assert (euros.status_code, euros.json()["code"]) == (422, "validation.currency_mismatch")
    unknown = books.pay_out(10, destination_account_code="savings")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["pointer"] == "/destination_account_code"
    both = books.pay_out(10, source_account_code="cash", source_account_id=books.accounts["cash"])
    assert (both.status_code, both.json()["code"]) == (422, "validation.required_field_missing")
    assert books.ok(books.client.get("/v1/events", params={"after": last}))["data"] == []
    assert len(books.ok(books.client.get("/v1/entries"))["data"]) == entries
    assert books.ok(books.client.get("/v1/payouts"))["data"] == []
    assert books.balance("cash") == (3_000_000, 3_000_000, 3_000_000)


def test_an_idempotent_payout_is_made_once(books: Books) -> None:
    key = {"Idempotency-Key": "po-1"}
    body = {"ledger_id": books.ledger, "amount": 5_000, "currency": "USD"}
    first = books.client.post("/v1/payouts", json=body, headers=key)
    again = books.client.post("/v1/payouts", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert len(books.ok(books.client.get("/v1/payouts"))["data"]) == 1
    other = books.client.post("/v1/payouts", json={**body, "amount": 6_000}, headers=key)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency.key_reused")


def test_the_transit_entry_of_a_payout_under_way_is_the_payouts_alone(books: Books) -> None:
    payout = books.ok(books.pay_out(100_000))
    transit = payout["entry_ids"]["transit"]
    for action in ("void", "post"):
        refused = books.client.post(f"/v1/entries/{transit}/{action}")
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["code"] == "entry.owned_by_payout"
        assert [e["pointer"] for e in problem["errors"]] == ["/source_id"]
        assert payout["id"] in problem["detail"]
    assert books.balance("cash") == (3_000_000, 2_900_000, 2_900_000)
    books.advance(3600)
    reversed_ = books.client.post(f"/v1/entries/{transit}/reverse", json={})
    assert (reversed_.status_code, reversed_.json()["code"]) == (409, "entry.owned_by_payout")
    assert books.payout(payout["id"])["status"] == "in_transit"
