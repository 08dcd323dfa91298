"""A corpus of hostile requests, as bytes on a real socket to a served sandbox.

Each request is written with raw asyncio streams (so that what httpx refuses to send, such as
a bad Content-Length or chunked garbage, is sent too) and must get a 4xx
``application/problem+json`` with a ``code`` and the request id (the ``X-GLedger-Request-Id``
header where the request got that far), never a 5xx, within a bound. Afterwards the server
is healthy (a normal request succeeds) and the books are as they were.

Where HTTP cannot answer, the case says so (``CLOSE``): a request head that trickles in is
answered 408 after ``--header-timeout`` and the connection closed, not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import Chart, Tenant, new_tenant, open_books
from tests.served import ServedProcess

BOUND = 15.0
"""Seconds one case may take (the slowest wait on --header-timeout 2 / --body-timeout 3)."""
MB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Books:
    tenant: Tenant
    chart: Chart
    entry_id: str


@dataclass(frozen=True)
class Case:
    """One hostile request: ``build`` makes its bytes from the books' ids."""

    name: str
    build: Callable[[Books], bytes | list[bytes]]
    """The request's bytes, or pieces to write one by one (a trickle)."""
    statuses: frozenset[int]
    pause: float = 0.0
    """Seconds between pieces."""
    request_id_header: bool = True


