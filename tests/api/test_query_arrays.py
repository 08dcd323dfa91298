"""Array query parameters (``types`` of the events list and stream) in every form clients send."""

from __future__ import annotations

import pytest

from tests.conftest import Books, Sandbox


def _types(sandbox: Sandbox, query: str, path: str = "/v1/events") -> list[str]:
    listed = sandbox.client.get(f"{path}?{query}")
    assert listed.status_code == 200, listed.text
    return sorted({e["type"] for e in listed.json()["data"]})


@pytest.mark.parametrize(
    "query",
    [
        "types=ledger.created,account.created",
        "types=ledger.created&types=account.created",
        "types=ledger.created&types=account.created,ledger.created",
    ],
)
def test_repeated_and_comma_separated_types_both_filter(
    sandbox: Sandbox, books: Books, query: str
) -> None:
    assert _types(sandbox, query + "&limit=200") == ["account.created", "ledger.created"]


def test_an_empty_types_is_every_type(sandbox: Sandbox, books: Books) -> None:
    every = _types(sandbox, "limit=200")
    assert _types(sandbox, "types=&limit=200") == every
    assert "ledger.created" in every and "account.created" in every


def test_the_stream_reads_repeated_types_too(sandbox: Sandbox, books: Books) -> None:
    query = "after=0&max_events=50&timeout=1&types=ledger.created&types=account.created"
    with sandbox.client.stream("GET", f"/v1/events/stream?{query}") as stream:
        assert stream.status_code == 200
        text = "".join(stream.iter_text())
    seen = {line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")}
    assert seen == {"ledger.created", "account.created"}


def test_an_unknown_type_in_either_form_is_400(sandbox: Sandbox) -> None:
    for query in ("types=ledger.created,nope", "types=ledger.created&types=nope"):
        refused = sandbox.client.get(f"/v1/events?{query}")
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["pointer"] == "/query/types"


@pytest.mark.parametrize("query", ["limit=1&limit=500", "limit=1&limit=", "limit=2&types=&limit=2"])
def test_a_one_value_parameter_sent_twice_is_400(sandbox: Sandbox, query: str) -> None:
    refused = sandbox.client.get(f"/v1/events?{query}")
    assert refused.status_code == 400, refused.text
    errors = refused.json()["errors"]
    assert ("/query/limit", "validation.duplicate_parameter") in [
        (e["pointer"], e["code"]) for e in errors
    ]
    assert not [e for e in errors if e["pointer"] == "/query/types"]


def test_an_array_parameter_may_repeat_beside_one_value_ones(sandbox: Sandbox) -> None:
    answered = sandbox.client.get("/v1/events?types=ledger.created&limit=5&types=account.created")
    assert answered.status_code == 200, answered.text
