"""CORS: a docs page or browser app on another origin calls the API (preflights, exposed headers)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app

DOCS = "https://docs.example.com"
KEY = "gls_test_cors_key"
ASKED_HEADERS = "authorization, content-type, idempotency-key, prefer, x-correlation-id"


def serving(origins: tuple[str, ...], **extra: object) -> Iterator[httpx.Client]:
    settings = Settings(api_key=KEY, fixture="empty", cors_origins=origins, **extra)  # type: ignore[arg-type]
    with (
        LoopbackServer(sandbox_app(settings)[0]) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def docs_only() -> Iterator[httpx.Client]:
    yield from serving((DOCS, "http://localhost:3000"))


@pytest.fixture(scope="module")
def limited() -> Iterator[httpx.Client]:
    # One request a minute: preflights must never count against it.
    yield from serving((DOCS,), rate_limit=RateLimit(1, 60))


@pytest.fixture(scope="module")
def any_origin() -> Iterator[httpx.Client]:
    yield from serving(("*",))


def preflight(
    client: httpx.Client, path: str, origin: str = DOCS, method: str = "POST"
) -> httpx.Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ASKED_HEADERS,
        },
    )


def test_a_preflight_is_answered_with_the_routes_real_methods_before_auth_and_rate_limits(
    docs_only: httpx.Client, limited: httpx.Client
) -> None:
    for _ in range(3):
        answer = preflight(limited, "/v1/entries")
        assert answer.status_code == 204, answer.text
        assert answer.headers["access-control-allow-origin"] == DOCS
        assert answer.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
        allowed = {
            h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")
        }
        assert set(ASKED_HEADERS.split(", ")) | {"traceparent", "last-event-id"} <= allowed
        assert answer.headers["vary"] == "Origin"
        assert answer.headers["x-gledger-request-id"].startswith("req_")
        assert int(answer.headers["access-control-max-age"]) > 0
    ledger = preflight(docs_only, "/v1/ledgers/ldg_anything", method="PATCH")
    assert ledger.headers["access-control-allow-methods"] == "GET, PATCH, OPTIONS"
    assert preflight(docs_only, "/", method="GET").headers["access-control-allow-methods"] == (
        "GET, HEAD, OPTIONS"
    )


def test_answers_to_an_allowed_origin_expose_the_headers_a_client_reads(
    docs_only: httpx.Client, limited: httpx.Client
) -> None:
    headers = {"Origin": "http://localhost:3000", "Authorization": f"Bearer {KEY}"}
    answer = docs_only.get("/v1/ledgers", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "origin" in answer.headers["vary"].lower()
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {
        "X-GLedger-Request-Id", "RateLimit", "RateLimit-Policy", "Retry-After",
        "Idempotent-Replayed", "Location", "X-Correlation-Id", "WWW-Authenticate",
    } <= exposed  # fmt: skip
    # Errors too, so the page can read the problem: the rate limit's 429 and a 401.
    assert limited.get("/v1/ledgers", headers={**headers, "Origin": DOCS}).status_code == 200
    too_many = limited.get("/v1/ledgers", headers={**headers, "Origin": DOCS})
    assert too_many.status_code == 429 and too_many.headers["access-control-allow-origin"] == DOCS
    assert "Retry-After" in too_many.headers["access-control-expose-headers"]
    refused = docs_only.get("/v1/ledgers", headers={"Origin": DOCS})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == DOCS


def test_an_origin_not_allowed_gets_no_cors_headers(docs_only: httpx.Client) -> None:
    answer = preflight(docs_only, "/v1/entries", origin="https://evil.example.net")
    assert answer.status_code == 405
    assert not [h for h in answer.headers if h.startswith("access-control-")]
    plain = docs_only.get("/healthz", headers={"Origin": "https://evil.example.net"})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
    assert "origin" in plain.headers["vary"].lower()


def test_a_star_allows_every_origin_and_unknown_paths_are_left_to_the_router(
    any_origin: httpx.Client,
) -> None:
    answer = preflight(any_origin, "/v1/payouts/po_1/cancel", origin="http://127.0.0.2:9999")
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "http://127.0.0.2:9999"
    assert answer.headers["access-control-allow-methods"] == "POST, OPTIONS"
    unknown = preflight(any_origin, "/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_without_cors_origins_a_preflight_is_405_as_before(
    server: LoopbackServer, anonymous: httpx.Client
) -> None:
    answer = preflight(anonymous, "/v1/entries")
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers


def test_the_root_leads_a_browser_to_swagger_ui(anonymous: httpx.Client) -> None:
    answer = anonymous.get("/")
    assert answer.status_code == 302 and answer.headers["location"] == "/v1/ui/"
    assert answer.headers["x-gledger-request-id"].startswith("req_")
    assert anonymous.get("/", follow_redirects=True).status_code == 200
