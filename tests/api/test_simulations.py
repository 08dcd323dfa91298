"""Simulations through the API: each posts what the business event would, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from gledger_sandbox.contract.trigger import CHART
from tests.conftest import Sandbox

CHARGES = "/v1/sandbox/simulations/charges"
REFUNDS = "/v1/sandbox/simulations/refunds"
RETURNS = "/v1/sandbox/simulations/payout-returns"
STATEMENTS = "/v1/sandbox/simulations/bank-statements"


def chart(sandbox: Sandbox, codes: dict[str, str] | None = None) -> str:
    ledger_id = str(sandbox.client.post("/v1/ledgers", json={"name": "Shop"}).json()["id"])
    for code, kind in {**CHART, "accounts_receivable": "asset", **(codes or {})}.items():
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        made = sandbox.client.post(f"/v1/ledgers/{ledger_id}/accounts", json=body)
        assert made.status_code == 201, made.text
    return ledger_id


def posted(sandbox: Sandbox, ledger_id: str) -> dict[str, int]:
    rows = sandbox.client.get(f"/v1/ledgers/{ledger_id}/balances", params={"limit": 50}).json()
    return {row["code"]: row["balance"] for row in rows["data"]}


def charge(sandbox: Sandbox, ledger_id: str, **extra: Any) -> list[dict[str, Any]]:
    body = {"ledger_id": ledger_id, "amount": 10800, "tax": 800, "fee": 343, **extra}
    made = sandbox.client.post(CHARGES, json=body)
    assert made.status_code == 201, made.text
    return list(made.json()["entries"])


def test_a_checkout_posts_one_balanced_entry_on_the_chart(sandbox: Sandbox) -> None:
    ledger_id = chart(sandbox)
    [entry] = charge(sandbox, ledger_id)
    assert entry["status"] == "posted" and entry["source_type"] == "checkout_session"
    lines = {(line["account_code"], line["direction"]): line["amount"] for line in entry["lines"]}
    assert lines == {
        ("cash", "debit"): 10457,
        ("platform_fee", "debit"): 343,
        ("revenue", "credit"): 10000,
        ("tax", "credit"): 800,
    }
    balances = posted(sandbox, ledger_id)
    assert (balances["cash"], balances["revenue"], balances["tax"]) == (10457, 10000, 800)


def test_an_invoice_is_issued_then_paid_and_may_wait_pending(sandbox: Sandbox) -> None:
    ledger_id = chart(sandbox)
    issued, paid = charge(sandbox, ledger_id, kind="invoice", status="pending")
    assert issued["status"] == "posted" and paid["status"] == "pending"
    assert issued["source_id"] == paid["source_id"] and paid["source_type"] == "invoice"
    assert posted(sandbox, ledger_id)["accounts_receivable"] == 10800
    assert sandbox.client.post(f"/v1/entries/{paid['id']}/post", json={}).status_code == 200
    assert posted(sandbox, ledger_id)["accounts_receivable"] == 0


def test_a_charge_needs_the_fixtures_chart_and_a_sane_split(sandbox: Sandbox) -> None:
    bare = sandbox.client.post("/v1/ledgers", json={"name": "Bare"}).json()["id"]
    refused = sandbox.client.post(CHARGES, json={"ledger_id": bare, "amount": 100})
    assert refused.status_code == 422 and refused.json()["code"] == "simulation.chart_mismatch"
    ledger_id = chart(sandbox)
    split = sandbox.client.post(CHARGES, json={"ledger_id": ledger_id, "amount": 100, "fee": 100})
    assert split.status_code == 422
    assert split.json()["errors"][0]["pointer"] == "/fee"
    assert posted(sandbox, ledger_id)["cash"] == 0  # nothing half applied


def test_refunds_return_tax_in_proportion_and_never_more_than_was_charged(
    sandbox: Sandbox,
) -> None:
    ledger_id = chart(sandbox)
    [checkout] = charge(sandbox, ledger_id)
    part = sandbox.client.post(REFUNDS, json={"entry_id": checkout["id"], "amount": 5400})
    assert part.status_code == 201, part.text
    refund = part.json()
    assert refund["links"]["related"] == [checkout["id"]]
    lines = {line["account_code"]: line["amount"] for line in refund["lines"]}
    assert lines == {"refunds": 5000, "tax": 400, "cash": 5400}
    too_much = sandbox.client.post(REFUNDS, json={"entry_id": checkout["id"], "amount": 5401})
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "simulation.refund_exceeds_charge"
    rest = sandbox.client.post(REFUNDS, json={"entry_id": checkout["id"]})
    assert rest.status_code == 201 and rest.json()["lines"][-1]["amount"] == 5400
    balances = posted(sandbox, ledger_id)
    assert (balances["cash"], balances["tax"]) == (10457 - 10800, 0)
    again = sandbox.client.post(REFUNDS, json={"entry_id": rest.json()["id"]})
    assert again.status_code == 422 and again.json()["code"] == "simulation.not_refundable"
    missing = sandbox.client.post(REFUNDS, json={"entry_id": "ent_nothing"})
    assert missing.status_code == 404


def _payout(sandbox: Sandbox, ledger_id: str) -> dict[str, Any]:
    body = {
        "ledger_id": ledger_id,
        "amount": 5000,
        "currency": "USD",
        "source_account_code": "cash",
        "transit_account_code": "payouts_in_transit",
        "destination_account_code": "bank",
    }
    made = sandbox.client.post("/v1/payouts", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_the_bank_returns_a_payout_in_transit_and_the_funds_come_back(sandbox: Sandbox) -> None:
    ledger_id = chart(sandbox)
    charge(sandbox, ledger_id)
    payout = _payout(sandbox, ledger_id)
    sandbox.client.post("/v1/sandbox/clock/advance", json={"seconds": 3601})
    assert posted(sandbox, ledger_id)["cash"] == 10457 - 5000
    returned = sandbox.client.post(
        RETURNS, json={"payout_id": payout["id"], "failure_code": "account_closed"}
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "failed"
    assert returned.json()["failure_code"] == "account_closed"
    balances = posted(sandbox, ledger_id)
    assert (balances["cash"], balances["payouts_in_transit"]) == (10457, 0)
    events = sandbox.client.get("/v1/events", params={"types": "payout.failed"}).json()["data"]
    assert [e["data"]["id"] for e in events] == [payout["id"]]
    twice = sandbox.client.post(RETURNS, json={"payout_id": payout["id"]})
    assert twice.status_code == 409 and twice.json()["code"] == "payout.not_returnable"


def test_a_bank_statement_holds_exactly_the_mismatches_asked_for(sandbox: Sandbox) -> None:
    ledger_id = chart(sandbox)
    for _ in range(5):
        charge(sandbox, ledger_id)
    asked = {
        "ledger_id": ledger_id,
        "account_code": "cash",
        "mismatches": {"missing": 1, "amount_changed": 1, "unexpected": 2},
        "seed": 3,
    }
    statement = sandbox.client.post(STATEMENTS, json=asked)
    assert statement.status_code == 200, statement.text
    body = statement.json()
    again = sandbox.client.post(STATEMENTS, json=asked).json()  # seeded: the same statement
    assert (again["records"], again["mismatches"]) == (body["records"], body["mismatches"])
    kinds = sorted(m["kind"] for m in body["mismatches"])
    assert kinds == ["amount_changed", "missing", "unexpected", "unexpected"]
    assert len(body["records"]) == 5 - 1 + 2
    run = sandbox.client.post(
        "/v1/reconciliations",
        json={"ledger_id": ledger_id, "account_code": "cash", "records": body["records"]},
    )
    assert run.status_code == 201, run.text
    summary = run.json()["summary"]
    assert summary["matched_records"] == 3
    assert summary["unmatched_records"] == 3  # the changed one and the two unexpected
    assert summary["unmatched_ledger_lines"] == 2  # the missing one and the changed one
    too_many = {**asked, "mismatches": {"missing": 6}}
    refused = sandbox.client.post(STATEMENTS, json=too_many)
    assert refused.status_code == 422 and refused.json()["code"] == "simulation.too_few_lines"


@pytest.mark.parametrize("path", [CHARGES, REFUNDS, RETURNS, STATEMENTS])
def test_simulations_need_the_admin_scope(sandbox: Sandbox, path: str) -> None:
    token = sandbox.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.credentials["client_id"],
            "client_secret": sandbox.credentials["client_secret"],
            "scope": "ledger.write",
        },
    ).json()["access_token"]
    answer = sandbox.client.post(
        path, json={"ledger_id": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 403
