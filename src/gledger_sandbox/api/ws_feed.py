"""The WebSocket feed of a tenant's events (``/v1/events/ws``), on the SSE feed's cursor.

A Starlette route in front of connexion, which cannot route WebSockets. It authenticates with
the same credentials as the API (the ``Authorization`` header, ``?access_token=``, or a first
message ``{"type": "auth", "token": ...}`` within ``WS_AUTH_SECONDS``), reads its parameters as
the SSE operation does, and follows the log through ``streams.follow``: an event is a JSON
message, a refusal a close code 44xx with a problem message before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from gledger_sandbox.api.allowlist import REFUSED, admitted, refusal_detail
from gledger_sandbox.api.problems import problem_body, status_of
from gledger_sandbox.api.runner import SandboxRunner
from gledger_sandbox.api.settings import StreamSettings
from gledger_sandbox.api.streams import (
    SHUTTING_DOWN,
    FeedEnded,
    FeedRequest,
    SendWatch,
    ServerClosing,
    feed_request,
    follow,
    turn_cache,
)
from gledger_sandbox.domain.errors import LedgerError, MalformedInput
from gledger_sandbox.domain.sandbox.credentials import shard_of
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import Principal, TenantRegistry

WS_AUTH_SECONDS = 10.0
CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403, 409: 4409, 410: 4410, 429: 4429}


def _message(kind: str, **fields: object) -> str:
    return orjson.dumps({"kind": kind, **fields}).decode()


async def _first_message(websocket: WebSocket) -> dict[str, object]:
    async with asyncio.timeout(WS_AUTH_SECONDS):
        received = await websocket.receive()
    if received["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(received.get("code", 1000))
    try:
        message = orjson.loads(received.get("text") or received.get("bytes") or b"")
    except orjson.JSONDecodeError:
        message = None
    if not isinstance(message, dict):
        raise FeedEnded(400, "validation.invalid_json", "The first message must be a JSON object.")
    return message


def _principal(registry: TenantRegistry, token: str | None) -> Principal:
    found = (registry.by_api_key(token) or registry.by_access_token(token)) if token else None
    if found is None:
        shard = shard_of(token) if token else None
        if shard is not None and shard != registry.shard.index:
            # Only a first message can reach the wrong shard: the proxy never saw it.
            raise FeedEnded(
                401,
                "unauthorized",
                f"This credential lives on shard {shard}, and this connection reached shard "
                f"{registry.shard.index}: send it as Authorization: Bearer or ?access_token= "
                "so that the proxy routes the WebSocket to its shard.",
            )
        refusal = registry.refusal(token) if token else None
        if refusal is not None:  # a made API key that no longer works: say why
            raise FeedEnded(401, refusal.code, refusal.detail)
        raise FeedEnded(401, "unauthorized", "Missing, unknown or expired credential.")
    if "ledger.read" not in found.scopes:
        raise FeedEnded(403, "insufficient_scope", "Reading events needs the ledger.read scope.")
    return found


def _bearer(websocket: WebSocket) -> str | None:
    authorization = websocket.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def websocket_feed(websocket: WebSocket) -> None:
    """``/v1/events/ws``: authenticate, then send the feed as JSON text messages.

    The credential (an API key or an access token) comes as ``Authorization: Bearer``, as the
    ``access_token`` query parameter, or, when neither is given, in a first message
    ``{"access_token": ..., "after": ..., "types": [...]}`` sent within 10 seconds. The cursor and
    bounds are the query parameters ``after``, ``types`` (comma separated), ``max_events`` and
    ``timeout``, or the same fields of that first message.
    """
    services = websocket.scope["gledger.services"]
    runner: SandboxRunner = services.runner
    settings: StreamSettings = services.settings.streams
    request_id = websocket.scope.get("gledger.request_id", "")
    await websocket.accept()
    try:
        params: dict[str, object] = dict(websocket.query_params)
        token = _bearer(websocket) or websocket.query_params.get("access_token")
        if token is None:
            params = await _first_message(websocket)
            given = params.get("access_token")
            token = given if isinstance(given, str) else None
        tenant = _principal(services.registry, token).tenant
        if not admitted(tenant, websocket.scope):
            raise FeedEnded(403, REFUSED, refusal_detail(websocket.scope))
        request = feed_request(*_feed_params(params), tenant)
        assert token is not None  # _principal refused a missing one
        with services.streams.held(token):
            await websocket.send_text(_message("ready", after=request.after))
            pump = asyncio.ensure_future(
                _pump_websocket(websocket, runner, tenant, request, settings)
            )
            gone = asyncio.ensure_future(_client_left(websocket))
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
            gone.cancel()
            if not pump.done():
                pump.cancel()  # the client left: nothing more to send
            await asyncio.gather(pump, gone, return_exceptions=True)
            if not pump.cancelled():
                pump.result()  # a refusal (FeedEnded) is told below
            left = None if gone.cancelled() else gone.exception()
            if isinstance(left, FeedEnded):
                raise left  # it sent past the rate limit
    except (WebSocketDisconnect, TimeoutError):
        return
    except ServerClosing:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(1001, SHUTTING_DOWN)
    except LedgerError as error:
        await refuse(websocket, status_of(error), error.code, error.detail, request_id)
    except FeedEnded as ended:
        await refuse(websocket, ended.status, ended.code, ended.detail, request_id)


async def _pump_websocket(
    websocket: WebSocket,
    runner: SandboxRunner,
    tenant: Tenant,
    request: FeedRequest,
    settings: StreamSettings,
) -> None:
    with SendWatch(settings.send_timeout) as watch:
        async for batch in follow(runner, tenant, request, settings):
            for event in batch or ():
                watch.began()
                await websocket.send_text(turn_cache.ws_text(event))
                watch.ended()
    await websocket.send_text(_message("end"))
    await websocket.close(1000)


async def _client_left(websocket: WebSocket) -> None:
    """Returns when the client closes; what it sends meanwhile is ignored, but counted against
    the rate limit (raises :class:`FeedEnded` once over it)."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        spend: Callable[[], str | None] | None = websocket.scope.get("gledger.rate_spend")
        refusal = spend() if spend is not None else None
        if refusal is not None:
            raise FeedEnded(429, "rate_limited", refusal)


