"""The outermost layer of every request: its id, its correlation, and a bounded body.

- Every response carries ``X-GLedger-Request-Id``; a client's ``X-Correlation-Id`` is echoed, and a
  valid W3C ``traceparent`` is continued (same trace, a new span of ours).
- The request's ids are recorded on the events it causes (``domain.events.caused_by``).
- A body over the limit is refused with 413 before anything reads it; a chunked body is read
  whole (up to the limit) and handed on with its ``Content-Length``, so validation sees it.
- A body must arrive whole within ``body_timeout`` seconds of the request's head (however it
  trickles in): else 408 ``request_timeout``, and the connection closes (the rest of the body
  would otherwise be taken for the next request).
- A body without a ``Content-Type`` is refused with 415: connexion would validate it as the
  operation's first media type yet hand the handler raw bytes, so it is never guessed at.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gledger_sandbox.api.problems import problem_response
from gledger_sandbox.domain.errors import FieldError
from gledger_sandbox.domain.ledger.events import Cause, caused_by
from gledger_sandbox.domain.sandbox.snapshot_shelf import MAX_SNAPSHOT_BYTES

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CORRELATION = re.compile(r"^[\x21-\x7e]{1,255}$")
IMPORT_PATH = "/v1/sandbox/tenants/import"


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` in lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class RequestContext:
    """Assigns request ids, echoes correlation and trace headers, and bounds request bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_timeout: float,
        allow_for: Callable[[str], str],
        services: object,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.allow_for = allow_for
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope["gledger.request_id"] = request_id
        scope["gledger.allow_for"] = self.allow_for
        scope["gledger.services"] = self.services
        echoed = self._echoed_headers(scope, request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        with caused_by(Cause(request_id, scope.get("gledger.correlation_id"))):
            await self._http(scope, receive, send, request_id, echoed)

    async def _http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        echoed: Sequence[tuple[bytes, bytes]],
    ) -> None:
        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += echoed
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            try:
                async with asyncio.timeout(self.body_timeout):
                    body = await self._read_body(scope, receive)
            except TimeoutError:
                detail = f"The request body did not arrive within {self.body_timeout:g} s."
                response = problem_response(
                    408, "request_timeout", detail, request_id, headers={"Connection": "close"}
                )
                await response(scope, receive, send_with_ids)
                return
            if body is None:
                detail = f"The request body is over the limit of {self._limit(scope)} bytes."
                response = problem_response(413, "payload_too_large", detail, request_id)
                await response(scope, receive, send_with_ids)
                return
            if (
                body
                and scope["method"] != "DELETE"
                and not (scope_header(scope, b"content-type") or "").strip()
            ):
                detail = "A request body needs a Content-Type: send application/json."
                at = [FieldError("/header/Content-Type", "unsupported_media_type", detail)]
                response = problem_response(415, "unsupported_media_type", detail, request_id, at)
                await response(scope, receive, send_with_ids)
                return
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"content-length", b"transfer-encoding")
            ] + [(b"content-length", str(len(body)).encode())]
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_ids)

    @staticmethod
    def _echoed_headers(scope: Scope, request_id: str) -> Sequence[tuple[bytes, bytes]]:
        headers = [(b"x-gledger-request-id", request_id.encode())]
        correlation = scope_header(scope, b"x-correlation-id")
        if correlation is not None and _CORRELATION.match(correlation):
            scope["gledger.correlation_id"] = correlation
            headers.append((b"x-correlation-id", correlation.encode()))
        trace = _TRACEPARENT.match(scope_header(scope, b"traceparent") or "")
        if trace and trace.group(1) != "0" * 32:
            span = secrets.token_hex(8)
            headers.append(
                (b"traceparent", f"00-{trace.group(1)}-{span}-{trace.group(3)}".encode())
            )
        return headers

    def _limit(self, scope: Scope) -> int:
        """A tenant state document (an import) may be larger than any other body."""
        if scope.get("path") == IMPORT_PATH:
            return max(self.max_body_bytes, MAX_SNAPSHOT_BYTES)
        return self.max_body_bytes

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None once it is over the limit."""
        limit = self._limit(scope)
        declared = scope_header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
