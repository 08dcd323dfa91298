"""Requests read together start in the order their connections last had an answer; all are answered.

The first tests drive :class:`StartOrder` on a real event loop; the last sends requests on
several keep-alive connections of a served sandbox at once (and two pipelined on one), so they
go through the server's protocol and its start order.
"""

from __future__ import annotations

import asyncio
import socket

from gledger_sandbox.api.start_order import StartOrder
from tests.conftest import ServerThread


def _started(order: StartOrder, held: list[tuple[str, int]]) -> list[str]:
    """The names of ``held`` (name, place) in the order they start, one loop turn later."""

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        started: list[str] = []
        for name, place in held:
            order.hold(loop, place, lambda name=name: started.append(name))  # type: ignore[misc]
        assert started == []  # not from the poll that read them
        await asyncio.sleep(0)
        return started

    return asyncio.run(scenario())


def test_requests_read_together_start_oldest_answer_first() -> None:
    order = StartOrder()
    places = {name: order.answered() for name in "abc"}  # a's connection was answered first
    assert _started(order, [(name, places[name]) for name in "cab"]) == ["a", "b", "c"]


def test_a_connection_answered_again_goes_behind_the_others() -> None:
    order = StartOrder()
    places = {name: order.answered() for name in "ab"}
    places["a"] = order.answered()  # a had another answer since
    assert _started(order, [("a", places["a"]), ("b", places["b"])]) == ["b", "a"]


def test_requests_on_many_connections_at_once_are_all_answered(server: ServerThread) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: sandbox\r\n\r\n"
    connections = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in "abc"]
    try:
        connections[0].sendall(request * 2)  # pipelined: the second waits for the first
        for sock in connections[1:]:
            sock.sendall(request)
        for sock, answers in zip(connections, (2, 1, 1), strict=True):
            received = b""
            while received.count(b"HTTP/1.1 200 ") < answers:
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
    finally:
        for sock in connections:
            sock.close()
