"""``tenant_isolation``: another tenant's ids are unknown everywhere, not only to single reads.

The kit makes one resource of each kind the spec's paths take an id of (ledger, account,
entry, settlement, payout, reconciliation, event, webhook endpoint and delivery), then, with
a second tenant's credential (``--other-api-key``, or a tenant the kit creates where the
target offers ``createTenant``), calls:

- every operation of the spec with a path id (found from the spec, so new operations are
  covered), with the kit's ids;
- every list with an id filter (a query parameter named like a path id), filtered by the
  kit's ids;
- every create whose example body names an id (``ledger_id``, ``*_account_id``...), with the
  kit's ids in it;

and compares each answer with the one the same call gets with a made-up id: the same status,
and for a list the same (empty) page. A path id the kit could not make is reported as a
skipped part, with the operations it leaves out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.known_ids import KnownIds
from gledger_sandbox.contract.options import TENANT_WIDE
from gledger_sandbox.contract.scenarios import Scenario, ScenarioSkipped
from gledger_sandbox.contract.scenarios.auth import _second_tenant
from gledger_sandbox.contract.spec import SELF_DESTRUCTIVE, Operation

CHECK = "tenant_isolation"
MADE_UP = "kit_unknown_0000000000"
LOOPBACK_HOOK = "http://127.0.0.1:9/gledger-kit-tenancy"
IGNORED_HEADERS = ("request_id",)


def run(scenario: Scenario) -> None:
    scenario.require("createLedger", "createAccount", "createEntry")
    ids = _make_one_of_each(scenario)
    try:
        with _second_tenant(scenario) as other:
            if other is None:
                raise ScenarioSkipped("needs --other-api-key, or a target with createTenant")
            with KitClient(
                scenario.target, scenario.client.phase, f"Bearer {other['api_key']}"
            ) as as_other:
                _paths(scenario, as_other, ids)
                _filters(scenario, as_other, ids)
                _bodies(scenario, as_other, ids)
    finally:
        if "endpoint_id" in ids:
            scenario.client.delete(f"/v1/webhook-endpoints/{ids['endpoint_id']}")
        if "api_key_id" in ids:  # made through createApiKey's links: leave no working key
            scenario.client.post(f"/v1/sandbox/api-keys/{ids['api_key_id']}/revoke")


def _made(scenario: Scenario, operation: str, answer: httpx.Response) -> Any:
    """The created resource, or None when the target lacks the operation or refused it."""
    if not scenario.target.spec.has(operation) or not answer.is_success:
        return None
    return answer.json()


def _make_one_of_each(scenario: Scenario) -> dict[str, str]:
    client, books = scenario.client, scenario.books()
    accounts = books.accounts
    ids = {"ledger_id": books.ledger_id, "account_id": accounts["kit_cash"]}
    entry = scenario.post_entry(("kit_cash", "debit", 900), ("kit_revenue", "credit", 900))
    ids["entry_id"] = entry["id"]
    today = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00")).date().isoformat()
    spec = scenario.target.spec
    if spec.has("createSettlement"):
        settled = _made(
            scenario,
            "createSettlement",
            client.post(
                "/v1/settlements",
                json={
                    "ledger_id": books.ledger_id,
                    "account_id": accounts["kit_cash"],
                    "contra_account_id": accounts["kit_bank"],
                },
            ),
        )
        if settled:
            ids["settlement_id"] = settled["id"]
    if spec.has("createPayout"):
        scenario.post_entry(("kit_cash", "debit", 500), ("kit_revenue", "credit", 500))
        payout = _made(
            scenario,
            "createPayout",
            client.post(
                "/v1/payouts",
                json={
                    "ledger_id": books.ledger_id,
                    "amount": 100,
                    "currency": "USD",
                    "source_account_id": accounts["kit_cash"],
                    "transit_account_id": accounts["kit_transit"],
                    "destination_account_id": accounts["kit_bank"],
                },
            ),
        )
        if payout:
            ids["payout_id"] = payout["id"]
    if spec.has("createReconciliation"):
        run_ = _made(
            scenario,
            "createReconciliation",
            client.post(
                "/v1/reconciliations",
                json={
                    "ledger_id": books.ledger_id,
                    "account_id": accounts["kit_bank"],
                    "records": [
                        {
                            "id": scenario.key("rec"),
                            "amount": 1,
                            "direction": "debit",
                            "date": today,
                        }
                    ],
                },
            ),
        )
        if run_:
            ids["reconciliation_id"] = run_["id"]
    if spec.has("listEvents"):
        events = client.get("/v1/events", params={"after": 0, "limit": 1})
        if events.status_code == 200 and events.json()["data"]:
            ids["event_id"] = events.json()["data"][0]["id"]
    _webhook_ids(scenario, ids)
    _by_links(scenario, ids)
    return ids


def _by_links(scenario: Scenario, ids: dict[str, str]) -> None:
    """Ids of the kinds still missing, from a create whose OpenAPI links name them.

    So that a kind of resource the spec gains (its create linking to its reads) is tried
    without a change to the kit. Created in the kit's own tenant, with the spec's example.
    """
    wanted = {name for op in _operations(scenario) for name in op.parameter_names("path")}
    for operation in _operations(scenario):
        missing = wanted - set(ids)
        if not missing:
            return
        if operation.method != "POST" or operation.parameter_names("path") - set(ids):
            continue
        links = KnownIds()
        links.learn(operation, 201, {"id": "probe"})
        if not set(links.values) & missing:
            continue  # its links give no id the kit still lacks
        body = _body_ids(operation.example_body(), ids, None) or operation.example_body()
        if isinstance(body, dict) and "url" in body:
            body = {**body, "url": LOOPBACK_HOOK}
        path = operation.path
        for name in operation.parameter_names("path"):
            path = path.replace("{" + name + "}", ids[name])
        answer = scenario.client.post(path, json=body)
        if answer.is_success and "json" in answer.headers.get("content-type", ""):
            learnt = KnownIds()
            learnt.learn(operation, answer.status_code, answer.json())
            ids.update({k: v for k, v in learnt.values.items() if k in missing})


def _webhook_ids(scenario: Scenario, ids: dict[str, str]) -> None:
    """An endpoint on a closed loopback port, and the delivery of its test ping."""
    if not scenario.target.spec.has("createWebhookEndpoint"):
        return
    endpoint = _made(
        scenario,
        "createWebhookEndpoint",
        scenario.client.post(
            "/v1/webhook-endpoints",
            json={
                "url": LOOPBACK_HOOK,
                "event_types": ["settlement.failed"],
                "description": f"contract kit {scenario.tag}",
            },
        ),
    )
    if not endpoint:
        return
    ids["endpoint_id"] = endpoint["id"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    if scenario.target.spec.has("testWebhookEndpoint"):
        scenario.client.post(f"{path}/test")
    if scenario.target.spec.has("listWebhookDeliveries"):
        log = scenario.client.get(f"{path}/deliveries")
        if log.status_code == 200 and log.json()["data"]:
            ids["delivery_id"] = log.json()["data"][0]["id"]


def _operations(scenario: Scenario) -> list[Operation]:
    # Not the tenant-wide controls: the other tenant's answer to them is about its own clock
    # or rules, and a call they accept would change that tenant for good.
    return [
        op
        for op in scenario.target.spec.operations.values()
        if op.secured and op.id not in SELF_DESTRUCTIVE | TENANT_WIDE
    ]


def _call(
    client: KitClient,
    operation: Operation,
    path_ids: dict[str, str],
    query: dict[str, Any],
    body: Any,
) -> httpx.Response:
    path = operation.path
    for name in operation.parameter_names("path"):
        path = path.replace("{" + name + "}", path_ids.get(name, MADE_UP))
    params = operation.required_query_examples() | query
    if operation.is_stream:
        params |= {
            k: v
            for k, v in {"timeout": 1, "max_events": 1}.items()
            if k in operation.parameter_names("query")
        }
    return client.request(operation.method, path, params=params, json=body)


def _as_unknown(kit: httpx.Response, made_up: httpx.Response) -> str | None:
    """Why ``kit`` (an answer about the kit's id) is not the answer about a made-up id."""
    if kit.status_code != made_up.status_code:
        return f"answered {kit.status_code}, a made-up id {made_up.status_code}"
    if kit.status_code == 200 and "json" in kit.headers.get("content-type", ""):
        mine, theirs = kit.json(), made_up.json()
        if isinstance(mine, dict) and mine.get("data") != theirs.get("data"):
            return f"listed {len(mine.get('data') or [])} items, a made-up id none"
    return None


def _judge(
    scenario: Scenario, as_other: KitClient, what: str, kit: httpx.Response, made_up: httpx.Response
) -> bool:
    why = _as_unknown(kit, made_up)
    if why is None:
        return True
    as_other.fail(CHECK, f"{what} with another tenant's id {why}", kit)
    return False


def _paths(scenario: Scenario, as_other: KitClient, ids: dict[str, str]) -> None:
    left_out: dict[str, list[str]] = {}
    ok = True
    for operation in _operations(scenario):
        names = operation.parameter_names("path")
        if not names:
            continue
        missing = sorted(names - set(ids))
        if missing:
            left_out.setdefault(", ".join(missing), []).append(operation.id)
            continue
        body = operation.example_body() if operation.body_required else None
        kit = _call(as_other, operation, ids, {}, body)
        made_up = _call(as_other, operation, {}, {}, body)
        ok &= _judge(scenario, as_other, operation.id, kit, made_up)
    for missing_names, operations in left_out.items():
        scenario.target.results.skip(
            as_other.phase,
            CHECK,
            f"paths with {missing_names}",
            f"the kit could make no {missing_names} to try {', '.join(sorted(operations))} with",
        )
    if ok:
        scenario.client.passed(CHECK, "path ids")


def _filters(scenario: Scenario, as_other: KitClient, ids: dict[str, str]) -> None:
    ok = True
    for operation in _operations(scenario):
        if operation.method != "GET" or operation.is_stream:
            continue
        for name in sorted(operation.parameter_names("query") & set(ids)):
            if operation.parameter_names("path") - set(ids):
                continue
            # Path ids are the other tenant's own made-up ones: only the filter is the kit's.
            kit = _call(as_other, operation, {}, {name: ids[name]}, None)
            made_up = _call(as_other, operation, {}, {name: MADE_UP}, None)
            ok &= _judge(scenario, as_other, f"{operation.id} filtered by {name}", kit, made_up)
    if ok:
        scenario.client.passed(CHECK, "list filters")


def _body_ids(body: Any, ids: dict[str, str], fill: str | None) -> dict[str, Any] | None:
    """The example body with its top-level ids set to the kit's (or ``fill``), if it has any."""
    if not isinstance(body, dict):
        return None
    changed, found = dict(body), False
    for name in body:
        kind = "account_id" if name.endswith("_account_id") else name
        if kind in ids:
            changed[name] = fill or ids[kind]
            found = True
    return changed if found else None


def _bodies(scenario: Scenario, as_other: KitClient, ids: dict[str, str]) -> None:
    ok = True
    for operation in _operations(scenario):
        if operation.method not in ("POST", "PATCH") or operation.parameter_names("path"):
            continue
        kit_body = _body_ids(operation.example_body(), ids, None)
        if kit_body is None:
            continue
        made_up_body = _body_ids(operation.example_body(), ids, MADE_UP)
        kit = _call(as_other, operation, {}, {}, kit_body)
        made_up = _call(as_other, operation, {}, {}, made_up_body)
        ok &= _judge(scenario, as_other, f"{operation.id} with ids in its body", kit, made_up)
    if ok:
        scenario.client.passed(CHECK, "body ids")