def _head(
    method: str,
    target: str,
    books: Books,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    content_length: bool = True,
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    sent = {"Authorization": books.tenant.auth["Authorization"]} | (headers or {})
    if body and "Content-Type" not in sent:
        sent["Content-Type"] = "application/json"
    if content_length and body is not None and "Content-Length" not in sent:
        sent["Content-Length"] = str(len(body))
    lines += [f"{k}: {v}" for k, v in sent.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def post(path: str, body: bytes | str, **headers: str) -> Callable[[Books], bytes]:
    def build(books: Books) -> bytes:
        text = body if isinstance(body, bytes) else _fill(body, books).encode()
        return _head("POST", _fill(path, books), books, headers, text)

    return build


def get(target: str, **headers: str) -> Callable[[Books], bytes]:
    return lambda books: _head("GET", _fill(target, books), books, headers)


def raw(data: bytes) -> Callable[[Books], bytes]:
    return lambda books: data


def _fill(text: str, books: Books) -> str:
    usd = books.chart.accounts["USD"]
    return (
        text.replace("@ledger", books.chart.ledger_id)
        .replace("@cash", usd[0])
        .replace("@revenue", usd[1])
        .replace("@entry", books.entry_id)
    )


def entry(amount: str) -> str:
    return (
        '{"ledger_id":"@ledger","lines":['
        f'{{"account_id":"@cash","direction":"debit","amount":{amount}}},'
        f'{{"account_id":"@revenue","direction":"credit","amount":{amount}}}]}}'
    )


def _trickle(books: Books) -> list[bytes]:
    head = _head("GET", "/v1/ledgers", books)
    return [head[i : i + 1] for i in range(len(head))]


def _split(request: bytes) -> list[bytes]:
    """The head and the body's first 64 KiB, then the rest of the body."""
    head, _, body = request.partition(b"\r\n\r\n")
    return [head + b"\r\n\r\n" + body[:65536], body[65536:]]


def _chunked(body: bytes) -> Callable[[Books], bytes]:
    def build(books: Books) -> bytes:
        head = _head("POST", "/v1/ledgers", books, {"Transfer-Encoding": "chunked"}, b"")
        return head.replace(b"Content-Length: 0\r\n", b"") + body

    return build


def _with_length(length: str, body: bytes = b'{"name":"x"}') -> Callable[[Books], bytes]:
    def build(books: Books) -> bytes:
        return _head("POST", "/v1/ledgers", books, {"Content-Length": length}, body)

    return build


S4 = frozenset({400})
S422 = frozenset({400, 422})
S404 = frozenset({404})
NOT_FOUND_OR_BAD = frozenset({400, 404})
DEEP_ARRAYS = '{"name":"n","metadata":{"a":' + "[" * 10_000 + "]" * 10_000 + "}}"
DEEP_OBJECTS = '{"name":"n","metadata":' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}"

CORPUS = [
    Case("truncated JSON", post("/v1/ledgers", '{"name":'), S4),
    Case("JSON with a trailing comma", post("/v1/ledgers", '{"name":"n",}'), S4),
    Case("not JSON at all", post("/v1/ledgers", "name=n"), S4),
    Case("non-UTF-8 bytes", post("/v1/ledgers", b'{"name":"\xff\xfe\xc3"}'), S4),
    Case("UTF-16 with a BOM", post("/v1/ledgers", '{"name":"n"}'.encode("utf-16")), S4),
    Case("a lone surrogate escape", post("/v1/ledgers", '{"name":"\\ud800"}'), S422),
    Case("a JSON array for an object", post("/v1/ledgers", '[{"name":"n"}]'), S422),
    Case("a JSON string for an object", post("/v1/ledgers", '"n"'), S422),
    Case("an empty body", post("/v1/ledgers", b"", **{"Content-Type": "application/json"}), S4),
    Case(
        "10 MB body",
        lambda b: _split(post("/v1/ledgers", '{"name":"' + "x" * (10 * MB) + '"}')(b)),
        frozenset({413}),
        pause=0.5,
    ),
    Case(
        "1 MB string (under the body cap)",
        post("/v1/ledgers", '{"name":"' + "x" * (MB - 64) + '"}'),
        S422,
    ),
    Case("arrays nested 10,000 deep", post("/v1/ledgers", DEEP_ARRAYS), S4),
    Case("objects nested 10,000 deep", post("/v1/ledgers", DEEP_OBJECTS), S4),
    Case("amount 2^64", post("/v1/entries", entry(str(2**64))), S422),
    Case("amount 2^53", post("/v1/entries", entry(str(2**53))), S422),
    Case("amount 10^400", post("/v1/entries", entry("1" + "0" * 400)), S422),
    Case("amount 1e400", post("/v1/entries", entry("1e400")), S422),
    Case("amount NaN", post("/v1/entries", entry("NaN")), S4),
    Case("amount Infinity", post("/v1/entries", entry("Infinity")), S4),
    Case("amount -Infinity", post("/v1/entries", entry("-Infinity")), S4),
    Case("amount 1.5", post("/v1/entries", entry("1.5")), S422),
    Case("amount as a string", post("/v1/entries", entry('"100"')), S422),
    Case("amount zero", post("/v1/entries", entry("0")), S422),
    Case("amount negative", post("/v1/entries", entry("-5")), S422),
    Case("amount true", post("/v1/entries", entry("true")), S422),
    Case("duplicate keys", post("/v1/ledgers", '{"name":"a","name":"b"}'), S422),
    Case("raw NUL byte in the body", post("/v1/ledgers", b'{"name":"a\x00b"}'), S4),
    Case(
        "NUL in a header value",
        get("/v1/ledgers", **{"X-Note": "a\x00b"}),
        S4,
        request_id_header=False,
    ),
    Case("NUL in a path id", get("/v1/ledgers/ldg%00x"), NOT_FOUND_OR_BAD),
    Case(
        "10,000 metadata keys",
        post(
            "/v1/ledgers",
            json.dumps({"name": "n", "metadata": {f"k{i}": "v" for i in range(10_000)}}),
        ),
        S422,
    ),
    Case(
        "5,000 entry lines",
        post(
            "/v1/entries",
            '{"ledger_id":"@ledger","lines":['
            + ",".join(['{"account_id":"@cash","direction":"debit","amount":1}'] * 5000)
            + "]}",
        ),
        S422,
    ),
    Case("a number for an id", post("/v1/entries", entry("1").replace('"@ledger"', "12")), S422),
    Case("repeated query values", get("/v1/entries?limit=1&limit=2&limit=3"), S4),
    Case("limit 10^400", get("/v1/entries?limit=1" + "0" * 400), S4),
    Case("limit -1", get("/v1/entries?limit=-1"), S4),
    Case("a 60 KB query value", get("/v1/entries?status=" + "p" * 60_000), S4),
    Case("a bogus cursor", get("/v1/entries?cursor=garbage"), S4),
    Case("a base64 cursor of junk", get("/v1/entries?cursor=eyJ4IjpbMSwyXX0"), S4),
    Case("a cursor of 10 KB", get("/v1/ledgers?cursor=" + "A" * 10_000), S4),
    Case("events after 2^64", get("/v1/events?after=18446744073709551616"), S4),
    Case("path traversal %2e%2e", get("/v1/ledgers/%2e%2e"), S404),
    Case("path traversal with encoded slashes", get("/v1/ledgers/..%2f..%2fetc%2fpasswd"), S404),
    Case("encoded slash in an entry id", post("/v1/entries/@entry%2f..%2f/void", b""), S404),
    Case("dot segments in the path", get("/v1/ledgers/../../v1/sandbox/tenants"), NOT_FOUND_OR_BAD),
    Case("an account id of another kind", get("/v1/accounts/@entry/balance"), S404),
    Case(
        "text/plain body",
        post("/v1/ledgers", '{"name":"n"}', **{"Content-Type": "text/plain"}),
        frozenset({415}),
    ),
    Case(
        "form body",
        post("/v1/ledgers", "name=n", **{"Content-Type": "application/x-www-form-urlencoded"}),
        frozenset({415}),
    ),
    Case(
        "a Content-Type of junk",
        post("/v1/ledgers", '{"name":"n"}', **{"Content-Type": "@@@"}),
        frozenset({400, 415}),
    ),
    Case("Content-Length not a number", _with_length("abc"), S4, request_id_header=False),
    Case("Content-Length negative", _with_length("-1"), S4, request_id_header=False),
    Case(
        "Content-Length twice, differing",
        _with_length("12\r\nContent-Length: 5"),
        S4,
        request_id_header=False,
    ),
    Case("Content-Length past the body", _with_length("100"), frozenset({408})),
    Case("Content-Length past the body cap", _with_length(str(10 * MB)), frozenset({413})),
    Case("chunked garbage", _chunked(b"zz\r\nhello\r\n0\r\n\r\n"), S4, request_id_header=False),
    Case(
        "chunk size past 2^64",
        _chunked(b"1ffffffffffffffff\r\nx\r\n0\r\n\r\n"),
        frozenset({400, 413}),
        request_id_header=False,
    ),
    Case(
        "chunked with a Content-Length",
        lambda b: _chunked(b"5\r\nhello\r\n0\r\n\r\n")(b).replace(
            b"Transfer-Encoding", b"Content-Length: 5\r\nTransfer-Encoding"
        ),
        S4,
        request_id_header=False,
    ),
    Case(
        "a 100 KB header",
        get("/v1/ledgers", **{"X-Junk": "j" * 100_000}),
        frozenset({431}),
        request_id_header=False,
    ),
    Case(
        "500 headers",
        lambda b: _head("GET", "/v1/ledgers", b, {f"X-H{i}": "v" * 200 for i in range(500)}),
        frozenset({431}),
        request_id_header=False,
    ),
    Case("a request line of garbage", raw(b"GARBAGE\r\n\r\n"), S4, request_id_header=False),
    Case(
        "an unknown method", lambda b: _head("BREW", "/v1/ledgers", b), frozenset({400, 405, 501})
    ),
    Case(
        "an 8 KB bearer token",
        get("/v1/ledgers", Authorization="Bearer " + "k" * 8192),
        frozenset({401}),
    ),
    Case(
        "a Basic credential",
        get("/v1/ledgers", Authorization="Basic Zm9vOmJhcg=="),
        frozenset({401}),
    ),
    Case(
        "a 10 KB Idempotency-Key",
        post("/v1/ledgers", '{"name":"n"}', **{"Idempotency-Key": "i" * 10_000}),
        S4,
    ),
    Case("slow headers (slowloris)", _trickle, frozenset({408}), pause=0.05),
]


async def _exchange(url: str, case: Case, books: Books) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = b""
    try:
        pieces = case.build(books)
        for piece in pieces if isinstance(pieces, list) else [pieces]:
            writer.write(piece)
            try:
                await writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                break  # refused before it was all sent
            # An answer before the request is all sent (413 on the Content-Length, 408): read
            # it now, as a client would, before the rest reaches a closed socket (a reset).
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(65536), case.pause or 0.01)
            if answer:
                break
        with contextlib.suppress(ConnectionResetError):
            answer += await reader.read()  # Connection: close (or the server's own close)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def books(served: ServedProcess) -> Books:
    tenant = new_tenant(served.url)
    with httpx.Client(base_url=served.url, headers=tenant.auth, timeout=30) as client:
        chart = open_books(client, ("USD",))
        usd = chart.accounts["USD"]
        made = client.post(
            "/v1/entries",
            json={
                "ledger_id": chart.ledger_id,
                "status": "pending",
                "lines": [
                    {"account_id": usd[0], "direction": "debit", "amount": 100},
                    {"account_id": usd[1], "direction": "credit", "amount": 100},
                ],
            },
        )
        assert made.status_code == 201, made.text
    return Books(tenant, chart, made.json()["id"])


