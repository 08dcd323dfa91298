"""``idempotent_replay``: a replayed POST returns the identical status and body, once only.

For each kind of write the kit can make (a ledger, an account, an entry, posting a pending
entry): send it with an ``Idempotency-Key``, send it again, and compare status and body byte
for byte (the replay marked ``Idempotent-Replayed: true``); then send the same key with another
body, which must be refused with 422 ``idempotency.key_reused``. The replayed entry must move
its account's balance once, not twice.
"""

from __future__ import annotations

from typing import Any

import httpx

from gledger_sandbox.contract.scenarios import Scenario

CHECK = "idempotent_replay"
REUSED = "idempotency.key_reused"

Write = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]
"""operationId, path, body, another body for the same key."""


def run(scenario: Scenario) -> None:
    scenario.require("createLedger", "createAccount", "createEntry")
    books = scenario.books()
    cash = books.accounts["kit_cash"]
    before = _posted_debits(scenario, cash)
    for operation_id, path, body, other in _writes(scenario):
        _replay(scenario, operation_id, path, body, other)
    after = _posted_debits(scenario, cash)
    if before is not None and after is not None and after - before != 4_200:
        scenario.client.fail(
            CHECK,
            f"a replayed entry of 4200 moved kit_cash's posted debits by {after - before}",
            name="createEntry",
        )


def _writes(scenario: Scenario) -> list[Write]:
    books = scenario.books()
    tag = scenario.key("idem")
    pending = scenario.post_entry(
        ("kit_fees", "debit", 10), ("kit_cash", "credit", 10), status="pending"
    )
    writes: list[Write] = [
        ("createLedger", "/v1/ledgers", {"name": f"{tag} ledger"}, {"name": f"{tag} other"}),
        (
            "createAccount",
            f"/v1/ledgers/{books.ledger_id}/accounts",
            {"code": "kit_idem", "name": "Idempotent", "kind": "asset", "currency": "USD"},
            {"code": "kit_idem_other", "name": "Other", "kind": "asset", "currency": "USD"},
        ),
        (
            "createEntry",
            "/v1/entries",
            scenario.entry(("kit_cash", "debit", 4_200), ("kit_revenue", "credit", 4_200)),
            scenario.entry(("kit_cash", "debit", 4_201), ("kit_revenue", "credit", 4_201)),
        ),
    ]
    if scenario.target.spec.has("postEntry"):
        writes.append(("postEntry", f"/v1/entries/{pending['id']}/post", None, None))
    return writes


def _replay(
    scenario: Scenario,
    operation_id: str,
    path: str,
    body: dict[str, Any] | None,
    other: dict[str, Any] | None,
) -> None:
    client = scenario.client
    key = scenario.key(operation_id)

    def send(payload: dict[str, Any] | None) -> httpx.Response:
        return client.post(path, headers={"Idempotency-Key": key}, json=payload)

    first = send(body)
    if not first.is_success:
        client.fail(CHECK, f"{operation_id}: the first request with a key was refused", first)
        return
    replay = send(body)
    problems = []
    if (replay.status_code, replay.content) != (first.status_code, first.content):
        problems.append(
            f"the replay answered {replay.status_code} {replay.text[:300]!r}, the first request "
            f"{first.status_code} {first.text[:300]!r}"
        )
    if replay.headers.get("idempotent-replayed", "").lower() != "true":
        problems.append("the replay is not marked Idempotent-Replayed: true")
    if first.headers.get("idempotent-replayed", "").lower() == "true":
        problems.append("the first request is marked Idempotent-Replayed: true")
    if problems:
        client.fail(CHECK, f"{operation_id}: " + "; ".join(problems), replay)
        return
    if other is not None:
        reused = send(other)
        code = reused.json().get("code") if reused.status_code == 422 else None
        if code != REUSED:
            client.fail(
                CHECK,
                f"{operation_id}: the same key with another body must be refused with 422 {REUSED}",
                reused,
            )
            return
    client.passed(CHECK, operation_id)


def _posted_debits(scenario: Scenario, account_id: str) -> int | None:
    if not scenario.target.spec.has("getAccountBalance"):
        return None
    answer = scenario.client.get(f"/v1/accounts/{account_id}/balance")
    return int(answer.json()["posted"]["debits"]) if answer.status_code == 200 else None
