"""The hostile-input corpus: requests a hostile but honest client sends, each refused with a
clear 4xx problem, and the tenant exactly as it was before (no half-applied change).

Every case goes through the real server on loopback: raw bytes in, status and code out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import Books, Sandbox, ServerThread, new_sandbox

PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    """One hostile request; ``@ledger`` / ``@cash`` / ``@revenue`` name the books' ids."""

    name: str
    method: str
    path: str
    body: str | None
    status: int
    code: str
    pointer: str | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    anonymous: bool = False


ENTRY = (
    '{"ledger_id":"@ledger","description":DESC,"lines":['
    '{"account_id":"@cash","direction":"debit","amount":100},'
    '{"account_id":"@revenue","direction":"credit","amount":100}]}'
)
DEEP = '{"fixture":"empty","seed":' + "[" * 10_000 + "]" * 10_000 + "}"

CORPUS = [
    # Found in review: Python refuses to read an integer of more than 4,300 digits (ValueError).
    Case(
        "an integer of 5,000 digits",
        "POST",
        "/v1/ledgers",
        '{"name":"n","metadata":{"a":' + "9" * 5000 + "}}",
        400,
        "validation.malformed_body",
        "",
    ),
    Case(
        "an integer of 5,000 digits, anonymous",
        "POST",
        "/v1/sandbox/tenants",
        '{"fixture":"empty","seed":' + "9" * 5000 + "}",
        400,
        "validation.malformed_body",
        "",
        anonymous=True,
    ),
    # Issue 16 item 1: strings JSON can spell but UTF-8 cannot carry.
    Case(
        "surrogate in a ledger name",
        "POST",
        "/v1/ledgers",
        r'{"name":"x\ud800y"}',
        400,
        "validation.invalid_string",
        "/name",
    ),
    Case(
        "surrogate in an entry description",
        "POST",
        "/v1/entries",
        ENTRY.replace("DESC", r'"rent \udfff"'),
        400,
        "validation.invalid_string",
        "/description",
    ),
    Case(
        "surrogate deep in metadata",
        "PATCH",
        "/v1/ledgers/@ledger",
        r'{"metadata":{"a":"ok","b":"\ud83d"}}',
        400,
        "validation.invalid_string",
        "/metadata/b",
    ),
    Case(
        "surrogate in a metadata key",
        "PATCH",
        "/v1/ledgers/@ledger",
        r'{"metadata":{"k\udc00":"v"}}',
        400,
        "validation.invalid_string",
        "/metadata/k\\udc00",
    ),
    # Issue 16 item 2: a body without a Content-Type.
    Case(
        "body without Content-Type",
        "POST",
        "/v1/ledgers",
        '{"name":"x"}',
        415,
        "unsupported_media_type",
        "/header/Content-Type",
        headers={},
    ),
    Case(
        "entry without Content-Type",
        "POST",
        "/v1/entries",
        ENTRY.replace("DESC", '"d"'),
        415,
        "unsupported_media_type",
        "/header/Content-Type",
        headers={},
    ),
    # Issue 16 item 3: nesting.
    Case(
        "body nested 10,000 deep",
        "POST",
        "/v1/sandbox/tenants",
        DEEP,
        400,
        "validation.too_deep",
        "",
        anonymous=True,
    ),
    Case(
        "body nested 65 deep",
        "PATCH",
        "/v1/ledgers/@ledger",
        '{"metadata":{"k":' + "[" * 64 + "]" * 64 + "}}",
        400,
        "validation.too_deep",
        "",
    ),
    Case(
        "badly nested and deep",
        "POST",
        "/v1/ledgers",
        "[" * 5000 + "}" * 5000,
        400,
        "validation.too_deep",
        "",
    ),
    # Issue 16 item 10: repeated keys.
    Case(
        "repeated top-level key",
        "POST",
        "/v1/ledgers",
        '{"name":"a","name":"b"}',
        400,
        "validation.duplicate_key",
        "/name",
    ),
    Case(
        "repeated key in a line",
        "POST",
        "/v1/entries",
        ENTRY.replace("DESC", '"d"').replace('"amount":100},', '"amount":100,"amount":5},'),
        400,
        "validation.duplicate_key",
        "/lines/0/amount",
    ),
    # Issue 10 item 3 and issue 16 item 10: every declared format is enforced, and a webhook
    # URL is one the worker can call without leaking credentials (loopback hosts only: a case
    # that were wrongly accepted must never cause a delivery elsewhere).
    Case(
        "webhook URL with a space",
        "POST",
        "/v1/webhook-endpoints",
        '{"url":"http://127.0.0.1:9/a b"}',
        400,
        "validation.invalid_value",
        "/url",
    ),
    Case(
        "webhook URL with credentials",
        "POST",
        "/v1/webhook-endpoints",
        '{"url":"http://user:pass@127.0.0.1:9/hook"}',
        400,
        "validation.invalid_url",
        "/url",
    ),
    Case(
        "webhook URL with port 99999",
        "POST",
        "/v1/webhook-endpoints",
        '{"url":"http://127.0.0.1:99999/hook"}',
        400,
        "validation.invalid_url",
        "/url",
    ),
    Case(
        "webhook URL with a raw non-ASCII character",
        "POST",
        "/v1/webhook-endpoints",
        '{"url":"http://127.0.0.1:9/h\u00e9"}',
        400,
        "validation.invalid_value",
        "/url",
    ),
    Case(
        "effective_at on no calendar day",
        "POST",
        "/v1/entries",
        ENTRY.replace("DESC", '"d","effective_at":"2026-02-30T00:00:00Z"'),
        400,
        "validation.invalid_value",
        "/effective_at",
    ),
    Case(
        "effective_at without an offset",
        "POST",
        "/v1/entries",
        ENTRY.replace("DESC", '"d","effective_at":"2026-02-01T00:00:00"'),
        400,
        "validation.invalid_value",
        "/effective_at",
    ),
    Case(
        "report from on no calendar day",
        "GET",
        "/v1/ledgers/@ledger/reports/pnl?from=2026-02-30&to=2026-03-01",
        None,
        400,
        "validation.invalid_value",
        "/query/from",
    ),
]


