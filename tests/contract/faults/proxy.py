"""A small reverse proxy on loopback that breaks the sandbox's answers on purpose.

The contract kit must catch a server that lies, and the only honest way to prove it is to put a
liar in front of the (correct) sandbox: this proxy forwards every request to the sandbox's base
URL and lets one ``Fault`` rewrite the request on its way in, and the status, headers and body
on their way out. With the ``none`` fault it changes nothing: status, headers and body bytes
are the sandbox's own.

It is an ASGI app under uvicorn (``bootstrap.LoopbackServer``, like the test server), the
validating proxy's forwarding (``contract.proxy.forwarding.ForwardingProxy``) with the faults'
hooks around it. Answers are read whole, so a fault sees the complete
JSON document; the one exception is the SSE stream (``/v1/events/stream``), relayed chunk by
chunk and never altered. WebSocket upgrades are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.types import Receive, Scope, Send

from gledger_sandbox.bootstrap import LoopbackServer
from gledger_sandbox.contract.proxy.forwarding import (
    ForwardingProxy,
    answer_headers,
    forwarded_headers,
    read_body,
    relay_stream,
)

REQUEST_ID = "X-GLedger-Request-Id"
STREAM_PATH = "/v1/events/stream"


@dataclass
class Call:
    """A request as the proxy forwards it; a fault may change any part before it leaves."""

    method: str
    path: str
    query: bytes
    headers: httpx.Headers
    body: bytes

    def params(self) -> dict[str, str]:
        """The query parameters (the first value of each)."""
        parsed = parse_qs(self.query.decode("latin-1"), keep_blank_values=True)
        return {name: values[0] for name, values in parsed.items()}

    def json(self) -> Any:
        """The JSON body, or None when there is none or it does not parse."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class Answer:
    """A response on its way back to the client; ``with_json`` replaces the body."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> Any:
        """The JSON document of a JSON (or problem+json) body, else None."""
        if not self.media_type.endswith("json") or not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def with_json(self, document: Any) -> None:
        """Replace the body with ``document`` (compact JSON, as the sandbox writes it)."""
        self.body = json.dumps(document, separators=(",", ":")).encode()
        self.headers["content-length"] = str(len(self.body))


class Fault:
    """The pass-through control: subclasses override the hooks to break one thing.

    ``hits`` counts the answers (or requests) the fault really changed, so a test can tell a
    fault that fired from one that never met what it breaks.
    """

    name = "none"

    def __init__(self) -> None:
        self.hits = 0

    def request(self, call: Call) -> Call | Answer:
        """Rewrite the request, or answer it without the sandbox."""
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        """Rewrite the sandbox's answer to ``call``."""
        return answer

    def rewritten(self, answer: Answer, document: Any) -> Answer:
        """``answer`` with ``document`` for its body, counted as a hit."""
        answer.with_json(document)
        self.hits += 1
        return answer


class ProxyApp(ForwardingProxy):
    """The ASGI app: forward to ``upstream`` (as the validating proxy does) through ``fault``."""

    def __init__(self, upstream: str, fault: Fault) -> None:
        super().__init__(upstream)
        self.fault = fault

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.client is not None, "the proxy's lifespan has not started"
        call = Call(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"],
            headers=forwarded_headers(scope),
            body=await read_body(receive),
        )
        changed = self.fault.request(call)
        if isinstance(changed, Answer):
            await _send_answer(send, changed)
            return
        call = changed
        url = self.upstream_url(_raw_target(scope, call))
        reply = await self.client.send(
            self.build_request(call.method, url, call.headers, call.body), stream=True
        )
        try:
            if call.path == STREAM_PATH and reply.status_code == 200:
                await relay_stream(receive, send, reply, answer_headers(reply))
                return
            body = await reply.aread()
        finally:
            await reply.aclose()
        headers = answer_headers(reply)
        headers["content-length"] = str(len(body))
        await _send_answer(
            send, self.fault.response(call, Answer(reply.status_code, headers, body))
        )


def _raw_target(scope: Scope, call: Call) -> bytes:
    """The path and query as the client wrote them, unless the fault changed the path."""
    if call.path == scope["path"]:
        raw_path = bytes(scope.get("raw_path") or call.path.encode())
    else:
        raw_path = call.path.encode()
    return raw_path + (b"?" + call.query if call.query else b"")


async def _send_answer(send: Send, answer: Answer) -> None:
    await send(
        {"type": "http.response.start", "status": answer.status, "headers": answer.headers.raw}
    )
    await send({"type": "http.response.body", "body": answer.body})


@contextmanager
def fault_proxy(upstream: str, fault: Fault) -> Iterator[LoopbackServer]:
    """Serve a proxy to ``upstream`` with ``fault`` on an ephemeral loopback port."""
    running = LoopbackServer(ProxyApp(upstream, fault))
    # The sandbox's own Date and Server headers pass through; uvicorn must not add a second pair.
    running.server.config.server_header = False
    running.server.config.date_header = False
    with running:
        yield running
