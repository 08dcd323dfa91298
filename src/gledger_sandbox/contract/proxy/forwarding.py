"""What any reverse proxy of the kit does: an ASGI app forwarding HTTP to one upstream.

``ForwardingProxy`` owns the ASGI skeleton: the lifespan (one ``httpx.AsyncClient`` opened at
startup, closed at shutdown), the refusal of WebSocket upgrades (the proxies relay HTTP), and
the pieces a forward is made of: the request's headers without the per-hop ones, its body, the
upstream URL with the client's percent-encoding untouched, an answer's headers, an event stream
relayed chunk by chunk. A subclass writes ``forward``: what it does with each exchange (the
validating proxy judges it; the tests' fault proxy breaks it).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib

import httpx
from starlette.types import Message, Receive, Scope, Send

STREAM_KEPT = 1_000_000
"""Bytes of an event stream kept for whoever looks at it (the client gets all of it)."""
UPSTREAM_TIMEOUT = httpx.Timeout(60.0, read=None)
"""No read timeout: an event stream may stay quiet between keep-alives for as long as it likes."""

# Connection-level headers belong to each hop (RFC 9110 7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding"}


class ForwardingProxy(abc.ABC):
    """ASGI app forwarding to ``upstream``; subclasses say what ``forward`` does."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.URL(upstream)
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            assert self.client is not None, "the proxy's lifespan has not started"
            await self.forward(scope, receive, send)
        else:  # closing before accepting answers a WebSocket upgrade with 403
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    @abc.abstractmethod
    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Relay one HTTP exchange to ``upstream`` (the subclass decides what else happens)."""

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, follow_redirects=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def upstream_url(self, raw_target: bytes) -> httpx.URL:
        """The upstream's URL for a path and query as the client wrote them."""
        base = self.upstream.raw_path.rstrip(b"/").split(b"?")[0]
        return self.upstream.copy_with(raw_path=base + raw_target)

    def build_request(
        self, method: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> httpx.Request:
        """The upstream request, asking for identity encoding (the bytes seen are the bytes
        relayed)."""
        assert self.client is not None, "the proxy's lifespan has not started"
        return self.client.build_request(
            method, url, headers=[*headers.raw, (b"accept-encoding", b"identity")], content=body
        )


def raw_target(scope: Scope) -> bytes:
    """The request's path and query as the client wrote them (percent-encoding untouched)."""
    raw_path = bytes(scope.get("raw_path") or scope["path"].encode())
    query = bytes(scope.get("query_string") or b"")
    return raw_path + (b"?" + query if query else b"")


def forwarded_headers(scope: Scope) -> httpx.Headers:
    """The request's headers less the per-hop ones (and those the client's hop computed)."""
    return httpx.Headers(
        [
            (name, value)
            for name, value in scope["headers"]
            if name.decode("latin-1").lower() not in NOT_FORWARDED
        ]
    )


def answer_headers(reply: httpx.Response) -> httpx.Headers:
    """The upstream answer's headers less the per-hop ones."""
    return httpx.Headers(
        [(k, v) for k, v in reply.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
    )


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_whole(send: Send, status: int, headers: httpx.Headers, body: bytes) -> None:
    """An answer read whole, sent with its own ``Content-Length``."""
    headers["content-length"] = str(len(body))
    await send({"type": "http.response.start", "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})


async def relay_stream(
    receive: Receive, send: Send, reply: httpx.Response, headers: httpx.Headers
) -> tuple[bytes, bool]:
    """Relay the stream until it ends or the client leaves; its first bytes, and if cut."""
    await send({"type": "http.response.start", "status": reply.status_code, "headers": headers.raw})
    kept = bytearray()
    cut = False

    async def pump() -> None:
        nonlocal cut
        async for chunk in reply.aiter_raw():
            if len(kept) < STREAM_KEPT:
                kept.extend(chunk[: STREAM_KEPT - len(kept)])
            cut = cut or len(kept) >= STREAM_KEPT
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    relay = asyncio.create_task(pump())
    left = asyncio.create_task(_disconnected(receive))
    await asyncio.wait({relay, left}, return_when=asyncio.FIRST_COMPLETED)
    for task in (relay, left):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, httpx.HTTPError):
            await task
    return bytes(kept), cut


async def _disconnected(receive: Receive) -> None:
    message: Message = {}
    while message.get("type") != "http.disconnect":
        message = await receive()
