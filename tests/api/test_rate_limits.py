"""Per-credential rate limits on a server started with a small quota."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import sandbox_app
from tests.conftest import ServerThread

KEY = "gls_test_limited"


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
