"""The doors that stay open: streams per credential, and the WebSocket under the rate limit.

Through a served sandbox, with independent clients (``httpx-sse`` for Server-Sent Events,
``websockets`` for the feed): a credential holding ``--max-streams`` open feeds (SSE and
WebSocket together) is refused one more with 429 ``streams.limit_reached``, another credential
is not, and a closed feed frees its slot; WebSocket connects count against ``--rate-limit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets
from httpx_sse import aconnect_sse

from tests.reliability.conftest import Tenant, new_tenant
from tests.served import ServedProcess

MAX_STREAMS = 2
BOUND = 30.0
"""Seconds any one test may take before it counts as a hang."""


@pytest.fixture(scope="module")
def capped() -> Iterator[ServedProcess]:
    with ServedProcess("--fixture", "empty", "--max-streams", str(MAX_STREAMS)) as running:
        yield running
    running.close()


def _ws_url(served: ServedProcess) -> str:
    return served.url.replace("http://", "ws://") + "/v1/events/ws"


@contextlib.asynccontextmanager
async def _sse(served: ServedProcess, tenant: Tenant) -> AsyncIterator[httpx.Response]:
    """An open SSE stream (its first bytes read), or the refusal's answer."""
    async with (
        httpx.AsyncClient(base_url=served.url, headers=tenant.auth, timeout=10) as client,
        aconnect_sse(client, "GET", "/v1/events/stream", params={"timeout": 20}) as source,
    ):
        if source.response.status_code != 200:
            yield source.response
            return
        assert source.response.headers["content-type"].startswith("text/event-stream")
        # The first comment line proves the stream is open, and holding its slot. The reader
        # is kept: a dropped one is finalised, which closes the stream under the test.
        chunks = source.response.aiter_bytes()
        await anext(chunks)
        try:
            yield source.response
        finally:
            await chunks.aclose()


@contextlib.asynccontextmanager
async def _ws(served: ServedProcess, tenant: Tenant) -> AsyncIterator[tuple[Any, dict]]:
    """A WebSocket feed and its first message (``ready``, or an ``error`` before the close)."""
    async with websockets.connect(
        _ws_url(served), additional_headers=tenant.auth, open_timeout=10
    ) as feed:
        first = json.loads(await asyncio.wait_for(feed.recv(), 10))
        yield feed, first


async def _closed_with(feed: Any) -> int | None:
    with contextlib.suppress(websockets.ConnectionClosed):
        await asyncio.wait_for(feed.recv(), 10)
    await asyncio.wait_for(feed.wait_closed(), 10)
    code: int | None = feed.close_code
    return code


def _refused_problem(problem: dict[str, Any], code: str) -> None:
    assert problem["status"] == 429 and problem["code"] == code, problem
    assert problem["request_id"], problem


async def _refused_sse(served: ServedProcess, tenant: Tenant) -> None:
    async with _sse(served, tenant) as refused:
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        await refused.aread()
        problem = refused.json()
        _refused_problem(problem, "streams.limit_reached")
        assert problem["limit"] == MAX_STREAMS, problem


async def _opens_sse(served: ServedProcess, tenant: Tenant) -> None:
    async with _sse(served, tenant) as opened:
        assert opened.status_code == 200


def test_sse_streams_stop_at_the_cap_and_a_closed_one_frees_its_slot(
    capped: ServedProcess,
) -> None:
    tenant, other = new_tenant(capped.url), new_tenant(capped.url)

    async def scenario() -> None:
        async with _sse(capped, tenant) as first, _sse(capped, tenant) as second:
            assert (first.status_code, second.status_code) == (200, 200)
            await _refused_sse(capped, tenant)
            await _opens_sse(capped, other)  # the cap is per credential
        # Both closed: their slots are back, the cap holds again at the limit.
        async with _sse(capped, tenant) as again, _sse(capped, tenant) as twice:
            assert (again.status_code, twice.status_code) == (200, 200)
            await _refused_sse(capped, tenant)

    asyncio.run(asyncio.wait_for(scenario(), BOUND))


def test_websocket_and_sse_share_the_cap(capped: ServedProcess) -> None:
    tenant = new_tenant(capped.url)

    async def scenario() -> None:
        async with _ws(capped, tenant) as (_, ready), _sse(capped, tenant) as sse:
            assert ready["kind"] == "ready" and sse.status_code == 200
            async with _ws(capped, tenant) as (feed, refused):
                assert refused["kind"] == "error", refused
                _refused_problem(refused["problem"], "streams.limit_reached")
                assert await _closed_with(feed) == 4429
            await _refused_sse(capped, tenant)
        async with _ws(capped, tenant) as (_, ready), _ws(capped, tenant) as (_, also):
            assert (ready["kind"], also["kind"]) == ("ready", "ready")

    asyncio.run(asyncio.wait_for(scenario(), BOUND))


def test_a_websocket_closed_by_its_client_frees_its_slot_at_once(capped: ServedProcess) -> None:
    tenant = new_tenant(capped.url)

    async def scenario() -> None:
        for _ in range(3 * MAX_STREAMS):  # more feeds one after the other than the cap
            async with _ws(capped, tenant) as (_, ready):
                assert ready["kind"] == "ready", ready
        for _ in range(3 * MAX_STREAMS):
            await _opens_sse(capped, tenant)

    asyncio.run(asyncio.wait_for(scenario(), BOUND))


RATE = 5


@pytest.fixture(scope="module")
def rate_limited() -> Iterator[ServedProcess]:
    with ServedProcess("--fixture", "empty", "--rate-limit", f"{RATE}/300") as running:
        yield running
    running.close()


def test_websocket_connects_count_against_the_rate_limit(rate_limited: ServedProcess) -> None:
    # Created over the address's quota, not the credential's: a new tenant's key starts at 0.
    tenant = new_tenant(rate_limited.url)

    async def scenario() -> list[str]:
        kinds = []
        for _ in range(RATE):
            async with _ws(rate_limited, tenant) as (_, ready):
                kinds.append(ready["kind"])
        async with _ws(rate_limited, tenant) as (feed, refused):
            kinds.append(refused["kind"])
            _refused_problem(refused["problem"], "rate_limited")
            assert await _closed_with(feed) == 4429
        return kinds

    kinds = asyncio.run(asyncio.wait_for(scenario(), BOUND))
    assert kinds == ["ready"] * RATE + ["error"]
    # The same quota as plain requests: the credential has none left for HTTP either.
    after = httpx.get(f"{rate_limited.url}/v1/ledgers", headers=tenant.auth)
    assert after.status_code == 429 and after.json()["code"] == "rate_limited"


def test_messages_on_an_open_websocket_count_against_the_rate_limit(
    rate_limited: ServedProcess,
) -> None:
    tenant = new_tenant(rate_limited.url)

    async def scenario() -> None:
        async with _ws(rate_limited, tenant) as (feed, ready):  # the handshake: 1 request
            assert ready["kind"] == "ready"
            for n in range(RATE - 1):  # what the feed ignores is still counted
                await feed.send(json.dumps({"ping": n}))
            still = httpx.get(f"{rate_limited.url}/v1/ledgers", headers=tenant.auth)
            assert still.status_code == 429, still.text  # the quota is spent: RATE in all
            await feed.send("one more")
            refused = json.loads(await asyncio.wait_for(feed.recv(), 10))
            assert refused["kind"] == "error", refused
            _refused_problem(refused["problem"], "rate_limited")
            assert await _closed_with(feed) == 4429

    asyncio.run(asyncio.wait_for(scenario(), BOUND))
