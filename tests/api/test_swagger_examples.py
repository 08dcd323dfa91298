"""Swagger UI's "Try it out" sends the spec's examples: sent as they are, each answers 2xx or a
documented error (404 for a placeholder id), and with a real ledger id in place of the
placeholder, the ledger's operations answer 2xx on the default fixture.

The requests are built as Swagger UI builds them: path, query and header parameters from their
``example`` (else ``default``), the body from the media type's or schema's ``example``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gledger_sandbox import resources
from gledger_sandbox.specfile import bundle, followed
from tests.conftest import ServerThread, new_sandbox

PLACEHOLDER_LEDGER = "ldg_your_ledger_id"
# Created last: they end the tenant. createWebhookEndpoint's example URL is not on loopback,
# and a test never sends traffic off loopback (deliveries would try it).
LAST = ("resetTenant", "deleteTenant")
NOT_SENT = ("createWebhookEndpoint",)


def prefilled(path: str, item: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    url, params, headers = path, {}, {}
    document = bundle()
    for named in op.get("parameters", []) + item.get("parameters", []):
        parameter = followed(document, named)
        schema = followed(document, parameter.get("schema", {}))
        value = parameter.get("example", schema.get("example", schema.get("default")))
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(value))
        elif value is not None and parameter["in"] == "query":
            params[parameter["name"]] = ",".join(value) if isinstance(value, list) else value
        elif value is not None and parameter["in"] == "header":
            headers[parameter["name"]] = str(value)
    if path.endswith("/stream"):
        params.update(timeout=1, max_events=1)  # Swagger UI would wait for the stream to end
    request: dict[str, Any] = {"url": url, "params": params, "headers": headers}
    content = op.get("requestBody", {}).get("content", {})
    for media, key in (("application/json", "json"), ("application/x-www-form-urlencoded", "data")):
        if media in content:
            schema = followed(document, content[media].get("schema", {}))
            body = content[media].get("example", schema.get("example"))
            if body is not None:
                request[key] = body
    return request


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in bundle()["paths"].items():
        for method, op in item.items():
            if method in resources.METHODS and op["operationId"] not in NOT_SENT:
                found.append((method.upper(), op["operationId"], prefilled(path, item, op)))
    return sorted(found, key=lambda row: LAST.index(row[1]) + 1 if row[1] in LAST else 0)


@pytest.fixture(scope="module")
def sent_as_is(server: ServerThread) -> list[tuple[str, int, Any]]:
    box = new_sandbox(server, fixture="merchant", seed=11)
    answers = []
    with box.client:
        for method, operation_id, request in operations():
            answer = box.client.request(method, **request)
            answers.append((operation_id, answer.status_code, _body(answer)))
    return answers


def _body(answer: Any) -> Any:
    try:
        return answer.json()
    except json.JSONDecodeError:
        return answer.text


def test_every_prefilled_operation_answers_2xx_or_a_documented_error(
    sent_as_is: list[tuple[str, int, Any]],
) -> None:
    for operation_id, status, body in sent_as_is:
        if status < 300:
            continue
        where = f"{operation_id}: {status} {body}"
        if operation_id == "issueToken":  # the example's client is a placeholder
            assert status == 401 and body["code"] == "invalid_client", where
            continue
        if operation_id == "importTenant":  # a real document comes from exportSnapshot
            assert status == 422 and body["code"] == "import.checksum_mismatch", where
            continue
        assert status in (404, 422), where
        assert body["code"] == "not_found" or body["code"].startswith("batch"), where
        assert "_your_" in body["detail"], where
    assert {op for op, status, _ in sent_as_is if status < 300} >= {
        "listLedgers", "createLedger", "listEntries", "listEvents", "createTenant", "getClock",
    }  # fmt: skip


def test_with_a_real_ledger_id_the_ledgers_operations_answer_2xx(server: ServerThread) -> None:
    box = new_sandbox(server, fixture="merchant", seed=12)
    with box.client:
        ledger_id = box.client.get("/v1/ledgers").json()["data"][0]["id"]
        tried = []
        for method, operation_id, request in operations():
            text = json.dumps(request)
            if PLACEHOLDER_LEDGER not in text or operation_id in LAST:
                continue
            answer = box.client.request(
                method, **json.loads(text.replace(PLACEHOLDER_LEDGER, ledger_id))
            )
            assert answer.status_code < 300, f"{operation_id}: {answer.status_code} {answer.text}"
            tried.append(operation_id)
        # Sending createEntry's example twice is no duplicate: it has no external_id.
        again = next(op for op in operations() if op[1] == "createEntry")[2]
        again = json.loads(json.dumps(again).replace(PLACEHOLDER_LEDGER, ledger_id))
        assert box.client.post(**again).status_code == 201
    assert {
        "createEntry", "createEntryBatch", "createPayout", "createSettlement",
        "createReconciliation", "listAccounts", "getProfitAndLoss", "createAccount",
    } <= set(tried)  # fmt: skip
