"""An answer's head goes out with its body in one write, and no answer loses its head.

The first half drives uvicorn's own request cycle with ``HeadWithBody`` in place over a
transport that records what it is handed (asyncio's transport interface, not our code); the
second half checks the same answers over a real socket to a served sandbox.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import weakref
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gledger_sandbox.api.coalesced_writes import HeadWithBody
from tests.conftest import Sandbox


class RecordingTransport(asyncio.Transport):
    """Every write as one item: bytes for ``write``, a list for ``writelines``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append([bytes(d) for d in list_of_data])

    def close(self) -> None:
        self.calls.append("close")
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _cycle(
    transport: RecordingTransport,
    method: str = "GET",
    keep_alive: bool = True,
    expect_100: bool = False,
) -> tuple[RequestResponseCycle, list[str]]:
    completed: list[str] = []
    scope: Any = {"type": "http", "method": method, "path": "/", "http_version": "1.1"}
    cycle = RequestResponseCycle(
        scope=scope,
        transport=transport,
        flow=FlowControl(transport),
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=expect_100,
        keep_alive=keep_alive,
        on_response=lambda: completed.append("done"),
    )
    HeadWithBody.install(transport, cycle)
    return cycle, completed


def _start(length: int | None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def test_a_sized_answer_is_one_writelines_of_head_and_body() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        cycle, completed = _cycle(transport)
        await cycle.send(_start(2))
        assert transport.calls == []  # held for the body
        await cycle.send({"type": "http.response.body", "body": b"{}"})
        assert completed == ["done"]
        return transport

    transport = asyncio.run(run())
    assert len(transport.calls) == 1
    head, body = transport.calls[0]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"content-length: 2\r\n" in head
    assert body == b"{}"


def test_a_chunked_answer_writes_its_head_at_once() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        cycle, _ = _cycle(transport)
        await cycle.send(_start(None))
        assert len(transport.calls) == 1 and b"transfer-encoding: chunked" in transport.calls[0]
        await cycle.send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b""})
        return transport

    calls = asyncio.run(run()).calls
    assert calls[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_an_answer_without_body_bytes_gets_its_head_when_it_completes(method: str) -> None:
    async def run() -> tuple[RecordingTransport, list[str]]:
        transport = RecordingTransport()
        cycle, completed = _cycle(transport, method=method)
        await cycle.send(_start(0 if method == "GET" else 2))
        await cycle.send({"type": "http.response.body", "body": b""})
        return transport, completed

    transport, completed = asyncio.run(run())
    assert completed == ["done"]
    assert len(transport.calls) == 1
    only = transport.calls[0]
    head = only if isinstance(only, bytes) else b"".join(only)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")


def test_a_closing_answer_is_written_before_the_close() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        cycle, _ = _cycle(transport, keep_alive=False)
        await cycle.send(_start(2))
        await cycle.send({"type": "http.response.body", "body": b"{}"})
        return transport

    calls = asyncio.run(run()).calls
    assert len(calls) == 2 and calls[1] == "close"
    assert b"connection: close" in calls[0][0] and calls[0][1] == b"{}"


def test_an_app_that_fails_after_the_head_still_sends_it_then_closes() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await send(_start(2))
        raise RuntimeError("after the head")

    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        cycle, _ = _cycle(transport)
        await cycle.run_asgi(failing)
        return transport

    logging.getLogger("test").disabled = True
    try:
        calls = asyncio.run(run()).calls
    finally:
        logging.getLogger("test").disabled = False
    assert calls[0].startswith(b"HTTP/1.1 200 OK\r\n") and calls[1] == "close"


def test_100_continue_is_written_at_once() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        cycle, _ = _cycle(transport, expect_100=True)
        cycle.more_body = False
        cycle.message_event.set()
        await cycle.receive()
        assert transport.calls == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        await cycle.send(_start(2))
        await cycle.send({"type": "http.response.body", "body": b"{}"})
        return transport

    calls = asyncio.run(run()).calls
    assert len(calls) == 2 and calls[1][1] == b"{}"


def _exchange(sandbox: Sandbox, raw: bytes, answers: int) -> bytes:
    """Sends ``raw`` at once and reads until ``answers`` heads (and their bodies) came."""
    url = sandbox.client.base_url
    with socket.create_connection((url.host, url.port or 80), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while received.count(b"HTTP/1.1 ") < answers or not _complete(received, answers):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def _complete(received: bytes, answers: int) -> bool:
    rest = received
    for _ in range(answers):
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        if len(rest) < length:
            return False
        rest = rest[length:]
    return True


def test_pipelined_requests_are_answered_whole_and_in_order(sandbox: Sandbox) -> None:
    auth = sandbox.client.headers["authorization"].encode()
    request = b"GET /v1/ledgers HTTP/1.1\r\nhost: x\r\nx-correlation-id: c-%d\r\nauthorization: "
    raw = b"".join(request % n + auth + b"\r\n\r\n" for n in (1, 2, 3))
    received = _exchange(sandbox, raw, 3)
    assert _complete(received, 3)
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert [answer.startswith(b"200 OK\r\n") for answer in answers] == [True] * 3
    echoed = [b"x-correlation-id: c-%d\r\n" % n in answer for n, answer in enumerate(answers, 1)]
    assert echoed == [True] * 3
    bodies = [json.loads(answer.partition(b"\r\n\r\n")[2]) for answer in answers]
    assert [body["data"] for body in bodies] == [[], [], []]


def test_a_finished_cycle_is_freed_without_the_garbage_collector() -> None:
    """No reference cycle through HeadWithBody: the request's cycle (its scope, its body) goes
    when the request ends, not at the next collection."""

    class Protocol:  # holds the cycle and gives it a bound method, as uvicorn's protocol does
        def __init__(self) -> None:
            self.cycle: Any = None
            self.completed = 0

        def on_response_complete(self) -> None:
            self.completed += 1

    async def run() -> tuple[weakref.ref[Any], Protocol]:
        transport = RecordingTransport()
        protocol = Protocol()
        cycle, _ = _cycle(transport)
        cycle.on_response = protocol.on_response_complete
        HeadWithBody.install(transport, cycle)  # over the first one: its own callback wrapped
        protocol.cycle = cycle
        await cycle.send(_start(2))
        await cycle.send({"type": "http.response.body", "body": b"{}"})
        protocol.cycle = None  # the connection's next request replaces it
        return weakref.ref(cycle), protocol

    gc.disable()
    try:
        gone, protocol = asyncio.run(run())
        assert protocol.completed == 1
        assert gone() is None
    finally:
        gc.enable()