def _fill(text: str, books: Books) -> str:
    """The text with ``@ledger`` and ``@<account code>`` replaced by the books' ids."""
    for code, account_id in {"ledger": books.ledger_id, **books.accounts}.items():
        text = text.replace("@" + code, account_id)
    return text


def snapshot(client: httpx.Client, books: Books) -> dict[str, Any]:
    """What a refused request must leave as it was: ledgers, entries, events, balances."""
    state: dict[str, Any] = {}
    for path in ("/v1/ledgers", "/v1/entries", "/v1/events", "/v1/webhook-endpoints"):
        listed = client.get(path, params={"limit": 200})
        assert listed.status_code == 200, listed.text
        state[path] = listed.json()["data"]
    for code, account_id in books.accounts.items():
        balance = client.get(f"/v1/accounts/{account_id}/balance")
        assert balance.status_code == 200, balance.text
        state[code] = balance.json()
    return state


@pytest.fixture(scope="module")
def target(server: ServerThread) -> Iterator[tuple[Sandbox, Books]]:
    """One tenant with books and a posted entry, shared by the corpus (each case restores it)."""
    box = new_sandbox(server)
    ledger = box.client.post("/v1/ledgers", json={"name": "Hostile"}).json()
    accounts = {}
    for code, kind in (("cash", "asset"), ("revenue", "revenue")):
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        accounts[code] = box.client.post(f"/v1/ledgers/{ledger['id']}/accounts", json=body).json()[
            "id"
        ]
    books = Books(ledger["id"], accounts)
    posted = box.client.post(
        "/v1/entries", content=_fill(ENTRY.replace("DESC", '"d"'), books), headers=JSON
    )
    assert posted.status_code == 201, posted.text
    yield box, books
    box.client.close()


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    assert problem["request_id"] == response.headers["X-GLedger-Request-Id"]
    return problem


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_hostile_request_is_refused_and_changes_nothing(
    server: ServerThread, target: tuple[Sandbox, Books], case: Case
) -> None:
    box, books = target
    before = snapshot(box.client, books)
    headers = dict(case.headers)
    if not case.anonymous:
        headers["Authorization"] = box.client.headers["Authorization"]
    content = None if case.body is None else _fill(case.body, books).encode()
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        request = raw.build_request(case.method, _fill(case.path, books), content=content)
        request.headers.pop("content-type", None)
        request.headers.update(headers)
        response = raw.send(request)
    problem = problem_of(response, case.status, case.code)
    if case.pointer is not None:
        assert case.pointer in [e["pointer"] for e in problem["errors"]], problem
    assert snapshot(box.client, books) == before


