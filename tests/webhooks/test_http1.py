"""The webhook client against real receivers on loopback: keep-alive, answers it must not reuse
a connection after, a receiver closing idle connections, interim answers, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gledger_sandbox.webhooks.http1 import ConnectError, Origin, RemoteProtocolError, WebhookClient

Answer = Callable[[int], bytes]
"""The bytes a receiver answers its n-th request (from 0) with."""


class Receiver:
    """Reads whole requests (Content-Length bodies) and answers each as ``answer`` says."""

    def __init__(self, answer: Answer, close_after_answer: bool = False) -> None:
        self.answer = answer
        self.close_after_answer = close_after_answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                writer.write(self.answer(len(self.requests) - 1))
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _with_receiver(
    receiver: Receiver, scenario: Callable[[WebhookClient, Origin], Awaitable[list[int]]]
) -> list[int]:
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = WebhookClient(user_agent="test")
    try:
        return await scenario(client, Origin("http", "127.0.0.1", port, None))
    finally:
        client.close()
        server.close()


async def _post_times(client: WebhookClient, origin: Origin, times: int) -> list[int]:
    statuses = []
    for n in range(times):
        statuses.append(
            await client.post(origin, f"/hook?n={n}", "hooks.test", {"x-n": str(n)}, b"{}")
        )
        await asyncio.sleep(0.01)  # the receiver's close (if any) lands meanwhile
    return statuses


def run(receiver: Receiver, times: int = 3) -> list[int]:
    return asyncio.run(_with_receiver(receiver, lambda c, o: _post_times(c, o, times)))


def test_attempts_reuse_one_kept_alive_connection_and_send_what_was_asked() -> None:
    receiver = Receiver(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert run(receiver) == [200, 200, 200]
    assert receiver.connections == 1
    first = receiver.requests[0]
    assert first.startswith(b"POST /hook?n=0 HTTP/1.1\r\nhost: hooks.test\r\nx-n: 0\r\n")
    assert b"content-length: 2\r\n" in first and first.endswith(b"\r\n\r\n{}")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["chunked", "connection-close", "http-1.0"],
)
def test_an_answer_that_may_not_be_followed_on_its_connection_gets_a_new_one(answer: bytes) -> None:
    receiver = Receiver(lambda n: answer)
    statuses = run(receiver)
    assert statuses == [int(answer.split()[1])] * 3
    assert receiver.connections == 3


def test_a_receiver_closing_idle_connections_costs_no_attempt() -> None:
    receiver = Receiver(lambda n: b"HTTP/1.1 204 No Content\r\n\r\n", close_after_answer=True)
    assert run(receiver) == [204, 204, 204]
    assert receiver.connections == 3


def test_interim_answers_are_skipped() -> None:
    receiver = Receiver(
        lambda n: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
    )
    assert run(receiver, times=2) == [503, 503]
    assert receiver.connections == 1


def test_no_answer_and_no_receiver_are_errors_not_statuses() -> None:
    with pytest.raises(RemoteProtocolError):
        run(Receiver(lambda n: b"", close_after_answer=True), times=1)
    with pytest.raises(RemoteProtocolError):
        run(Receiver(lambda n: b"SMTP ready\r\n\r\n"), times=1)

    async def refused() -> int:
        client = WebhookClient(user_agent="test")
        try:
            return await client.post(Origin("http", "127.0.0.1", 9, None), "/", "x", {}, b"")
        finally:
            client.close()

    with pytest.raises(ConnectError):
        asyncio.run(refused())


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    receiver = Receiver(lambda n: b"HTTP/1.1 204 No Content\r\n\r\n")

    async def scenario(client: WebhookClient, origin: Origin) -> list[int]:
        await client.post(origin, "/", "x", {"x-evil": "a\r\nx-injected: 1"}, b"")
        return []

    with pytest.raises(ValueError, match="line break"):
        asyncio.run(_with_receiver(receiver, scenario))
    assert receiver.requests == []


async def _one_exchange_server(
    first_answer: bytes,
    then: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, Origin, list[int]]:
    """A receiver that answers its first connection's first request with ``first_answer`` and
    then runs ``then``; later connections answer 201 to every request."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        first = len(connections) == 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if first:
                    writer.write(first_answer)
                    await writer.drain()
                    await then(reader, writer)
                    return
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return (
        server,
        Origin("http", "127.0.0.1", server.sockets[0].getsockname()[1], None),
        connections,
    )


def test_an_answer_coming_on_an_idle_connection_closes_it_and_is_given_to_no_attempt() -> None:
    stray_sent = asyncio.Event()

    async def stray(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 500 Stray\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        stray_sent.set()
        await reader.read()  # until the client closes

    async def scenario() -> tuple[list[int], int]:
        server, origin, connections = await _one_exchange_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", stray
        )
        client = WebhookClient(user_agent="test")
        try:
            statuses = [await client.post(origin, "/", "x", {}, b"{}")]
            await stray_sent.wait()
            for _ in range(20):  # the stray answer reaches the client's protocol meanwhile
                await asyncio.sleep(0)
            # Once kept twice as idle, the connection would serve both at once (one hangs).
            statuses += await asyncio.gather(
                client.post(origin, "/", "x", {}, b"{}"), client.post(origin, "/", "x", {}, b"{}")
            )
            return statuses, len(connections)
        finally:
            client.close()
            server.close()

    statuses, connections = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert statuses == [200, 201, 201]
    assert connections == 3  # the first was closed, never reused after its stray answer


def test_a_body_that_never_comes_does_not_hold_the_connection_open() -> None:
    closed = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # b"" once the client gives the connection up
        closed.set()

    async def scenario() -> int:
        server, origin, _ = await _one_exchange_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a part", hold
        )
        client = WebhookClient(user_agent="test", idle_seconds=0.05)
        try:
            status = await client.post(origin, "/", "x", {}, b"{}")
            await closed.wait()  # a hang guard only: wait_for below, 30 s
            return status
        finally:
            client.close()
            server.close()

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == 200


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 2\xb20 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n"],
    ids=["status", "content-length"],
)
def test_digits_that_are_not_ascii_are_a_protocol_error_not_a_crash(
    answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(lambda n: answer)
    try:
        statuses = run(receiver, times=1)
    except RemoteProtocolError:
        statuses = []
    assert statuses in ([], [200])
    assert not [r for r in caplog.records if "data_received" in r.getMessage()]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
    ],
    ids=["four-digit-status", "two-content-lengths"],
)
def test_an_answer_that_cannot_be_framed_is_a_protocol_error_not_a_status(answer: bytes) -> None:
    """A status of four digits is not 200; two different lengths leave the answer's end unknown
    (on a reused connection the next answer would be misread)."""
    with pytest.raises(RemoteProtocolError):
        run(Receiver(lambda n: answer), times=1)
