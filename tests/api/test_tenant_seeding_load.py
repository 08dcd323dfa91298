"""Creating and resetting sandboxes does not stall the server for everyone else.

Seeding a merchant sandbox is a few hundred milliseconds of work. It runs in slices of a few
milliseconds, so another tenant's reads are answered all along, not after the seeding. Timing
on a shared machine is noisy, so the tests count reads that waited long (blocking seeding makes
one per sandbox, 8-10 here; slices none, or one for a full garbage collection), not milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import sandbox_app
from tests.conftest import ServerThread

KEY = "gls_test_seeding_load_probe"
CREATORS = 8
SLOW = 0.1
"""A read that waits this long waited for someone's seeding (a slice is a few ms)."""


@pytest.fixture(scope="module")
def busy_server() -> Iterator[ServerThread]:
    with ServerThread(sandbox_app(Settings(api_key=KEY, fixture="empty"))[0]) as running:
        yield running


def _probe(url: str, stop: threading.Event, waits: list[float]) -> None:
    """Another tenant's reads, one after another, each timed."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        while not stop.is_set():
            began = time.perf_counter()
            assert client.get("/v1/ledgers").status_code == 200
            waits.append(time.perf_counter() - began)


def _during(url: str, work: list[threading.Thread]) -> tuple[list[float], float]:
    stop, waits = threading.Event(), []
    probe = threading.Thread(target=_probe, args=(url, stop, waits))
    probe.start()
    time.sleep(0.1)
    began = time.perf_counter()
    before = len(waits)
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(60)
    window = time.perf_counter() - began
    stop.set()
    probe.join(10)
    return waits[before:], window


def _create(url: str, made: list[dict[str, str]]) -> None:
    answer = httpx.post(f"{url}/v1/sandbox/tenants", json={"fixture": "merchant"}, timeout=60)
    assert answer.status_code == 201, answer.text
    made.append(answer.json())


def test_other_tenants_are_answered_while_four_visitors_create_sandboxes(
    busy_server: ServerThread,
) -> None:
    made: list[dict[str, str]] = []
    creators = [
        threading.Thread(target=_create, args=(busy_server.url, made)) for _ in range(CREATORS)
    ]
    waits, window = _during(busy_server.url, creators)
    assert len(made) == CREATORS
    _assert_answered_all_along(waits, window)


def _assert_answered_all_along(waits: list[float], window: float) -> None:
    slow = sorted(round(wait, 3) for wait in waits if wait > SLOW)
    assert len(waits) >= 20, (len(waits), window)
    assert len(slow) <= 3, (slow, len(waits), window)


def test_other_tenants_are_answered_while_sandboxes_are_reset(busy_server: ServerThread) -> None:
    made: list[dict[str, str]] = []
    for _ in range(CREATORS):
        _create(busy_server.url, made)

    def reset(key: str) -> None:
        answer = httpx.post(
            f"{busy_server.url}/v1/sandbox/reset",
            headers={"Authorization": f"Bearer {key}"},
            json={"seed": 7},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["counts"]["entries"] > 60

    resets = [threading.Thread(target=reset, args=(m["api_key"],)) for m in made]
    waits, window = _during(busy_server.url, resets)
    _assert_answered_all_along(waits, window)
