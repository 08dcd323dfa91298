"""How long the server waits for a client: idle connections, slow heads, short bodies.

Each case opens a raw socket to a real server configured with half-second timeouts and checks
that the server answers (408) or closes within the timeout, rather than holding it for good.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from gledger_sandbox.api.settings import ConnectionSettings, Settings
from gledger_sandbox.bootstrap import sandbox_app
from tests.conftest import ServerThread

KEY = "gls_test_timeouts"
TIMEOUT = 0.5
SLACK = 1.5
"""How much later than the timeout the server may close (timers, a loaded test machine)."""


@pytest.fixture(scope="module")
def impatient() -> Iterator[ServerThread]:
    settings = Settings(
        api_key=KEY,
        fixture="empty",
        connections=ConnectionSettings(
            keep_alive_timeout=TIMEOUT, header_timeout=TIMEOUT, body_timeout=TIMEOUT
        ),
    )
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as server:
        yield server


def _open(server: ServerThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT + SLACK)


def _until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took (socket.timeout if
    it does not close in time)."""
    start = time.monotonic()
    received = b""
    # A reset rather than a close is a close too (a trickling client's last byte may meet it).
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - start


def _trickle(sock: socket.socket) -> float:
    """Sends a byte every fifth of the timeout until the server answers or closes; how long."""
    start = time.monotonic()
    while time.monotonic() - start < 10 * (TIMEOUT + SLACK):
        if select.select([sock], [], [], TIMEOUT / 5)[0]:
            return time.monotonic() - start
        sock.sendall(b" ")
    pytest.fail("the server let the client trickle on")


def _problem(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower(), head
    problem: dict[str, object] = json.loads(body)
    return problem


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    impatient: ServerThread,
) -> None:
    with _open(impatient) as idle:
        received, elapsed = _until_closed(idle)
    assert received == b""
    assert elapsed < TIMEOUT + SLACK


def test_a_request_head_that_never_ends_gets_408(impatient: ServerThread) -> None:
    with _open(impatient) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line yet
        received, elapsed = _until_closed(slow)
    assert received.startswith(b"HTTP/1.1 408 "), received
    problem = _problem(received)
    assert problem["code"] == "request_timeout"
    assert str(problem["request_id"]).startswith("req_")
    assert elapsed < TIMEOUT + SLACK


def test_a_body_shorter_than_its_content_length_gets_408(impatient: ServerThread) -> None:
    with _open(impatient) as short:
        short.sendall(
            b"POST /v1/sandbox/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"fixture"'  # 10 of the 100 bytes announced
        )
        received, elapsed = _until_closed(short)
    assert received.startswith(b"HTTP/1.1 408 "), received
    head = received.partition(b"\r\n\r\n")[0].lower()
    assert b"connection: close" in head
    assert b"x-gledger-request-id: req_" in head
    assert _problem(received)["code"] == "request_timeout"
    assert elapsed < TIMEOUT + SLACK


def test_a_body_that_trickles_past_the_timeout_gets_408(impatient: ServerThread) -> None:
    """Each byte comes well within the timeout, the whole body does not: the deadline is total."""
    with _open(impatient) as trickle:
        trickle.sendall(
            b"POST /v1/sandbox/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        assert _trickle(trickle) < TIMEOUT + SLACK
        received, _ = _until_closed(trickle)
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_a_slow_head_does_not_hold_the_connection_on_keep_alive(impatient: ServerThread) -> None:
    """A second request on a kept-alive connection is bounded as the first one is."""
    with _open(impatient) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = kept.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first
        kept.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(TIMEOUT / 2)
        kept.sendall(b"Host: 127.0.0.1\r\n")
        received, elapsed = _until_closed(kept)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert elapsed < TIMEOUT + SLACK


def test_bytes_that_trickle_after_an_answer_do_not_hold_the_connection(
    impatient: ServerThread,
) -> None:
    """A GET's announced body is not read; what trickles in after the answer is bounded too."""
    with _open(impatient) as trickle:
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
        assert trickle.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert _trickle(trickle) < TIMEOUT + SLACK
        assert _until_closed(trickle)[0] == b""


def test_a_head_past_64_kib_gets_431_however_fast_it_comes(impatient: ServerThread) -> None:
    with _open(impatient) as large:
        large.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        with contextlib.suppress(OSError):  # the server may close while we still write
            large.sendall(b"x" * 100 * 1024)
        received, elapsed = _until_closed(large)
    assert received.startswith(b"HTTP/1.1 431 "), received[:200]
    assert _problem(received)["code"] == "request_header_fields_too_large"
    assert elapsed < TIMEOUT + SLACK


def test_prompt_clients_and_open_streams_outlive_the_timeouts(impatient: ServerThread) -> None:
    """The timeouts bound waiting for a request, not a request being answered: a kept-alive
    client reuses its connection, an SSE stream and a WebSocket stay open past them."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=impatient.url, headers=headers, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz").status_code == 200
        url = impatient.url.replace("http", "ws") + "/v1/events/ws"
        with connect(f"{url}?access_token={KEY}") as feed:
            assert json.loads(feed.recv(timeout=5))["kind"] == "ready"
            with client.stream("GET", "/v1/events/stream") as stream:
                time.sleep(TIMEOUT * 3)
                created = client.post("/v1/ledgers", json={"name": "After the timeouts"})
                assert created.status_code == 201, created.text
                event = json.loads(feed.recv(timeout=5))
                assert event["event"]["type"] == "ledger.created"
                lines = stream.iter_lines()
                assert any(line == "event: ledger.created" for line in lines)