def _state(served: ServedProcess, books: Books) -> dict[str, Any]:
    with httpx.Client(base_url=served.url, headers=books.tenant.auth, timeout=30) as client:
        state = {}
        for path in ("/v1/ledgers", "/v1/entries", "/v1/events"):
            listed = client.get(path, params={"limit": 200})
            assert listed.status_code == 200, listed.text
            state[path] = listed.json()["data"]
        for account in books.chart.accounts["USD"]:
            balance = client.get(f"/v1/accounts/{account}/balance")
            assert balance.status_code == 200, balance.text
            state[account] = balance.json()
        return state


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40
    assert len({case.name for case in CORPUS}) == len(CORPUS)


@pytest.fixture(scope="module")
def before(served: ServedProcess, books: Books) -> Iterator[dict[str, Any]]:
    state = _state(served, books)
    yield state
    assert _state(served, books) == state  # nothing any case sent changed the books


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_a_hostile_request_gets_a_problem_and_the_server_stays_healthy(
    served: ServedProcess, books: Books, before: dict[str, Any], case: Case
) -> None:
    status, headers, body = asyncio.run(asyncio.wait_for(_exchange(served.url, case, books), BOUND))
    assert status in case.statuses, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/problem+json"), headers
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"], problem
    assert problem["request_id"], problem
    if case.request_id_header:
        assert headers["x-gledger-request-id"] == problem["request_id"]
    healthy = httpx.get(f"{served.url}/v1/ledgers", headers=books.tenant.auth, timeout=10)
    assert healthy.status_code == 200, healthy.text


def test_an_escaped_nul_is_text_like_any_other_and_comes_back_exactly(
    served: ServedProcess,
) -> None:
    """``"\\u0000"`` is valid JSON text the schema allows (the contract kit sends it as valid
    data): stored and read back as sent, never a 5xx, never cut short."""
    tenant = new_tenant(served.url)  # not the corpus's books, which must stay as they were
    with httpx.Client(base_url=served.url, headers=tenant.auth, timeout=30) as client:
        made = client.post("/v1/ledgers", content=b'{"name":"a\\u0000b"}', headers=JSON)
        assert made.status_code == 201, made.text
        read = client.get(f"/v1/ledgers/{made.json()['id']}")
        assert read.json()["name"] == "a\x00b"
