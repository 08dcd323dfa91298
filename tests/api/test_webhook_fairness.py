"""Fair webhook delivery: one tenant's stuck receivers never delay another tenant's deliveries.

These run on a server of their own (its attempts time out after a few seconds), so the stuck
receivers do not hold the shared test server's slots.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from gledger_sandbox.api.settings import Settings, WebhookSettings
from gledger_sandbox.bootstrap import sandbox_app
from tests.api.test_webhooks import subscribe
from tests.conftest import ServerThread, new_sandbox
from tests.receiver import Behaviour, Receiver, SilentReceiver

TIMEOUT = 20.0
"""Seconds an attempt may take here: how long a stuck receiver holds a slot (long, so that even
a slow machine is done with the test before the first stuck attempt frees one)."""
PROMPT = 5.0
"""How soon the other tenant's deliveries must arrive: well before any slot is freed."""


@pytest.fixture(scope="module")
def slow_server() -> Iterator[ServerThread]:
    settings = Settings(default_tenant=False, webhooks=WebhookSettings(timeout_seconds=TIMEOUT))
    with ServerThread(sandbox_app(settings)[0]) as running:
        yield running


def test_stuck_receivers_of_one_tenant_do_not_delay_another_tenants_deliveries(
    slow_server: ServerThread,
) -> None:
    stuck = [SilentReceiver().start() for _ in range(5)]
    healthy = Receiver().start()
    noisy = new_sandbox(slow_server)
    quiet = new_sandbox(slow_server)
    try:
        for receiver in stuck:
            subscribe(noisy, receiver.url)
        for n in range(30):  # 150 attempts that hang: far more than the server's 64 slots
            assert noisy.client.post("/v1/ledgers", json={"name": f"n{n}"}).status_code == 201
        deadline = time.monotonic() + PROMPT
        while sum(r.accepted for r in stuck) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)  # the noisy tenant's attempts are under way
        subscribe(quiet, healthy.url)
        sent = time.monotonic()
        for n in range(3):
            assert quiet.client.post("/v1/ledgers", json={"name": f"q{n}"}).status_code == 201
        # Well before any stuck attempt times out and frees a slot.
        healthy.wait_for(3, timeout=PROMPT)
        held = sum(r.accepted for r in stuck)
        assert time.monotonic() - sent < PROMPT
        assert 5 <= held <= 16, held  # each endpoint got its share, the tenant no more than its
    finally:
        for receiver in stuck:
            receiver.stop()
        healthy.stop()
        noisy.client.close()
        quiet.client.close()


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_retry_is_timed_from_the_end_of_an_attempt_that_timed_out(
    server: ServerThread,
) -> None:
    """The shared server times attempts out after 1 s; the first retry waits 5 s (+ jitter)."""
    receiver = Receiver(behaviour=Behaviour(hang_seconds=3)).start()
    box = new_sandbox(server)  # a real-time clock
    try:
        endpoint = subscribe(box, receiver.url)
        assert box.client.post("/v1/ledgers", json={"name": "late"}).status_code == 201
        path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
        deadline = time.monotonic() + 10
        while True:
            (delivery,) = box.client.get(path).json()["data"]
            if delivery["attempts"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        (attempt,) = delivery["attempts"]
        assert attempt["error"] == "no answer within 1 s"
        wait = _at(delivery["next_attempt_at"]) - _at(attempt["started_at"])
        # 1 s of timeout, then the 5 s of the schedule (jitter only adds, at most 10%).
        assert 6.0 <= wait.total_seconds() < 6.0 + 5 * 0.1 + 3.0, wait
    finally:
        receiver.stop()
        box.client.close()
