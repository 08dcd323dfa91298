"""A lean HTTP/1.1 client for webhook attempts: one POST, the receiver's status, keep-alive.

httpx (through httpcore and anyio) takes about 13 turns of the event loop for one request on a
kept-alive connection. On a busy server every turn waits behind all the requests ready in it,
so an attempt took a hundred milliseconds and more under load, and with a few attempts in
flight per endpoint the deliveries queued for seconds (``bench/live.py``). Here an attempt on
an idle kept-alive connection writes its request in the turn it starts, and is woken once, when
the status line and headers are in: the loop's protocol callbacks do the rest.

What it does: ``http`` and ``https`` (a given ``ssl.SSLContext``, SNI and certificate checks on
the URL's host name even when connecting to a pinned address), ``Content-Length`` bodies, idle
connections kept per origin for a few seconds, interim ``1xx`` answers skipped. The receiver's
body is never handed to anyone: a short one is read and dropped so the connection can be used
again (closed if it does not come within the idle time: nobody waits for it); a long, chunked
or close-delimited one closes the connection instead. A request that
fails on a reused connection before any byte of an answer came (the receiver closed it while it
was idle) is sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass

HEAD_LIMIT = 64 * 1024
"""An answer's status line and headers may not be longer (bytes)."""
DRAIN_LIMIT = 64 * 1024
"""Bodies up to this size are read and dropped to keep the connection; longer: closed."""
_NO_BODY = frozenset({204, 304})


class ConnectError(Exception):
    """No connection to the receiver (refused, unreachable, TLS handshake failed, ...)."""


class RemoteProtocolError(Exception):
    """The receiver closed the connection without an answer, or answered something else than
    HTTP/1.x."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    """Where to connect: the URL's host, or the address the outbound guard checked."""
    port: int
    server_name: str | None
    """TLS only: the name to present (SNI) and to check the certificate against."""


