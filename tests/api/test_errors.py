"""Bad input of every kind gets a clear problem+json, never a 500; request ids on every answer."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Books, Sandbox, ServerThread, entry_body

PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, status: int, code: str) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["code"] == code
    assert problem["request_id"] == response.headers["X-GLedger-Request-Id"]
    assert problem["status"] == status
    assert "Traceback" not in response.text
    return problem  # type: ignore[no-any-return]


def test_schema_errors_point_at_every_offending_field(sandbox: Sandbox, books: Books) -> None:
    body = {
        "ledger_id": books.ledger_id,
        "lines": [{"direction": "sideways", "amount": -1}, {"amount": "7"}],
        "colour": "red",
    }
    response = sandbox.client.post("/v1/entries", json=body)
    problem = _problem(
        response, 400, response.json()["errors"][0]["code"]
    )  # the first, in pointer order
    pointers = {(e["pointer"], e["code"]) for e in problem["errors"]}
    assert ("/lines/0/direction", "validation.invalid_value") in pointers
    assert ("/lines/0/amount", "validation.invalid_value") in pointers
    assert ("/lines/1/direction", "validation.required_field_missing") in pointers
    assert ("/lines/1/amount", "validation.invalid_type") in pointers
    assert ("/colour", "validation.unknown_field") in pointers


def test_missing_required_field(sandbox: Sandbox) -> None:
    problem = _problem(
        sandbox.client.post("/v1/ledgers", json={}), 400, "validation.required_field_missing"
    )
    assert problem["errors"] == [
        {
            "pointer": "/name",
            "code": "validation.required_field_missing",
            "detail": "name is required.",
        }
    ]


def test_domain_errors_are_422_with_pointers(sandbox: Sandbox, books: Books) -> None:
    unbalanced = entry_body(books, ("cash", "debit", 100), ("revenue", "credit", 90))
    problem = _problem(
        sandbox.client.post("/v1/entries", json=unbalanced), 422, "validation.unbalanced_entry"
    )
    assert problem["errors"][0]["pointer"] == "/lines"
    wrong_currency = entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1))
    wrong_currency["lines"][1]["currency"] = "EUR"
    problem = _problem(
        sandbox.client.post("/v1/entries", json=wrong_currency), 422, "validation.currency_mismatch"
    )
    assert problem["errors"][0]["pointer"] == "/lines/1/currency"
    duplicate = entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1), external_id="dup")
    assert sandbox.client.post("/v1/entries", json=duplicate).status_code == 201
    _problem(sandbox.client.post("/v1/entries", json=duplicate), 409, "duplicate_entry")


def test_query_and_path_errors(sandbox: Sandbox) -> None:
    problem = _problem(
        sandbox.client.get("/v1/entries", params={"limit": "0"}), 400, "validation.invalid_value"
    )
    assert problem["errors"][0]["pointer"] == "/query/limit"
    problem = _problem(
        sandbox.client.get("/v1/entries", params={"limit": "many"}), 400, "validation.invalid_type"
    )
    assert problem["errors"][0]["pointer"] == "/query/limit"
    problem = _problem(
        sandbox.client.get("/v1/entries", params={"colour": "red"}), 400, "validation.unknown_field"
    )
    assert problem["errors"][0]["pointer"] == "/query/colour"
    problem = _problem(
        sandbox.client.get("/v1/entries", params={"cursor": "bogus"}),
        400,
        "validation.invalid_cursor",
    )
    assert problem["errors"][0]["pointer"] == "/query/cursor"
    _problem(sandbox.client.get("/v1/entries/ent_missing"), 404, "not_found")


def test_undecodable_and_malformed_bodies(sandbox: Sandbox) -> None:
    headers = {"Content-Type": "application/json"}
    _problem(
        sandbox.client.post("/v1/ledgers", content=b'{"name": "\xff\xfe"}', headers=headers),
        400,
        "validation.malformed_body",
    )
    _problem(
        sandbox.client.post("/v1/ledgers", content=b'{"name": ', headers=headers),
        400,
        "validation.malformed_body",
    )
    _problem(
        sandbox.client.post(
            "/v1/ledgers", content=b"name=x", headers={"Content-Type": "text/plain"}
        ),
        415,
        "unsupported_media_type",
    )


def test_too_large_body_is_413_and_loses_nothing(sandbox: Sandbox, server: ServerThread) -> None:
    big = {"name": "x", "metadata": {f"k{i}": "v" * 400 for i in range(200)}}
    _problem(sandbox.client.post("/v1/ledgers", json=big), 413, "payload_too_large")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1024

    chunked = sandbox.client.post(
        "/v1/ledgers", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _problem(chunked, 413, "payload_too_large")
    assert sandbox.client.get("/v1/ledgers").json()["data"] == []


def test_unknown_routes_and_methods(anonymous: httpx.Client) -> None:
    _problem(anonymous.get("/v1/nowhere"), 404, "not_found")
    problem = anonymous.delete("/v1/ledgers")
    _problem(problem, 405, "method_not_allowed")
    assert problem.headers["Allow"] == "GET, POST"
    patched = anonymous.put("/v1/entries/ent_1")
    assert patched.status_code == 405 and patched.headers["Allow"] == "GET, PATCH"


def test_request_and_correlation_ids_and_traceparent(sandbox: Sandbox) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = sandbox.client.get(
        "/v1/ledgers", headers={"X-Correlation-Id": "order-42", "traceparent": trace}
    )
    assert response.headers["X-GLedger-Request-Id"].startswith("req_")
    assert response.headers["X-Correlation-Id"] == "order-42"
    assert response.headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert response.headers["traceparent"] != trace
    other = sandbox.client.get("/v1/ledgers")
    assert other.headers["X-GLedger-Request-Id"] != response.headers["X-GLedger-Request-Id"]


@pytest.mark.parametrize(
    "method,path",
    [("get", "/v1/ledgers"), ("post", "/v1/entries"), ("get", "/v1/sandbox/tenant")],
)
def test_missing_or_bad_credentials_are_401(
    anonymous: httpx.Client, method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dTpw"}):
        response = anonymous.request(
            method, path, headers=headers, json={} if method == "post" else None
        )
        _problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/sandbox/tenants"),  # an optional body
        ("POST", "/v1/entries/ent_none/reverse"),  # optional, before the id is looked up
        ("POST", "/v1/ledgers"),  # a required one
    ],
)
def test_a_json_null_body_is_a_body_the_schema_refuses(
    sandbox: Sandbox, method: str, path: str
) -> None:
    response = sandbox.client.request(
        method, path, content=b"null", headers={"Content-Type": "application/json"}
    )
    problem = _problem(response, 400, "validation.invalid_type")
    assert [e["pointer"] for e in problem["errors"]] == [""]


def test_a_well_formed_time_out_of_range_once_in_utc(sandbox: Sandbox, books: Books) -> None:
    """0001-01-01T00:00:00+00:01 is a valid RFC 3339 date-time whose UTC instant is before year 1:
    422 at its field in a body (nothing written), 400 in a query; never a 500."""
    early = "0001-01-01T00:00:00+00:01"
    before = sandbox.client.get("/v1/entries", params={"ledger_id": books.ledger_id}).json()
    body = entry_body(books, ("cash", "debit", 100), ("revenue", "credit", 100))
    problem = _problem(
        sandbox.client.post("/v1/entries", json=body | {"effective_at": early}),
        422,
        "validation.invalid_value",
    )
    assert [e["pointer"] for e in problem["errors"]] == ["/effective_at"]
    after = sandbox.client.get("/v1/entries", params={"ledger_id": books.ledger_id}).json()
    assert after == before
    cash = books.accounts["cash"]
    problem = _problem(
        sandbox.client.get(f"/v1/accounts/{cash}/balance", params={"as_of": early}),
        400,
        "validation.invalid_value",
    )
    assert [e["pointer"] for e in problem["errors"]] == ["/query/as_of"]
