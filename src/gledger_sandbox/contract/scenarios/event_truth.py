"""``events_truthful``: an event's ``data`` is its resource as it was, and every change has one.

- On the kit's books: a ledger, an account, entries created posted and pending, a metadata
  change, a posting, a void and a reversal. Each write's event (by type and resource id) must
  carry exactly the resource the write answered, at that moment: ``entry.posted`` a posted
  entry, ``entry.voided`` a voided one, ``entry.reversed`` the original linked to its reversal.
- The asynchronous changes, on a tenant of the kit's own with a frozen clock (sandbox controls:
  ``createTenant`` with ``clock_start`` and ``advanceClock``; skipped with the reason on a
  target without them): a ``Prefer: respond-async`` entry, a pending entry past its
  ``expires_at``, a payout, a payout canceled and a settlement scheduled two hours ahead, then
  the clock moved three days. The async entry must have its ``entry.posted``, the expired one
  its ``entry.voided``, the payout ``payout.in_transit`` and ``payout.paid``, the canceled one
  ``payout.canceled``, the settlement ``settlement.scheduled`` and ``settlement.completed``,
  each with the resource in the state its type names, and the last event of each resource
  must be what the resource reads as now.
"""

from __future__ import annotations

from typing import Any

import httpx

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.scenarios import Scenario, ScenarioBroken
from gledger_sandbox.contract.scenarios.clock_tenant import NEEDS, clock_tenant
from gledger_sandbox.contract.scenarios.events import _head

CHECK = "events_truthful"
MAX_PAGES = 50
SETTLE_AT = "2026-03-02T11:00:00Z"
"""Two hours into the clock tenant's day: a settlement scheduled then, completed on the clock."""
STATUS_OF = {
    "entry.posted": "posted",
    "entry.voided": "voided",
    "payout.created": "pending",
    "payout.in_transit": "in_transit",
    "payout.paid": "paid",
    "payout.failed": "failed",
    "payout.canceled": "canceled",
    "settlement.scheduled": "scheduled",
    "settlement.completed": "completed",
}
"""The status the resource of an event of this type has in its ``data``."""
Expected = tuple[str, str, dict[str, Any] | None]
"""(event type, resource id, the resource as the write answered it, when it did)."""


def run(scenario: Scenario) -> None:
    scenario.require("listEvents", "createEntry")
    head = _head(scenario)
    expected = _writes(scenario)
    _compare(scenario, scenario.client, head, expected, "writes")
    _asynchronous(scenario)


def _writes(scenario: Scenario) -> list[Expected]:
    client, books = scenario.client, scenario.books()
    made: list[Expected] = []

    def wrote(event_types: tuple[str, ...], answer: httpx.Response, of: str = "") -> Any:
        body = scenario.expect(answer, 200, 201, doing=f"a write that emits {event_types[0]}")
        made.extend((kind, of or body["id"], None if of else body) for kind in event_types)
        return body

    wrote(("ledger.created",), client.post("/v1/ledgers", json={"name": scenario.key("truth")}))
    code = scenario.key("truth").replace("-", "_")
    wrote(
        ("account.created",),
        client.post(
            f"/v1/ledgers/{books.ledger_id}/accounts",
            json={"code": code, "name": "Truth", "kind": "asset", "currency": "USD"},
        ),
    )
    lines = (("kit_cash", "debit", 66), ("kit_revenue", "credit", 66))
    posted = wrote(
        ("entry.created", "entry.posted"), client.post("/v1/entries", json=scenario.entry(*lines))
    )
    for first in ("post", "void"):
        pending = wrote(
            ("entry.created",),
            client.post("/v1/entries", json=scenario.entry(*lines, status="pending")),
        )
        path = f"/v1/entries/{pending['id']}"
        wrote(("entry.updated",), client.patch(path, json={"metadata": {"truth": first}}))
        wrote((f"entry.{first}ed",), client.post(f"{path}/{first}"))
    if scenario.target.spec.has("reverseEntry"):
        reversal = client.post(f"/v1/entries/{posted['id']}/reverse")
        reversing = wrote(("entry.created", "entry.posted"), reversal)
        original = scenario.expect(client.get(f"/v1/entries/{posted['id']}"), 200, doing="reading")
        if (original.get("links") or {}).get("reversed_by") != reversing["id"]:
            raise ScenarioBroken("the reversed entry does not link its reversal", reversal)
        made.append(("entry.reversed", posted["id"], original))
    return made


