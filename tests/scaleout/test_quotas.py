"""Quotas behind the real HAProxy with 2 shards: each holds as it does for one process.

A tenant's rate limit is counted by the one shard its credential routes to. What is counted per
client address (tenant creations per hour, the rate limit of calls without a credential) holds
because the proxy then sends each address to one shard (``balance source``) instead of
round-robin."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import httpx
import pytest

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.settings import PublicSettings, Settings
from gledger_sandbox.domain.sandbox.credentials import shard_of
from gledger_sandbox.scaleout.haproxy import ShardAddress, render
from gledger_sandbox.scaleout.workers import Running, ShardedSandbox

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy on PATH")

LIMIT = 20
CREATIONS = 3


@pytest.fixture
def limited() -> Iterator[Running]:
    settings = Settings(
        default_tenant=False,
        rate_limit=RateLimit(LIMIT, 600),
        public=PublicSettings(tenant_creations_per_hour=CREATIONS),
    )
    with ShardedSandbox(settings, 2, "127.0.0.1", 0, "warning") as sandbox:
        yield sandbox.start()


def _create(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/sandbox/tenants", json={"fixture": "empty"}, timeout=60)


def test_a_tenants_rate_limit_holds_on_either_shard(limited: Running) -> None:
    # Made on each shard directly (from the proxy, one address always lands on one shard).
    for index, shard_url in enumerate(limited.shards):
        created = _create(shard_url)
        assert created.status_code == 201, created.text
        key = created.json()["api_key"]
        assert shard_of(key) == index
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=limited.url, headers=headers) as client:
            statuses = [client.get("/v1/sandbox/tenant").status_code for _ in range(LIMIT + 2)]
        assert statuses == [200] * LIMIT + [429, 429], (index, statuses)


def test_one_address_has_one_creation_quota_and_one_anonymous_rate_limit_over_all_shards(
    limited: Running,
) -> None:
    made = [_create(limited.url) for _ in range(CREATIONS)]
    assert [m.status_code for m in made] == [201] * CREATIONS, [m.text for m in made]
    # Every creation of this address went to one shard, which counts them all.
    assert len({shard_of(m.json()["tenant_id"]) for m in made}) == 1
    refused = _create(limited.url)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "quota.tenant_creations"
    # The same address's calls without a credential are counted once: what each answer says
    # remains goes down by one every call (round-robin would alternate between two counts).
    with httpx.Client(base_url=limited.url) as client:
        remaining = [_remaining(client.get("/healthz")) for _ in range(4)]
    assert remaining == list(range(remaining[0], remaining[0] - 4, -1)), remaining


def _remaining(answer: httpx.Response) -> int:
    """``r`` of the RateLimit header field (``"default";r=12;t=600``)."""
    found = re.search(r";r=(\d+)", answer.headers["ratelimit"])
    assert found, answer.headers
    return int(found.group(1))


def test_round_robin_unless_something_is_counted_per_address() -> None:
    shards = [ShardAddress(i, f"127.0.0.1:{18000 + i}") for i in range(2)]
    assert "balance roundrobin" in render("127.0.0.1:18002", shards)
    assert "balance source" in render("127.0.0.1:18002", shards, by_address=True)
    assert "nbthread 1\n" in render("127.0.0.1:18002", shards, threads=1)
