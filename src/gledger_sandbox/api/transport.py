"""The server side of the socket: how long a client may keep a connection waiting, and shutdown.

uvicorn bounds only the wait between two requests (``timeout_keep_alive``); a fresh connection
that sends nothing, or a request head that never ends, would be held for good. The protocol
here adds the missing bounds (the body's deadline is :class:`~.middleware.RequestContext`'s):

- a connection with no request under way is closed after ``keep_alive_timeout`` seconds,
  whether it is new or between requests;
- a request head must be complete ``header_timeout`` seconds after its first byte, else the
  answer is 408 ``request_timeout`` and the connection closes;
- a request head may hold at most :data:`MAX_HEAD_BYTES` (the request line and every header),
  else the answer is 431 ``request_header_fields_too_large`` (httptools sets no bound), however
  the head arrives: in pieces, or whole in one read;
- bytes the parser cannot read as HTTP (a bad Content-Length, chunked garbage) get a 400
  problem ``malformed_request``, not uvicorn's plain-text 400.

On shutdown the streams are told first (SSE ends with a last comment, WebSockets close with
1001), then uvicorn waits ``shutdown_timeout`` seconds at most for requests under way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gledger_sandbox.api.coalesced_writes import HeadWithBody
from gledger_sandbox.api.faults import TRANSPORT_KEY
from gledger_sandbox.api.middleware import new_request_id
from gledger_sandbox.api.problems import PROBLEM_JSON, problem_body
from gledger_sandbox.api.settings import ConnectionSettings, Services, TlsSettings
from gledger_sandbox.api.start_order import StartOrder
from gledger_sandbox.api.tls import server_tls_options

STREAMS_GRACE = 2.0
"""Seconds (of the shutdown timeout) a stopping server gives open streams to say goodbye."""

AFTER_START_DELAY = 1.0
"""Seconds after it listens that a server runs its ``after_start`` work (a client polling for
the sandbox to come up has its first answer by then)."""

MAX_HEAD_BYTES = 64 * 1024


def closing_answer(status: int, code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 problem response that closes the connection, for a head never read."""
    request_id = new_request_id()
    body = problem_body(status, code, detail, request_id)
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode()),
            b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-gledger-request-id: " + request_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on idle new connections and request heads."""

    header_timeout = ConnectionSettings().header_timeout
    start_order: StartOrder | None = None
    """The server's, shared by its connections (None: each request starts as it is read)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._idle = False
        """The deadline is the wait for a first byte (else for the end of a head)."""
        self._in_head = False
        self._head_bytes = 0
        self._parsed_head = 0
        """Bytes of the request line and headers the parser has read so far."""
        self._refusal: tuple[int, str, str] | None = None
        self._upgraded = False
        self._place = 0
        """Where this connection's next request starts among those read with it (StartOrder)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.start_order is not None:
            self._place = self.start_order.answered()
        super().connection_made(transport)
        self._arm(self.timeout_keep_alive)
        self._idle = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._idle:
            self._disarm()  # the idle wait is over; a head's deadline is kept until it ends
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting or self._in_head:
            self._head_bytes += len(data)  # an over-count by the bytes before the head: fine
        super().data_received(data)
        if self._upgraded or self.transport.is_closing():
            return  # a WebSocket now, or refused by the parser (400)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            detail = f"The request line and headers exceed {MAX_HEAD_BYTES} bytes."
            self._disarm()
            self.transport.write(closing_answer(431, "request_header_fields_too_large", detail))
            self.transport.close()
            return
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self._deadline is None:
            # A head begun, or bytes after a finished request (a body nobody read): either way
            # the next head has header_timeout to arrive.
            self._arm(self.header_timeout)

    def on_message_begin(self) -> None:
        self._in_head = True
        self._parsed_head = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        # A head that came whole in one read is parsed before data_received can count it.
        self._parsed_head += size
        if self._parsed_head > MAX_HEAD_BYTES:
            detail = f"The request line and headers exceed {MAX_HEAD_BYTES} bytes."
            self._refusal = (431, "request_header_fields_too_large", detail)
            raise ValueError(detail)  # httptools stops: send_400_response answers it

    def send_400_response(self, msg: str) -> None:
        """The parser's refusal, as a problem (uvicorn's own is plain text)."""
        status, code, detail = self._refusal or (
            400,
            "malformed_request",
            "The request is not valid HTTP/1.1 (its request line, a header, its "
            "Content-Length or its chunked body).",
        )
        self._disarm()
        self.transport.write(closing_answer(status, code, detail))
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        existing = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not existing:  # not a WebSocket upgrade
            # A fault that drops the connection aborts it (api/faults).
            self.cycle.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]
            HeadWithBody.install(self.transport, self.cycle)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self.start_order is None:
            super()._start_asgi_task(cycle, app)
        else:  # see api/start_order: the request that waited longest starts first
            start = partial(HttpToolsProtocol._start_asgi_task, self, cycle, app)
            self.start_order.hold(self.loop, self._place, start)

    def on_response_complete(self) -> None:
        if self.start_order is not None:
            self._place = self.start_order.answered()
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True  # the WebSocket protocol owns the connection from here
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        self._idle = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            detail = f"The request head did not arrive within {self.header_timeout:g} s."
            self.transport.write(closing_answer(408, "request_timeout", detail))
        self.transport.close()


class SandboxServer(uvicorn.Server):
    """uvicorn's server, which ends the sandbox's open streams before it closes connections."""

    def __init__(
        self,
        config: uvicorn.Config,
        services: Services | None,
        *,
        after_start: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.services = services
        self.streams_grace = min(STREAMS_GRACE, config.timeout_graceful_shutdown or STREAMS_GRACE)
        self.after_start = after_start

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.after_start is not None and self.started:
            # Work kept off the way to the first answer runs a little after it.
            asyncio.get_running_loop().call_later(AFTER_START_DELAY, self.after_start)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()  # no new streams meanwhile (super closes them again: harmless)
        if self.services is not None:
            await self.services.runner.end_feeds(self.streams_grace)
        await super().shutdown(sockets)
        if self.services is not None and self.services.durability is not None:
            # What the server changed on its own since the last write (attempts' outcomes),
            # and a full document per tenant: the next start replays no journal.
            self.services.durability.mark_all()
            await self.services.durability.commit()


def server_config(
    app: Any, connections: ConnectionSettings, tls: TlsSettings | None = None, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for the sandbox's app, with the connection bounds (and TLS)."""
    protocol = type(
        "SandboxHttpProtocol",
        (BoundedHttpProtocol,),
        {"header_timeout": connections.header_timeout, "start_order": StartOrder()},
    )
    trusted = list(connections.trusted_proxies)
    return uvicorn.Config(
        app,
        http=protocol,
        timeout_keep_alive=connections.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=connections.shutdown_timeout,  # type: ignore[arg-type]
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        **server_tls_options(tls),
        **options,
    )
