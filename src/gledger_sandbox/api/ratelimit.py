"""Per-credential rate limits: a fixed window of N requests per W seconds.

When enabled, every response carries the IETF ``RateLimit-Policy`` and ``RateLimit`` header
fields, and a request over the quota gets 429 ``rate_limited`` with ``Retry-After``. A known
credential (a live API key or access token) has a quota of its own, counted by its
``Authorization`` header (hashed, never stored as is); every other call, anonymous (such as
tenant creation) or with a credential the sandbox does not know, counts against the client's
address, so made-up credentials buy no extra quota. The address is the socket's peer unless
the deployment trusts a proxy (``serve --trust-proxy``). Counters live for one window only.
A WebSocket handshake counts as a request too (its credential may also come as
``?access_token=``); one over the quota is accepted, told ``rate_limited`` in an ``error``
message and closed with 4429. Each message a client then sends on the feed counts as a
request as well (``gledger.rate_spend`` in the scope): past the quota the feed is told
``rate_limited`` and closed with 4429, so an open socket is no way around the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from gledger_sandbox.api.limits import credential_key
from gledger_sandbox.api.problems import problem_response
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"100/60"``: 100 requests per 60 seconds."""
        requests, _, seconds = text.partition("/")
        limit = cls(int(requests), float(seconds or 1))
        if limit.requests < 1 or limit.seconds <= 0:
            raise ValueError(f"not a rate limit: {text!r} (use REQUESTS/SECONDS, e.g. 100/60)")
        return limit


def _caller(scope: Scope, registry: TenantRegistry) -> bytes:
    """Whose quota a request counts against: its known credential's, else its address's."""
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token and _known(registry, token):
                # The credential, not the header's spelling: "bearer  K" is the same caller.
                return credential_key(token)
            break
    else:
        if scope["type"] == "websocket":  # the feed also takes its credential in the query
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            token = (query.get("access_token") or [""])[0]
            if token and _known(registry, token):
                return credential_key(token)
    client = scope.get("client") or ("?", 0)
    return f"address:{client[0]}".encode()


def _known(registry: TenantRegistry, token: str) -> bool:
    return registry.by_api_key(token) is not None or registry.by_access_token(token) is not None


class RateLimiter:
    """Counts each credential's requests in the current window; refuses those over the quota."""

    def __init__(
        self,
        app: ASGIApp,
        limit: RateLimit,
        registry: TenantRegistry,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limit = limit
        self.registry = registry
        self._monotonic = monotonic
        self._window = -1
        self._counts: dict[bytes, int] = {}
        self._policy = f'"default";q={limit.requests};w={math.ceil(limit.seconds)}'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        who = _caller(scope, self.registry)
        used, reset = self._spend(who)
        remaining = max(0, self.limit.requests - used)
        headers = [
            (b"ratelimit-policy", self._policy),
            (b"ratelimit", f'"default";r={remaining};t={reset}'.encode()),
        ]
        if used > self.limit.requests:
            detail = self._refusal(who, reset)
            rid = str(scope.get("gledger.request_id", ""))
            if scope["type"] == "websocket":  # no headers to carry it: the feed's own refusal
                # ws_feed imports the settings, which import this module: import it late.
                from gledger_sandbox.api.ws_feed import refuse

                websocket = WebSocket(scope, receive, send)
                await websocket.accept()
                await refuse(websocket, 429, "rate_limited", detail, rid)
                return
            refusal = problem_response(
                429,
                "rate_limited",
                detail,
                rid,
                headers={"Retry-After": str(reset)},
            )
            await refusal(scope, receive, _with_headers(send, headers))
            return
        if scope["type"] == "websocket":
            await self.app({**scope, "gledger.rate_spend": self._spender(who)}, receive, send)
            return
        await self.app(scope, receive, _with_headers(send, headers))

    def _spend(self, who: bytes) -> tuple[int, int]:
        """Count one request of ``who``: the requests it used in this window, and the seconds
        until the next one."""
        now = self._monotonic()
        window = int(now // self.limit.seconds)
        if window != self._window:
            self._window, self._counts = window, {}
        used = self._counts.get(who, 0) + 1
        self._counts[who] = used
        return used, max(1, math.ceil((window + 1) * self.limit.seconds - now))

    def _refusal(self, who: bytes, reset: int) -> str:
        quota = f"{self.limit.requests} requests in {self.limit.seconds:g} s"
        caller = "address" if who.startswith(b"address:") else "credential"
        return f"Over {quota} for this {caller}; retry in {reset} s."

    def _spender(self, who: bytes) -> Callable[[], str | None]:
        """For an open WebSocket: count one message; the refusal's detail once over the quota."""

        def spend() -> str | None:
            used, reset = self._spend(who)
            return self._refusal(who, reset) if used > self.limit.requests else None

        return spend


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def send_with(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with