class _Connection(asyncio.Protocol):
    """One connection: writes a request, resolves its status, then drains the answer's body."""

    def __init__(self, pool: _Idle, origin: Origin) -> None:
        self._pool = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.answered = False
        """Some byte of an answer to the current request came (no resend after that)."""
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._status: asyncio.Future[int] | None = None
        self._body_left: int | None = None
        """Bytes of the current answer's body still to drop; None while reading its head."""
        self._keep = True
        self._deadline: asyncio.TimerHandle | None = None
        """While a body is dropped after its status was handed over: when to give up on it."""

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio subclass

    def data_received(self, data: bytes) -> None:
        self.answered = True
        self._buffer += data
        try:
            self._read()
        except RemoteProtocolError as error:
            self._fail(error)

    def eof_received(self) -> bool:
        return False  # close: a half-closed receiver is answering no more

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(RemoteProtocolError("the receiver closed the connection without answering"))

    # -- use ------------------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[int]:
        """Write ``request``; the future is its answer's status."""
        assert self.transport is not None
        self.answered = False
        self._keep = True
        self._body_left = None
        self._status = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._status

    def abort(self) -> None:
        self.closed = True
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: Exception) -> None:
        if self._status is not None and not self._status.done():
            self._status.set_exception(error)
        if not self.closed:
            self.abort()

    def _read(self) -> None:
        while self._buffer:
            if self._body_left is None:
                if not self._read_head():
                    return
                continue
            dropped = min(self._body_left, len(self._buffer))
            del self._buffer[:dropped]
            self._body_left -= dropped
            if self._body_left == 0:
                break
        if self._body_left == 0:
            self._done()

    def _read_head(self) -> bool:
        """Parse the status line and headers when they are in; False while waiting for more."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > HEAD_LIMIT:
                raise RemoteProtocolError("the answer's headers are too long")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, _reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not _digits(code):
            raise RemoteProtocolError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        status = int(code)
        if 100 <= status < 200:
            return True  # an interim answer: the real one follows
        fields: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                key, value = name.strip().lower(), value.strip()
                if key == "content-length" and fields.get(key, value) != value:
                    # Two lengths: which bytes are this answer's is unknowable, so the
                    # connection cannot be reused (nor the answer trusted beyond its status).
                    raise RemoteProtocolError("the answer has two different Content-Length")
                fields[key] = value
        self._keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
        length = fields.get("content-length", "")
        if status in _NO_BODY:
            self._body_left = 0
        elif "transfer-encoding" not in fields and _digits(length) and int(length) <= DRAIN_LIMIT:
            self._body_left = int(length)
        else:
            self._body_left, self._keep = 0, False  # chunked, long or close-delimited: close
        if self._status is not None and not self._status.done():
            self._status.set_result(status)
        if self._body_left > len(self._buffer):
            # The status is handed over now; a body that does not come is not waited for long
            # (the connection is nobody's then: neither idle nor awaited).
            self._deadline = asyncio.get_running_loop().call_later(
                self._pool.idle_seconds, self.abort
            )
        return True

    def _done(self) -> None:
        """The answer is read: back to the idle connections, or closed."""
        self._status = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._keep and not self._buffer and not self.closed:
            self._pool.put(self)
        else:
            self.abort()


class _Idle:
    """Idle kept-alive connections per origin, newest last; stale ones are closed on the way."""

    def __init__(self, per_origin: int, idle_seconds: float) -> None:
        self.per_origin = per_origin
        self.idle_seconds = idle_seconds
        self._by_origin: dict[Origin, deque[_Connection]] = {}

    def put(self, connection: _Connection) -> None:
        idle = self._by_origin.setdefault(connection.origin, deque())
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)
        while len(idle) > self.per_origin:
            idle.popleft().abort()

    def take(self, origin: Origin) -> _Connection | None:
        idle = self._by_origin.get(origin)
        oldest = asyncio.get_running_loop().time() - self.idle_seconds
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= oldest:
                return connection
            connection.abort()
        return None

    def close(self) -> None:
        for idle in self._by_origin.values():
            for connection in idle:
                connection.abort()
        self._by_origin.clear()


class WebhookClient:
    """POSTs to receivers over HTTP/1.1, keeping idle connections per origin."""

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        *,
        user_agent: str,
        per_origin: int = 4,
        idle_seconds: float = 5.0,
    ) -> None:
        self._tls = tls
        self._user_agent = user_agent
        self._idle = _Idle(per_origin, idle_seconds)

    def close(self) -> None:
        self._idle.close()

    async def post(
        self,
        origin: Origin,
        target: str,
        host_header: str,
        headers: dict[str, str],
        body: bytes,
    ) -> int:
        """POST ``body`` to ``target`` (path and query) at ``origin``; the answer's status.

        Cancel it (a timeout) to give up: the connection is then closed, never reused.
        """
        request = self._request(target, host_header, headers, body)
        connection = self._idle.take(origin)
        if connection is not None:
            try:
                return await self._exchange(connection, request)
            except RemoteProtocolError:
                if connection.answered:
                    raise
                # Closed by the receiver while idle, before it read this: try a new one.
        return await self._exchange(await self._connect(origin), request)

    async def _exchange(self, connection: _Connection, request: bytes) -> int:
        status = connection.send(request)
        try:
            return await status
        finally:
            if not status.done() or status.cancelled():
                connection.abort()

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(self._idle, origin)
        secure = origin.scheme == "https"
        if secure and self._tls is None:
            self._tls = _default_tls()
        try:
            await loop.create_connection(
                lambda: connection,
                origin.host,
                origin.port,
                ssl=self._tls if secure else None,
                server_hostname=origin.server_name if secure else None,
            )
        except (OSError, ssl.SSLError) as failure:
            raise ConnectError(str(failure) or type(failure).__name__) from failure
        return connection

    def _request(
        self, target: str, host_header: str, headers: dict[str, str], body: bytes
    ) -> bytes:
        lines = [f"POST {target} HTTP/1.1", f"host: {host_header}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"the header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        lines += [f"user-agent: {self._user_agent}", f"content-length: {len(body)}", "", ""]
        return "\r\n".join(lines).encode("latin-1") + body


def _digits(text: str) -> bool:
    """Only ASCII digits (``str.isdigit`` takes ``²`` too, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def _default_tls() -> ssl.SSLContext:
    """The CAs httpx trusts by default (certifi's), so receivers' certificates check as before."""
    with contextlib.suppress(ImportError):
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    return ssl.create_default_context()
