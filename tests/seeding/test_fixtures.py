"""Fixtures obey every invariant, and the same profile and seed give byte-identical listings."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import ServerThread, new_sandbox

CLOCK = "2026-06-01T00:00:00Z"


def _everything(client: httpx.Client, path: str, **params: str) -> list[bytes]:
    """Every page of a list, as raw bytes."""
    pages, cursor = [], None
    while True:
        response = client.get(
            path, params={**params, "limit": "500", **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        pages.append(response.content)
        body = response.json()
        if not body["has_more"]:
            return pages
        cursor = body["next_cursor"]


def test_same_profile_and_seed_give_byte_identical_listings(server: ServerThread) -> None:
    one = new_sandbox(server, fixture="merchant", seed=99, clock_start=CLOCK)
    two = new_sandbox(server, fixture="merchant", seed=99, clock_start=CLOCK)
    other = new_sandbox(server, fixture="merchant", seed=100, clock_start=CLOCK)
    with one.client, two.client, other.client:
        ledger_id = one.client.get("/v1/ledgers").json()["data"][0]["id"]
        for path in (
            "/v1/ledgers",
            "/v1/entries",
            f"/v1/ledgers/{ledger_id}/accounts",
            f"/v1/ledgers/{ledger_id}/balances",
            "/v1/payouts",
            "/v1/settlements",
        ):
            assert _everything(one.client, path) == _everything(two.client, path), path
        assert _everything(one.client, "/v1/entries") != _everything(other.client, "/v1/entries")


def test_the_merchant_scenario_obeys_the_ledger(server: ServerThread) -> None:
    box = new_sandbox(server, fixture="merchant", seed=5)
    with box.client:
        ledger = box.client.get("/v1/ledgers").json()["data"][0]
        accounts = box.client.get(
            f"/v1/ledgers/{ledger['id']}/accounts", params={"limit": "100"}
        ).json()["data"]
        codes = {a["code"] for a in accounts}
        assert {
            "cash",
            "accounts_receivable",
            "revenue",
            "refunds",
            "platform_fee",
            "tax",
            "payouts_in_transit",
        } <= codes
        entries = [
            e
            for page in _everything(box.client, "/v1/entries", order="asc")
            for e in httpx.Response(200, content=page).json()["data"]
        ]
        assert len(entries) > 60
        assert {e["source_type"] for e in entries} >= {
            "checkout_session",
            "invoice",
            "refund",
            "payout",
            "settlement",
        }
        assert any(e["status"] == "pending" for e in entries)
        posted_sum: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for entry in entries:
            assert entry["source_id"], entry
            per_currency: dict[str, int] = defaultdict(int)
            for line in entry["lines"]:
                per_currency[line["currency"]] += (
                    line["amount"] if line["direction"] == "debit" else -line["amount"]
                )
                if entry["status"] == "posted":
                    posted_sum[line["account_id"]][line["direction"] == "credit"] += line["amount"]
            assert set(per_currency.values()) == {0}, entry
        for account in accounts:
            balance = box.client.get(f"/v1/accounts/{account['id']}/balance").json()
            debits, credits = posted_sum[account["id"]]
            assert (balance["posted"]["debits"], balance["posted"]["credits"]) == (
                debits,
                credits,
            ), account["code"]
        effective = [
            datetime.fromisoformat(e["effective_at"].replace("Z", "+00:00")) for e in entries
        ]
        assert max(effective) <= datetime.now(UTC)


def test_a_fresh_merchant_sandbox_shows_payouts_in_every_state_and_tax_settlements(
    server: ServerThread,
) -> None:
    box = new_sandbox(server, fixture="merchant", seed=5, clock_start=CLOCK)
    with box.client:
        payouts = box.client.get("/v1/payouts", params={"limit": "500", "order": "asc"}).json()
        by_status: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for payout in payouts["data"]:
            by_status[payout["status"]].append(payout)
        assert set(by_status) == {"pending", "in_transit", "paid", "failed", "canceled"}
        now = datetime.fromisoformat(CLOCK.replace("Z", "+00:00"))
        for payout in by_status["paid"]:
            assert _at(payout["paid_at"]) <= now
            assert _at(payout["created_at"]) <= now - timedelta(days=2)
        for payout in by_status["in_transit"] + by_status["pending"]:
            assert _at(payout["created_at"]) > now - timedelta(days=2)
        [bounced] = by_status["failed"]
        assert (bounced["amount"], bounced["failure_code"]) == (400001, "account_closed")
        assert bounced["entry_ids"]["return"] is not None
        settlements = box.client.get("/v1/settlements").json()["data"]
        assert len(settlements) == 3
        assert {s["status"] for s in settlements} == {"completed"}
        assert all(
            s["amount"] > 0 and s["description"] == "Sales tax remitted" for s in settlements
        )
        # The clock carries on where the story ends: the pending payout moves in 30 minutes.
        clock = box.client.get("/v1/sandbox/clock").json()
        assert clock["next_due_at"] == "2026-06-01T00:30:00Z"
        counts = box.client.get("/v1/sandbox/tenant").json()["counts"]
        assert (counts["payouts"], counts["settlements"]) == (len(payouts["data"]), 3)
        assert counts["reconciliations"] == 0
        report = box.client.post("/v1/sandbox/clock/advance", json={"seconds": 1800}).json()
        assert report["payouts"] == [{"id": by_status["pending"][0]["id"], "status": "in_transit"}]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_seeded_entry_that_posted_emitted_entry_posted_after_its_entry_created(
    server: ServerThread,
) -> None:
    box = new_sandbox(server, fixture="merchant", seed=5)
    with box.client:
        posted = {
            entry["id"]
            for page in _everything(box.client, "/v1/entries", status="posted")
            for entry in httpx.Response(200, content=page).json()["data"]
        }
        order: dict[str, list[str]] = defaultdict(list)
        for page in _everything_events(box.client):
            for event in page:
                if event["type"] in ("entry.created", "entry.posted"):
                    order[event["data"]["id"]].append(event["type"])
    assert posted
    # Payout and settlement entries, reversals and plain sales alike.
    assert {entry_id: order[entry_id] for entry_id in posted} == {
        entry_id: ["entry.created", "entry.posted"] for entry_id in posted
    }


def _everything_events(client: httpx.Client) -> list[list[dict[str, Any]]]:
    pages, after = [], 0
    while True:
        body = client.get("/v1/events", params={"after": after, "limit": 500}).json()
        pages.append(body["data"])
        if not body["has_more"]:
            return pages
        after = body["next_after"]


def test_sandboxes_seeded_at_the_same_time_are_byte_identical_to_one_seeded_alone(
    server: ServerThread,
) -> None:
    """Seeding runs in slices that interleave; each tenant's story reads only its own state."""
    import threading

    alone = new_sandbox(server, fixture="merchant", seed=42, clock_start=CLOCK)
    together: list[Any] = []

    def create() -> None:
        together.append(new_sandbox(server, fixture="merchant", seed=42, clock_start=CLOCK))

    threads = [threading.Thread(target=create) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(together) == 3
    with alone.client:
        expected = [_everything(alone.client, p) for p in ("/v1/entries", "/v1/payouts")]
        for box in together:
            with box.client:
                assert [_everything(box.client, p) for p in ("/v1/entries", "/v1/payouts")] == (
                    expected
                )
