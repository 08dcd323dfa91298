"""Cross-origin requests (CORS) for a docs page or a browser app on another origin.

The outermost layer, so a preflight is answered here and never meets authentication, rate
limits or routing: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method`` from an
allowed origin gets 204 with the path's real methods (the spec's, as in ``Allow``) and the
request headers a client of this API sends. Every other answer to an allowed origin carries
``Access-Control-Allow-Origin`` and exposes the headers a client reads (request id, rate
limits, replay marker, ``Location``). An origin that is not allowed gets no CORS headers at
all, so its browser refuses to hand the answer over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gledger_sandbox.api.middleware import new_request_id, scope_header

ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Prefer",
    "X-Correlation-Id",
    "traceparent",
    "Last-Event-ID",
    "GLedger-Sandbox-Fault",
)
EXPOSE_HEADERS = (
    "X-GLedger-Request-Id",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "Idempotent-Replayed",
    "Location",
    "X-Correlation-Id",
    "WWW-Authenticate",
    "Preference-Applied",
    "traceparent",
    "GLedger-Sandbox-Fault-Injected",
)
MAX_AGE_SECONDS = 600


def parse_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Origins from repeated or comma-separated options; ``*`` allows any origin."""
    origins = (part.strip().rstrip("/") for value in values for part in value.split(","))
    return tuple(dict.fromkeys(origin for origin in origins if origin))


class Cors:
    """Answers preflights and marks answers to allowed origins; ``origins`` may hold ``*``."""

    def __init__(
        self, app: ASGIApp, *, origins: Iterable[str], allow_for: Callable[[str], str]
    ) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins
        self.allow_for = allow_for

    def allowed(self, origin: str | None) -> bool:
        return origin is not None and (self.any_origin or origin in self.origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = scope_header(scope, b"origin")
        if not self.allowed(origin):
            await self.app(scope, receive, self._varying(send) if self.origins else send)
            return
        assert origin is not None
        methods = self.allow_for(scope["path"])
        preflight = scope["method"] == "OPTIONS" and scope_header(
            scope, b"access-control-request-method"
        )
        if preflight and methods:
            await self._preflight(origin, methods, send)
            return

        marks = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", ", ".join(EXPOSE_HEADERS).encode()),
        ]
        await self.app(scope, receive, self._varying(send, marks))

    @staticmethod
    def _varying(send: Send, marks: list[tuple[bytes, bytes]] | None = None) -> Send:
        """Adds ``marks`` and ``Vary: Origin``: answers differ by origin, so caches key on it."""

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"vary"]
                vary = [v.decode("latin-1") for k, v in message.get("headers", []) if k == b"vary"]
                headers += [*(marks or ()), (b"vary", ", ".join([*vary, "Origin"]).encode())]
                message = {**message, "headers": headers}
            await send(message)

        return send_varying

    @staticmethod
    async def _preflight(origin: str, methods: str, send: Send) -> None:
        allowed = ", ".join(dict.fromkeys([*methods.split(", "), "OPTIONS"]))
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", allowed.encode()),
            (b"access-control-allow-headers", ", ".join(ALLOW_HEADERS).encode()),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
            (b"vary", b"Origin"),
            (b"x-gledger-request-id", new_request_id().encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
