"""Another tenant's ids read nothing, on every operation the spec has that takes one.

The operations come from the spec the served sandbox publishes (``/v1/openapi.json``), so an
operation added later is probed without a change here; one whose id this test cannot make
fails the test (it is never skipped). Tenant A makes one resource of each kind; then, with
tenant B's credential:

- every operation with an id in its path, called with A's ids, answers a 4xx problem, the
  same status as for a made-up id, and names none of A's ids;
- every list with a query filter naming an id, filtered by A's ids, lists nothing (or 4xx);

and afterwards every resource of A is still there, unchanged (B's writes, deletes, restores
and cancels with A's ids changed nothing).
"""

from __future__ import annotations

import collections
from typing import Any

import httpx

from tests.reliability.conftest import Tenant, new_tenant, open_books
from tests.served import ServedProcess

MADE_UP = "zzz_made_up_000000000000"
CLOSED_PORT_HOOK = "http://127.0.0.1:9/cross-tenant"  # loopback; nothing listens on port 9
FILTERS = {"source_id": "settlement_id"}
"""Query filters that name an id of another kind (an entry's source: here a settlement)."""


def _deref(document: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _deref(document, target)
    return node


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation: its id, method, path, parameters (resolved) and body example."""
    found = []
    for path, item in document["paths"].items():
        shared = [_deref(document, p) for p in item.get("parameters", [])]
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = shared + [_deref(document, p) for p in operation.get("parameters", [])]
            body = operation.get("requestBody")
            example = None
            if body is not None:
                media = _deref(document, body)["content"].get("application/json", {})
                example = _deref(document, media.get("schema", {})).get("example", {})
            found.append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "path_ids": [p["name"] for p in params if p["in"] == "path"],
                    "query_ids": [
                        p["name"]
                        for p in params
                        if p["in"] == "query" and p["name"].endswith("_id")
                    ],
                    "body": example,
                    "required_query": {
                        p["name"]: p.get("example", p.get("schema", {}).get("example"))
                        for p in params
                        if p["in"] == "query" and p.get("required")
                    },
                }
            )
    return found


def _made(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    made: dict[str, Any] = answer.json()
    return made


def _tenant_a_resources(client: httpx.Client) -> dict[str, str]:
    """One resource of each kind a path or filter names, in tenant A: ids by parameter name."""
    chart = open_books(client, ("USD",))
    cash, revenue, liability, expense = chart.accounts["USD"]
    ids = {"ledger_id": chart.ledger_id, "account_id": cash}
    lines = [
        {"account_id": cash, "direction": "debit", "amount": 5000},
        {"account_id": revenue, "direction": "credit", "amount": 5000},
    ]
    entry = _made(
        client.post(
            "/v1/entries",
            json={"ledger_id": chart.ledger_id, "lines": lines, "external_id": "a-secret-ext"},
        )
    )
    ids["entry_id"], ids["external_id"] = entry["id"], "a-secret-ext"
    owed = [
        {"account_id": expense, "direction": "debit", "amount": 3000},
        {"account_id": liability, "direction": "credit", "amount": 3000},
    ]
    _made(client.post("/v1/entries", json={"ledger_id": chart.ledger_id, "lines": owed}))
    settlement = _made(
        client.post(
            "/v1/settlements",
            json={"ledger_id": chart.ledger_id, "account_id": liability, "contra_account_id": cash},
        )
    )
    ids["settlement_id"] = settlement["id"]
    payout = _made(
        client.post(
            "/v1/payouts",
            json={
                "ledger_id": chart.ledger_id,
                "amount": 100,
                "currency": "USD",
                "source_account_id": cash,
                "transit_account_id": liability,
                "destination_account_id": expense,
            },
        )
    )
    ids["payout_id"] = payout["id"]
    day = entry["created_at"][:10]
    record = {"id": "rec-1", "amount": 1, "direction": "debit", "date": day}
    run = _made(
        client.post(
            "/v1/reconciliations",
            json={"ledger_id": chart.ledger_id, "account_id": cash, "records": [record]},
        )
    )
    ids["reconciliation_id"] = run["id"]
    endpoint = _made(
        client.post(
            "/v1/webhook-endpoints",
            json={"url": CLOSED_PORT_HOOK, "event_types": ["settlement.failed"]},
        )
    )
    ids["endpoint_id"] = endpoint["id"]
    _made(client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test"))
    deliveries = _made(client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    ids["delivery_id"] = deliveries["data"][0]["id"]
    ids["event_id"] = _made(client.get("/v1/events", params={"limit": 1}))["data"][0]["id"]
    fault = {
        "match": {"operation_id": "simulateCharge"},
        "effect": {"type": "error", "status": 503},
        "times": 1,
    }
    ids["fault_id"] = _made(client.post("/v1/sandbox/faults", json=fault))["id"]
    ids["snapshot_id"] = _made(client.post("/v1/sandbox/snapshots", json={"name": "a"}))["id"]
    key = _made(client.post("/v1/sandbox/api-keys", json={"name": "a"}))
    ids["api_key_id"], ids["api_key"] = key["id"], key["secret"]
    return ids


def _reads(client: httpx.Client, ids: dict[str, str]) -> dict[str, Any]:
    """A's resources as A sees them (every GET whose path ids A has)."""
    return {
        path: client.get(path).json()
        for path in (
            f"/v1/ledgers/{ids['ledger_id']}",
            f"/v1/accounts/{ids['account_id']}/balance",
            f"/v1/entries/{ids['entry_id']}",
            f"/v1/settlements/{ids['settlement_id']}",
            f"/v1/payouts/{ids['payout_id']}",
            f"/v1/reconciliations/{ids['reconciliation_id']}",
            f"/v1/webhook-endpoints/{ids['endpoint_id']}",
            f"/v1/sandbox/faults/{ids['fault_id']}",
            f"/v1/sandbox/snapshots/{ids['snapshot_id']}",
            f"/v1/sandbox/api-keys/{ids['api_key_id']}",
        )
    }


def _call(client: httpx.Client, op: dict[str, Any], values: dict[str, str]) -> httpx.Response:
    path = op["path"]
    for name in op["path_ids"]:
        path = path.replace("{" + name + "}", values[name])
    body = op["body"]
    if isinstance(body, dict):  # the example, with A's (or made-up) ids where it names one
        body = {k: values.get(k, v) for k, v in body.items()}
    params = dict(op["required_query"])  # their examples: the call reaches the id's lookup
    if op["id"] == "streamEvents":
        params |= {"timeout": 1, "max_events": 1}
    return client.request(op["method"], path, json=body, params=params)


def _leaks(answer: httpx.Response, ids: dict[str, str]) -> list[str]:
    """A's ids in the answer, beyond those the request itself sent (a 404 may echo those)."""
    sent = str(answer.request.url) + answer.request.content.decode()
    return [name for name, value in ids.items() if value in answer.text and value not in sent]


def test_no_operation_reads_another_tenants_ids(served: ServedProcess) -> None:
    document = httpx.get(f"{served.url}/v1/openapi.json", timeout=30).json()
    operations = _operations(document)
    a, b = new_tenant(served.url), new_tenant(served.url)
    with (
        httpx.Client(base_url=served.url, headers=a.auth, timeout=30) as as_a,
        httpx.Client(base_url=served.url, headers=b.auth, timeout=30) as as_b,
    ):
        ids = _tenant_a_resources(as_a)
        before = _reads(as_a, ids)
        wanted = {name for op in operations for name in op["path_ids"]}
        filters = {FILTERS.get(name, name) for op in operations for name in op["query_ids"]}
        assert wanted | filters <= set(ids), (
            f"no id of tenant A for {(wanted | filters) - set(ids)}"
        )
        statuses = _probe_paths(as_b, operations, ids)
        filtered = _probe_filters(as_b, operations, ids)
        assert _reads(as_a, ids) == before  # nothing B sent with A's ids changed A
        assert _tenant_intact(as_a, b)
    print(
        f"\ncross-tenant: {sum(statuses.values())} path probes {dict(statuses)}, "
        f"{filtered} list filters, 0 reads"
    )


def _probe_paths(
    as_b: httpx.Client, operations: list[dict[str, Any]], ids: dict[str, str]
) -> collections.Counter[int]:
    statuses: collections.Counter[int] = collections.Counter()
    made_up = {name: MADE_UP for name in ids}
    # Reads first, then writes, deletes last: a broken isolation shows before it destroys.
    order = {"GET": 0, "PATCH": 1, "POST": 1, "PUT": 1, "DELETE": 2}
    for op in sorted(operations, key=lambda o: order[o["method"]]):
        if not op["path_ids"]:
            continue
        answer = _call(as_b, op, ids)
        unknown = _call(as_b, op, made_up)
        assert 400 <= answer.status_code < 500, (op["id"], answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), op["id"]
        assert answer.json()["code"], op["id"]
        assert answer.status_code == unknown.status_code, (op["id"], answer.text, unknown.text)
        assert _leaks(answer, ids) == [], (op["id"], answer.text)
        statuses[answer.status_code] += 1
    return statuses


def _probe_filters(
    as_b: httpx.Client, operations: list[dict[str, Any]], ids: dict[str, str]
) -> int:
    probed = 0
    for op in operations:
        if op["method"] != "GET" or op["id"] == "streamEvents" or op["path_ids"]:
            continue
        for name in op["query_ids"]:
            value = ids[FILTERS.get(name, name)]
            answer = as_b.get(op["path"], params={name: value})
            if answer.status_code == 200:
                assert answer.json()["data"] == [], (op["id"], name, answer.text)
            else:
                assert 400 <= answer.status_code < 500, (op["id"], name, answer.text)
            assert _leaks(answer, ids) == [], (op["id"], name, answer.text)
            probed += 1
    return probed


def _tenant_intact(as_a: httpx.Client, b: Tenant) -> bool:
    """A's own lists still hold its resources, and none of B's."""
    entries = as_a.get("/v1/entries").json()["data"]
    return bool(entries) and b.credentials["tenant_id"] not in str(entries)
