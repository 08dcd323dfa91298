"""SSRF in public mode, with something listening: every spelling of this host is refused, and the
loopback listener it names counts 0 connections.

tests/api/test_outbound_guard.py has the full corpus of internal targets (refused at creation,
on ports where nothing listens) and the DNS-rebinding case at delivery time. Here a served
``--public`` sandbox is asked for endpoints at every spelling of loopback on the port of a real
listener (IPv4 and IPv6), and a name resolved to loopback; each is refused with 422
``webhook.url_not_allowed``, the tenant then makes events of every kind the endpoints would
have wanted, and the listeners count no connection at all.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.receiver import ConnectionCounter
from tests.reliability.conftest import Tenant, new_tenant, open_books
from tests.served import ServedProcess


@pytest.fixture(scope="module")
def public() -> Iterator[ServedProcess]:
    options = ("--fixture", "empty", "--public", "--tenant-creations-per-hour", "0")
    with ServedProcess(*options, "--webhook-resolve", "inside.test:127.0.0.1") as running:
        yield running
    running.close()


def _spellings(v4: int, v6: int) -> list[str]:
    return [
        f"http://127.0.0.1:{v4}/hooks",
        f"http://localhost:{v4}/hooks",
        f"http://LOCALHOST.:{v4}/hooks",
        f"http://hooks.localhost:{v4}/hooks",
        f"http://127.1:{v4}/hooks",
        f"http://127.0.0.1.:{v4}/hooks",
        f"http://2130706433:{v4}/hooks",
        f"http://0x7f000001:{v4}/hooks",
        f"http://0x7f.1:{v4}/hooks",
        f"http://0.0.0.0:{v4}/hooks",
        f"http://[::ffff:127.0.0.1]:{v4}/hooks",
        f"http://[::ffff:7f00:1]:{v4}/hooks",
        f"http://inside.test:{v4}/hooks",
        f"https://127.0.0.1:{v4}/hooks",
        f"http://[::1]:{v6}/hooks",
        f"http://[0:0:0:0:0:0:0:1]:{v6}/hooks",
        f"http://[::]:{v6}/hooks",
    ]


def test_every_spelling_of_this_host_is_refused_and_nothing_reaches_the_listener(
    public: ServedProcess,
) -> None:
    v4 = ConnectionCounter(socket.AF_INET, "127.0.0.1")
    v6 = ConnectionCounter(socket.AF_INET6, "::1")
    tenant: Tenant = new_tenant(public.url)
    try:
        with httpx.Client(base_url=public.url, headers=tenant.auth, timeout=30) as client:
            refused = {}
            for url in _spellings(v4.port, v6.port):
                answer = client.post("/v1/webhook-endpoints", json={"url": url})
                refused[url] = (answer.status_code, answer.json().get("code"))
            assert set(refused.values()) == {(422, "webhook.url_not_allowed")}, refused
            assert client.get("/v1/webhook-endpoints").json()["data"] == []
            open_books(client, ("USD",))  # events every endpoint would have been sent
            time.sleep(1.0)  # a delivery, had one been scheduled, is attempted at once
        print(
            f"\n{len(refused)} loopback spellings refused; listener connections: "
            f"IPv4 {v4.connections}, IPv6 {v6.connections}"
        )
        assert (v4.connections, v6.connections) == (0, 0)
    finally:
        v4.close()
        v6.close()
