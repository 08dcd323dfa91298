"""Per-credential rate limits on a server started with a small quota."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.settings import ConnectionSettings, Settings
from gledger_sandbox.bootstrap import sandbox_app
from tests.conftest import ServerThread

KEY = "gls_test_limited"
LIMITED_KEY = "gls_test_limited_creations"


@pytest.fixture(scope="module")
def limited() -> Iterator[ServerThread]:
    app, _ = sandbox_app(Settings(api_key=KEY, fixture="empty", rate_limit=RateLimit(5, 3600)))
    with ServerThread(app) as server:
        yield server


def test_quota_headers_then_429_per_credential(limited: ServerThread) -> None:
    with httpx.Client(base_url=limited.url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        answers = [client.get("/v1/ledgers") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert answers[0].headers["RateLimit-Policy"] == '"default";q=5;w=3600'
        assert answers[0].headers["RateLimit"].startswith('"default";r=4;t=')
        refused = answers[5]
        assert refused.json()["code"] == "rate_limited"
        assert refused.json()["request_id"] == refused.headers["X-GLedger-Request-Id"]
        assert int(refused.headers["Retry-After"]) > 0
    with httpx.Client(base_url=limited.url) as anonymous:  # another credential: its own quota
        assert anonymous.get("/healthz").status_code == 200


def test_a_bad_quota_is_refused_at_start() -> None:
    for text in ("0/60", "ten/60", "5/0"):
        with pytest.raises(ValueError):
            RateLimit.parse(text)
    assert RateLimit.parse("100/60") == RateLimit(100, 60)


@pytest.fixture(scope="module")
def creations_limited() -> Iterator[ServerThread]:
    """Ten calls a minute per caller, served as ``serve --rate-limit 10/60`` serves."""
    settings = Settings(api_key=LIMITED_KEY, fixture="empty", rate_limit=RateLimit(10, 60))
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as server:
        yield server


def _create_tenants(server: ServerThread, headers: list[dict[str, str]]) -> list[int]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return [
            client.post("/v1/sandbox/tenants", json={"fixture": "empty"}, headers=h).status_code
            for h in headers
        ]


def test_made_up_credentials_count_against_the_callers_address(
    creations_limited: ServerThread,
) -> None:
    """A credential the sandbox does not know buys no quota of its own: 30 tenant creations,
    each with another junk bearer token, get 10 answers and then 429."""
    statuses = _create_tenants(
        creations_limited, [{"Authorization": f"Bearer junk{n}"} for n in range(30)]
    )
    assert statuses == [201] * 10 + [429] * 20


def test_a_spoofed_forwarded_for_is_not_believed_unless_the_proxy_is_trusted(
    creations_limited: ServerThread,
) -> None:
    """By default no proxy is trusted, not even one on loopback: X-Forwarded-For is ignored."""
    statuses = _create_tenants(
        creations_limited, [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(30)]
    )
    assert 201 not in statuses[10:]


def test_a_trusted_proxy_gives_each_client_address_its_own_quota() -> None:
    settings = Settings(
        fixture="empty",
        rate_limit=RateLimit(2, 60),
        connections=ConnectionSettings(trusted_proxies=("127.0.0.1",)),
    )
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as server:
        first = [{"X-Forwarded-For": "203.0.113.1"}] * 3
        second = [{"X-Forwarded-For": "203.0.113.2"}] * 3
        assert _create_tenants(server, first + second) == [201, 201, 429] * 2


def test_a_known_credential_keeps_its_own_quota(creations_limited: ServerThread) -> None:
    """A real API key is counted by itself, apart from its address."""
    with httpx.Client(base_url=creations_limited.url, timeout=30) as client:
        for _ in range(12):  # this address is over its quota after the tests above
            client.get("/healthz")
        anonymous = client.get("/healthz")
        assert anonymous.status_code == 429
    with httpx.Client(base_url=creations_limited.url, timeout=30) as client:
        statuses = [
            client.get(
                "/v1/ledgers", headers={"Authorization": f"Bearer {LIMITED_KEY}"}
            ).status_code
            for _ in range(11)
        ]
    assert statuses == [200] * 10 + [429]


def test_another_spelling_of_the_same_key_shares_its_quota() -> None:
    """The quota is the credential's, however its Authorization header is spelt."""
    key = "gls_test_spelt"
    app, _ = sandbox_app(Settings(api_key=key, fixture="empty", rate_limit=RateLimit(4, 3600)))
    spellings = ["Bearer ", "bearer ", "BEARER ", "Bearer   ", "bEaReR  "]
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = [
            client.get("/v1/ledgers", headers={"Authorization": spelling + key}).status_code
            for spelling in spellings
        ]
    assert statuses == [200] * 4 + [429]
