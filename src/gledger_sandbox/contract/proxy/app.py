"""The proxy itself: an ASGI app that forwards every request to the deployment, unchanged, and
has each exchange judged by the ``ProxySession`` before the client gets its answer.

Upstream it talks through one ``httpx.AsyncClient`` (asking for identity encoding, so that the
bytes judged are the bytes relayed). An answer is read whole, judged in a worker thread (the
checks are CPU work: the event loop keeps relaying other requests meanwhile), then sent; an
event stream is relayed chunk by chunk as it comes and judged when it ends (the client left,
or the deployment ended it), keeping at most ``STREAM_KEPT`` bytes of it. WebSocket upgrades
are refused: the proxy validates HTTP exchanges.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.types import Message, Receive, Scope, Send

from gledger_sandbox.contract.proxy.exchange import EVENT_STREAM, Exchange
from gledger_sandbox.contract.proxy.session import ProxySession

STREAM_KEPT = 1_000_000
"""Bytes of an event stream kept for judging and the HAR file (the client gets all of it)."""
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


class ValidatingProxy:
    """ASGI app: forward to ``session.upstream``, judge each exchange on the way back."""

    def __init__(self, session: ProxySession) -> None:
        self.session = session
        self.upstream = httpx.URL(session.upstream)
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)
        else:  # closing before accepting answers a WebSocket upgrade with 403
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, follow_redirects=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _url(self, scope: Scope) -> httpx.URL:
        raw_path = bytes(scope.get("raw_path") or scope["path"].encode())
        query = bytes(scope.get("query_string") or b"")
        base = self.upstream.raw_path.rstrip(b"/").split(b"?")[0]
        return self.upstream.copy_with(raw_path=base + raw_path + (b"?" + query if query else b""))

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._client is not None, "the proxy's lifespan has not started"
        headers = httpx.Headers(
            [
                (name, value)
                for name, value in scope["headers"]
                if name.decode("latin-1").lower() not in NOT_FORWARDED
            ]
        )
        body = await _read_body(receive)
        url = self._url(scope)
        started, clock = datetime.now(UTC), time.monotonic()
        request = self._client.build_request(
            scope["method"],
            url,
            headers=[*headers.raw, (b"accept-encoding", b"identity")],
            content=body,
        )
        try:
            reply = await self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            await _unreachable(
                send, f"the proxy could not reach {self.session.upstream}: {error!r}"
            )
            return

        def exchange(status: int, answer: httpx.Headers, content: bytes, cut: bool) -> Exchange:
            return Exchange(
                scope["method"],
                str(url),
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
                status,
                answer,
                content,
                started,
                time.monotonic() - clock,
                cut,
            )

        answer = httpx.Headers(
            [(k, v) for k, v in reply.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
        )
        try:
            if reply.headers.get("content-type", "").startswith(EVENT_STREAM):
                kept, cut = await _relay_stream(receive, send, reply, answer)
                await asyncio.to_thread(
                    self.session.judge, exchange(reply.status_code, answer, kept, cut)
                )
                return
            content = await reply.aread()
        finally:
            await reply.aclose()
        await asyncio.to_thread(
            self.session.judge, exchange(reply.status_code, answer, content, False)
        )
        answer["content-length"] = str(len(content))
        await send(
            {"type": "http.response.start", "status": reply.status_code, "headers": answer.raw}
        )
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _relay_stream(
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


async def _unreachable(send: Send, detail: str) -> None:
    import json

    document: dict[str, Any] = {
        "type": "about:blank",
        "title": "Bad Gateway",
        "status": 502,
        "code": "proxy.upstream_unreachable",
        "detail": detail,
    }
    body = json.dumps(document).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 502, "headers": headers})
    await send({"type": "http.response.body", "body": body})