def _compare(
    scenario: Scenario, client: KitClient, head: int, expected: list[Expected], part: str
) -> None:
    events, response = _events_after(scenario, client, head)
    problems = []
    for kind, resource_id, resource in expected:
        found = [
            e
            for e in events
            if e["type"] == kind and (e.get("data") or {}).get("id") == resource_id
        ]
        if not found:
            problems.append(f"no {kind} event for {resource_id}")
            continue
        data = found[0]["data"]
        status = STATUS_OF.get(kind)
        if status is not None and data.get("status") != status:
            problems.append(
                f"the {kind} event {found[0]['id']} carries {resource_id} with "
                f"status {data.get('status')!r}, not {status!r}"
            )
        if resource is not None and data != resource:
            differ = sorted(k for k in set(data) | set(resource) if data.get(k) != resource.get(k))
            problems.append(
                f"the {kind} event {found[0]['id']} carries {resource_id} unlike "
                f"the write's answer (fields {differ})"
            )
    # The clock's changes are filed under the operation that made them happen.
    name = "listEvents" if part == "writes" else "advanceClock"
    if problems:
        client.fail(CHECK, f"{part}: " + "; ".join(problems[:4]), response, name=name)
    else:
        client.passed(CHECK, name)


def _events_after(
    scenario: Scenario, client: KitClient, after: int
) -> tuple[list[dict[str, Any]], httpx.Response]:
    """Every event after ``after`` (the kit's writes made a few dozen at most)."""
    events: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        response = client.get("/v1/events", params={"after": after, "limit": 100})
        page = scenario.expect(response, 200, doing="reading the event log")
        events += page["data"]
        if not page["has_more"]:
            return events, response
        after = page["next_after"]
    raise ScenarioBroken(f"the event log did not end after {MAX_PAGES} pages")


def _asynchronous(scenario: Scenario) -> None:
    with clock_tenant(scenario) as client:
        if client is None:
            scenario.target.results.skip(scenario.client.phase, CHECK, "asynchronous", NEEDS)
            return
        expected = _changes_on_the_clock(scenario, client)
        _compare(scenario, client, 0, expected, "asynchronous")


def _changes_on_the_clock(scenario: Scenario, client: KitClient) -> list[Expected]:
    def made(answer: httpx.Response, *statuses: int) -> Any:
        return scenario.expect(answer, *statuses, doing="a write on the kit's clock tenant")

    ledger = made(client.post("/v1/ledgers", json={"name": "Contract kit clock"}), 201)["id"]
    ids = {}
    for code, kind in (
        ("cash", "asset"),
        ("owner_equity", "equity"),
        ("payouts_in_transit", "asset"),
        ("bank", "asset"),
        ("retained_earnings", "equity"),
    ):
        opened = client.post(
            f"/v1/ledgers/{ledger}/accounts",
            json={"code": code, "name": code, "kind": kind, "currency": "USD"},
        )
        ids[code] = made(opened, 201)["id"]

    def entry(amount: int, **extra: Any) -> dict[str, Any]:
        return {
            "ledger_id": ledger,
            **extra,
            "lines": [
                {"account_id": ids["cash"], "direction": "debit", "amount": amount},
                {"account_id": ids["owner_equity"], "direction": "credit", "amount": amount},
            ],
        }

    made(client.post("/v1/entries", json=entry(100_000)), 201)
    later = made(
        client.post("/v1/entries", json=entry(11), headers={"Prefer": "respond-async"}), 201, 202
    )
    expiring = made(
        client.post(
            "/v1/entries", json=entry(12, status="pending", expires_at="2026-03-02T10:00:00Z")
        ),
        201,
    )
    payout = made(
        client.post("/v1/payouts", json={"ledger_id": ledger, "amount": 1000, "currency": "USD"}),
        201,
    )
    canceled = made(
        client.post("/v1/payouts", json={"ledger_id": ledger, "amount": 500, "currency": "USD"}),
        201,
    )
    canceled = made(client.post(f"/v1/payouts/{canceled['id']}/cancel"), 200)
    expected: list[Expected] = [("payout.canceled", canceled["id"], canceled)]
    if scenario.target.spec.has("createSettlement"):
        settlement = made(
            client.post(
                "/v1/settlements",
                json={
                    "ledger_id": ledger,
                    "account_id": ids["owner_equity"],
                    "contra_account_id": ids["retained_earnings"],
                    "up_to": SETTLE_AT,
                },
            ),
            201,
        )
        expected.append(("settlement.scheduled", settlement["id"], settlement))
    made(client.post("/v1/sandbox/clock/advance", json={"seconds": 3 * 86400}), 200)
    if scenario.target.spec.has("createSettlement"):
        done = made(client.get(f"/v1/settlements/{settlement['id']}"), 200)
        expected.append(("settlement.completed", settlement["id"], done))
    now = {
        resource: made(client.get(path), 200)
        for resource, path in (
            (later["id"], f"/v1/entries/{later['id']}"),
            (expiring["id"], f"/v1/entries/{expiring['id']}"),
            (payout["id"], f"/v1/payouts/{payout['id']}"),
        )
    }
    return [
        *expected,
        ("entry.posted", later["id"], now[later["id"]]),
        ("entry.voided", expiring["id"], now[expiring["id"]]),
        ("payout.created", payout["id"], payout),
        ("payout.in_transit", payout["id"], None),
        ("payout.paid", payout["id"], now[payout["id"]]),
    ]
