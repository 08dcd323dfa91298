"""The proxy itself: an ASGI app that forwards every request to the deployment, unchanged, and
has each exchange judged by the ``ProxySession`` before the client gets its answer.

Upstream it talks through one ``httpx.AsyncClient`` (asking for identity encoding, so that the
bytes judged are the bytes relayed). An answer is read whole, judged in a worker thread (the
checks are CPU work: the event loop keeps relaying other requests meanwhile), then sent; an
event stream is relayed chunk by chunk as it comes and judged when it ends (the client left,
or the deployment ended it), keeping at most ``STREAM_KEPT`` bytes of it. WebSocket upgrades
are refused: the proxy validates HTTP exchanges. The forwarding itself (lifespan, headers,
streams) is ``forwarding.ForwardingProxy``'s, which the tests' fault proxy shares.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from gledger_sandbox.contract.proxy.exchange import EVENT_STREAM, Exchange
from gledger_sandbox.contract.proxy.forwarding import (
    ForwardingProxy,
    answer_headers,
    forwarded_headers,
    raw_target,
    read_body,
    relay_stream,
    send_whole,
)
from gledger_sandbox.contract.proxy.session import ProxySession


class ValidatingProxy(ForwardingProxy):
    """ASGI app: forward to ``session.upstream``, judge each exchange on the way back."""

    def __init__(self, session: ProxySession) -> None:
        super().__init__(session.upstream)
        self.session = session

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.client is not None, "the proxy's lifespan has not started"
        headers = forwarded_headers(scope)
        body = await read_body(receive)
        url = self.upstream_url(raw_target(scope))
        started, clock = datetime.now(UTC), time.monotonic()
        request = self.build_request(scope["method"], url, headers, body)
        try:
            reply = await self.client.send(request, stream=True)
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

        answer = answer_headers(reply)
        try:
            if reply.headers.get("content-type", "").startswith(EVENT_STREAM):
                kept, cut = await relay_stream(receive, send, reply, answer)
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
        await send_whole(send, reply.status_code, answer, content)


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