def test_no_stored_string_can_break_an_answer() -> None:
    """The one encoder of answers, events and webhook bodies never fails on text or big ints."""
    from gledger_sandbox.api.jsontext import dumps
    from gledger_sandbox.api.problems import problem_body

    assert (
        dumps({"name": "x\ud800y", "n": 2**70})
        == b'{"name":"x\\ud800y","n":1180591620717411303424}'
    )
    assert dumps({"name": "caf\u00e9"}) == '{"name":"café"}'.encode()
    assert b'"detail":"bad \\udfff"' in problem_body(400, "x", "bad \udfff", "req_1")


MAX = 2**53 - 1


def _line(books: Books, code: str, direction: str, amount: int) -> dict[str, Any]:
    return {"account_id": books.accounts[code], "direction": direction, "amount": amount}


def _entry(books: Books, amount: int, **extra: Any) -> dict[str, Any]:
    lines = [_line(books, "cash", "debit", amount), _line(books, "revenue", "credit", amount)]
    return {"ledger_id": books.ledger_id, "lines": lines, **extra}


def _out_of_range(response: httpx.Response, pointer: str = "/lines") -> None:
    problem = problem_of(response, 422, "amount_out_of_range")
    assert [e["pointer"] for e in problem["errors"]] == [pointer], problem


def test_no_posting_takes_a_total_past_2_53(sandbox: Sandbox, books: Books) -> None:
    """Issue 16 item 9: every running total stays exact in JSON (2^53 - 1), whatever the path."""
    post = sandbox.client.post
    full = post("/v1/entries", json=_entry(books, MAX))
    assert full.status_code == 201, full.text
    before = snapshot(sandbox.client, books)
    _out_of_range(post("/v1/entries", json=_entry(books, 1)))
    _out_of_range(post("/v1/entries", json=_entry(books, 1, status="pending")))
    _out_of_range(post(f"/v1/entries/{full.json()['id']}/reverse", json={}))
    atomic = {"atomic": True, "entries": [_entry(books, 1), _entry(books, 2)]}
    _out_of_range(post("/v1/entries/batch", json=atomic), "/entries/0/lines")
    per_item = post("/v1/entries/batch", json={**atomic, "atomic": False})
    assert per_item.status_code == 200, per_item.text
    results = per_item.json()["results"]
    assert [r["error"]["code"] for r in results] == ["amount_out_of_range"] * 2, results
    settle = {"ledger_id": books.ledger_id, "account_code": "revenue", "contra_account_code": "tax"}
    _out_of_range(post("/v1/settlements", json=settle))
    assert snapshot(sandbox.client, books) == before
    # Another currency has a bound of its own; the full one still balances to the cent.
    eur = [_line(books, "cash_eur", "debit", MAX), _line(books, "revenue_eur", "credit", MAX)]
    assert post("/v1/entries", json={"ledger_id": books.ledger_id, "lines": eur}).status_code == 201
    balance = sandbox.client.get(f"/v1/accounts/{books.accounts['cash']}/balance").json()
    assert balance["posted"] == {"debits": MAX, "credits": 0, "amount": MAX}


def test_a_pending_entry_within_the_bound_posts(sandbox: Sandbox, books: Books) -> None:
    pending = sandbox.client.post("/v1/entries", json=_entry(books, MAX, status="pending"))
    assert pending.status_code == 201, pending.text
    _out_of_range(sandbox.client.post("/v1/entries", json=_entry(books, 1)))
    posted = sandbox.client.post(f"/v1/entries/{pending.json()['id']}/post", json={})
    assert posted.status_code == 200, posted.text
    voided_room = sandbox.client.post("/v1/entries", json=_entry(books, 1, status="pending"))
    _out_of_range(voided_room)


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for key, value in node.items():
            if key not in ("example", "examples"):  # values, not schemas
                yield from _formats(value)
    elif isinstance(node, list):
        for value in node:
            yield from _formats(value)


def test_every_format_of_the_spec_has_a_checker_of_our_own(server: ServerThread) -> None:
    """A format without a checker would pass every value silently (as ``uri`` once did)."""
    from gledger_sandbox.api.formats import CHECKER

    document = httpx.get(f"{server.url}/v1/openapi.json").json()
    declared = set(_formats(document))
    assert declared >= {"uri", "date", "date-time"}
    assert declared - set(CHECKER.checkers) == set()
