"""``hostile_inputs``: no input shape makes a 5xx, and one that does is reported as curl.

Generated cases rarely reach the shapes that break parsers and stores, so the kit sends them
itself to every write of the spec that takes a JSON body (the selected operations; path ids
are the kit's own resources where it has them, the body the spec's example with the kit's
ids): metadata nested 30 and 70 levels deep, metadata with 1,000 keys, every string 5,000
characters long, and strings with control characters, a NUL and a lone surrogate. Any answer
may refuse them (a 4xx problem); a 5xx, a dropped connection or a timeout fails the check on
that operation with the exact request as curl, whatever its size. Webhook URLs in a body are
pointed at a closed loopback port, and any endpoint such a request creates is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from gledger_sandbox.contract.curl import curl_for
from gledger_sandbox.contract.options import TENANT_WIDE
from gledger_sandbox.contract.report import Failure
from gledger_sandbox.contract.scenarios import Scenario
from gledger_sandbox.contract.spec import SELF_DESTRUCTIVE, Operation

CHECK = "hostile_inputs"
MADE_UP = "kit_unknown_0000000000"
LOOPBACK_HOOK = "http://127.0.0.1:9/gledger-kit-hostile"


def _nested(depth: int) -> dict[str, Any]:
    value: Any = "bottom"
    for level in range(depth):
        value = {f"level{level}": value}
    return value  # type: ignore[no-any-return]


def _strings(body: Any, make: Callable[[str], str]) -> Any:
    """``body`` with every string value (not the keys) replaced by ``make(value)``."""
    if isinstance(body, dict):
        return {key: _strings(value, make) for key, value in body.items()}
    if isinstance(body, list):
        return [_strings(item, make) for item in body]
    return make(body) if isinstance(body, str) else body


SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "deep metadata (30 levels)": lambda body: {**body, "metadata": _nested(30)},
    "deep metadata (70 levels)": lambda body: {**body, "metadata": _nested(70)},
    "1000 metadata keys": lambda body: {**body, "metadata": {f"k{i}": "v" for i in range(1000)}},
    "5000-character strings": lambda body: _strings(body, lambda _: "x" * 5000),
    "control characters": lambda body: _strings(body, lambda text: text + "\x00\x07\u2028\ud800"),
}
"""Each shape, as a change of the example body."""


def run(scenario: Scenario) -> None:
    scenario.require("createEntry")
    ids = _kit_ids(scenario)
    for operation in _writes(scenario):
        _try(scenario, operation, ids)


def _kit_ids(scenario: Scenario) -> dict[str, str]:
    books = scenario.books()
    pending = scenario.post_entry(
        ("kit_cash", "debit", 5), ("kit_revenue", "credit", 5), status="pending"
    )
    return {
        "ledger_id": books.ledger_id,
        "account_id": books.accounts["kit_cash"],
        "entry_id": pending["id"],
    }


def _writes(scenario: Scenario) -> list[Operation]:
    # Never the tenant-wide controls, even on the run's own tenant: a shape they accept (a
    # clock moved, a fault rule added) would change every later answer of the run.
    options = scenario.target.options
    return [
        op
        for op in scenario.target.spec.operations.values()
        if op.method in ("POST", "PATCH", "PUT")
        and op.secured
        and op.id not in SELF_DESTRUCTIVE | TENANT_WIDE
        and options.selects(op.id)
        and "application/json" in ((op.definition.get("requestBody") or {}).get("content") or {})
    ]


def _base_body(operation: Operation, ids: dict[str, str]) -> dict[str, Any]:
    example = operation.example_body()
    body = dict(example) if isinstance(example, dict) else {}
    for name in body:
        kind = "account_id" if name.endswith("_account_id") else name
        if kind in ids:
            body[name] = ids[kind]
    if "url" in body:
        body["url"] = LOOPBACK_HOOK
    return body


def _try(scenario: Scenario, operation: Operation, ids: dict[str, str]) -> None:
    path = operation.path
    for name in operation.parameter_names("path"):
        path = path.replace("{" + name + "}", ids.get(name, MADE_UP))
    base = _base_body(operation, ids)
    failed = False
    for shape, make in SHAPES.items():
        body = make(base)
        if body == base:
            continue  # nothing to change (no strings): it would be an ordinary valid request
        if "url" in body:
            body["url"] = LOOPBACK_HOOK
        params = operation.required_query_examples()
        # ASCII JSON: a lone surrogate travels as its escape, which httpx's encoder refuses.
        content = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        try:
            answer = scenario.client.request(
                operation.method, path, content=content, params=params, headers=headers
            )
        except httpx.HTTPError as error:
            # The request as sent, for its curl (the credential shows as $GLEDGER_TOKEN).
            request = httpx.Request(
                operation.method,
                scenario.target.base_url + path,
                content=content,
                params=params,
                headers={**headers, "Authorization": "Bearer hidden"},
            )
            message = f"{shape}: the request failed ({error!r}) instead of an answer"
            scenario.target.results.failed(
                scenario.client.phase, Failure(CHECK, operation.id, message, curl_for(request))
            )
            failed = True
            continue
        if answer.status_code >= 500:
            scenario.client.fail(
                CHECK,
                f"{shape}: answered {answer.status_code} (a 5xx for "
                "an input the contract must refuse or accept)",
                answer,
            )
            failed = True
        elif answer.status_code in (200, 201) and operation.id == "createWebhookEndpoint":
            scenario.client.delete(f"/v1/webhook-endpoints/{answer.json()['id']}")
    if not failed:
        scenario.client.passed(CHECK, operation.id)