def _feed_params(
    params: dict[str, object],
) -> tuple[str | int | None, list[str] | None, int | None, float | None]:
    """The cursor and bounds from query parameters (strings) or a first message (JSON)."""
    after = params.get("after")
    types = params.get("types")
    if isinstance(types, str):
        types = [t for t in types.split(",") if t]
    if types is not None and not (
        isinstance(types, list) and all(isinstance(t, str) for t in types)
    ):
        raise MalformedInput.at("/types", "validation.invalid_value", "types is a list of names.")
    if after is not None and not (
        isinstance(after, str) or (isinstance(after, int) and not isinstance(after, bool))
    ):
        raise MalformedInput.at("/after", "validation.invalid_cursor", "after is a sequence.")
    return (
        after,
        types,
        _count(params.get("max_events"), "/max_events"),
        _seconds(params.get("timeout"), "/timeout"),
    )


def _count(value: object, pointer: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise MalformedInput.at(pointer, "validation.invalid_value", "A whole number from 1.")
    return value


def _seconds(value: object, pointer: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value) if isinstance(value, str | int | float) else -1.0
    except (ValueError, OverflowError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 < seconds <= 86400:
        raise MalformedInput.at(pointer, "validation.invalid_value", "Seconds, up to 86400.")
    return seconds


async def refuse(websocket: WebSocket, status: int, code: str, detail: str, rid: str) -> None:
    """Tell a WebSocket client a problem (an ``error`` message), then close with its code."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        problem = orjson.loads(problem_body(status, code, detail, rid))
        await websocket.send_text(_message("error", problem=problem))
        await websocket.close(CLOSE_CODES.get(status, 1008), code)
