"""Webhook receivers that accept and never answer, on 5 endpoints, while the API is under load.

Through a served sandbox whose attempts time out after 1 s (``--webhook-timeout 1``, no
jitter), with a tenant on a frozen clock (so the retry schedule is read exactly, and run by
advancing the clock): every delivery's first attempt times out with its reason recorded and
the first retry due 5 s of sandbox time later, the next after 5 min, as the GUIDE documents;
the API answers every request of the load meanwhile (no 5xx). How much the stalled receivers
cost the API's latency is measured by ``bench/stalled_receivers.py``, not here.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.receiver import SilentReceiver
from tests.reliability.conftest import Tenant, open_books
from tests.served import ServedProcess

ENDPOINTS = 5
LEDGERS = 3
"""Events each endpoint gets (one ``ledger.created`` per ledger): 15 deliveries in all."""
SCHEDULE = (5, 300)
"""The first two retry delays of the documented schedule (5 s, 5 min)."""
BOUND = 60.0
CLOCK_START = "2026-06-01T09:00:00Z"


@pytest.fixture(scope="module")
def impatient() -> Iterator[ServedProcess]:
    options = ("--fixture", "empty", "--webhook-timeout", "1", "--webhook-jitter", "0")
    with ServedProcess(*options) as running:
        yield running
    running.close()


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def _load(url: str, tenant: Tenant, seconds: float) -> collections.Counter[int]:
    """16 clients reading and writing for ``seconds``: the answers' statuses."""
    statuses: collections.Counter[int] = collections.Counter()
    deadline = time.monotonic() + seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, headers=tenant.auth, timeout=30) as api:
            while time.monotonic() < deadline:
                for answer in (
                    await api.get("/v1/ledgers"),
                    await api.get("/v1/events", params={"limit": 5}),
                ):
                    statuses[answer.status_code] += 1

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(16))), BOUND)
    return statuses


def _deliveries(client: httpx.Client, endpoints: list[str]) -> list[dict[str, Any]]:
    found = []
    for endpoint in endpoints:
        page = client.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", params={"limit": 100})
        assert page.status_code == 200, page.text
        found += page.json()["data"]
    return found


def _wait_for_attempts(client: httpx.Client, endpoints: list[str], count: int) -> list[dict]:
    deadline = time.monotonic() + BOUND
    while True:
        deliveries = _deliveries(client, endpoints)
        done = [d for d in deliveries if len(d["attempts"]) >= count and d["next_attempt_at"]]
        if len(done) == ENDPOINTS * LEDGERS:
            return deliveries
        assert time.monotonic() < deadline, [d["attempts"] for d in deliveries]
        time.sleep(0.2)


def _timed_out(delivery: dict[str, Any], attempt: int, delay: int) -> None:
    tried = delivery["attempts"][attempt]
    assert tried["response_status"] is None, tried
    assert tried["error"] == "no answer within 1 s", tried  # the timeout, as its reason
    assert tried["duration_ms"] >= 950, tried  # the 1 s timeout (the loop's clock rounds)
    assert delivery["status"] == "pending", delivery
    due = _at(delivery["next_attempt_at"]).timestamp()
    # The delay counts from the attempt's end; on a frozen clock that is its start.
    assert due - _at(tried["started_at"]).timestamp() == delay, delivery


def test_deliveries_to_stalled_receivers_time_out_and_retry_on_schedule(
    impatient: ServedProcess,
) -> None:
    made = httpx.post(
        f"{impatient.url}/v1/sandbox/tenants",
        json={"fixture": "empty", "clock_start": CLOCK_START},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    tenant = Tenant(made.json())
    stalled = [SilentReceiver().start() for _ in range(ENDPOINTS)]
    try:
        with httpx.Client(base_url=impatient.url, headers=tenant.auth, timeout=30) as client:
            endpoints = []
            for receiver in stalled:
                subscribed = client.post(
                    "/v1/webhook-endpoints",
                    json={"url": receiver.url, "event_types": ["ledger.created"]},
                )
                assert subscribed.status_code == 201, subscribed.text
                endpoints.append(subscribed.json()["id"])
            for n in range(LEDGERS - 1):
                assert client.post("/v1/ledgers", json={"name": f"l{n}"}).status_code == 201
            open_books(client, ("USD",))  # the last ledger, and accounts: more writes
            statuses = asyncio.run(_load(impatient.url, tenant, 3.0))
            print(f"\nAPI during stalled deliveries: {dict(statuses)}")
            assert set(statuses) == {200}, statuses
            first = _wait_for_attempts(client, endpoints, 1)
            for delivery in first:
                _timed_out(delivery, 0, SCHEDULE[0])
            moved = client.post("/v1/sandbox/clock/advance", json={"seconds": SCHEDULE[0]})
            assert moved.status_code == 200, moved.text
            second = _wait_for_attempts(client, endpoints, 2)
            for delivery in second:
                _timed_out(delivery, 1, SCHEDULE[1])
                assert delivery["attempt_count"] == 2
            held = sum(r.accepted for r in stalled)
            print(f"attempts the stalled receivers accepted: {held}")
            assert held >= 2 * ENDPOINTS * LEDGERS  # every attempt reached its receiver
    finally:
        for receiver in stalled:
            receiver.stop()
