"""Following a tenant's event feed from outside, over HTTP: the SSE stream, resumed by cursor.

``listen`` and ``events tail`` read the sandbox as any partner would (``GET /v1/events/stream``
with the API key), so they work against a local or a remote sandbox alike. The feed remembers
the sequence of the last event it handed on; when the connection drops (the server stopped,
a proxy cut it, the stream ended for shutdown) it reconnects with backoff and resumes with
``Last-Event-ID`` from that sequence, so nothing is missed or repeated.

A restarted in-memory sandbox (or a reset tenant) has a *new* log: its sequences start again,
and a cursor of the old log means nothing there. Before resuming, the feed checks that the
event at its cursor is still the one it handed on (same id, same ``created_at``); when it is
not, or the server refuses the cursor, it says so (:class:`NewLog`) and follows the new log
from its head, as it would on a first start: events written to the new log before the feed
reconnected are not forwarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from gledger_sandbox import __version__

STREAM_PATH = "/v1/events/stream"
EVENTS_PATH = "/v1/events"
FIRST_DELAY = 0.2
MAX_DELAY = 5.0


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event as the stream sent it: its sequence, type, parsed body and exact bytes."""

    seq: int
    type: str
    body: dict[str, Any]
    raw: bytes

    @property
    def id(self) -> str:
        return str(self.body.get("id", ""))


@dataclass(frozen=True, slots=True)
class Connected:
    """The stream is open; ``resumed`` when it continues from an earlier cursor."""

    after: int
    resumed: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The stream broke (``reason``); the feed tries again after ``retry_in`` seconds."""

    reason: str
    retry_in: float


@dataclass(frozen=True, slots=True)
class NewLog:
    """The server's log is not the one the cursor belongs to (a restart or a tenant reset)."""

    old_cursor: int


Notice = Connected | Disconnected | NewLog


class FeedRefused(Exception):
    """The server refused the credential or the request: retrying would not help."""


class _Broken(Exception):
    """The stream broke in a way a reconnect may cure."""


class _CursorRefused(Exception):
    """The server does not know the cursor (its log is a new one)."""


@dataclass
class EventFeed:
    """The tenant's events after ``after`` (None: from the head), of ``types`` if given."""

    base_url: str
    api_key: str
    types: tuple[str, ...] = ()
    after: int | None = None
    on_notice: Callable[[Notice], None] = lambda notice: None
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    _last: FeedEvent | None = None

    async def events(self) -> AsyncIterator[FeedEvent]:
        """Events as they commit, forever; reconnects by itself, raises :class:`FeedRefused`."""
        headers = {
            "authorization": f"Bearer {self.api_key}",
            "user-agent": f"gledger-sandbox-cli/{__version__}",
        }
        timeout = httpx.Timeout(10.0, read=None)  # keep-alive comments, but no read deadline
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout
        ) as client:
            delay = self.first_delay
            resumed = False
            while True:
                try:
                    if resumed:
                        await self._check_cursor(client)
                    async for event in self._stream(client, resumed):
                        delay = self.first_delay
                        self._last = event
                        self.after = event.seq
                        yield event
                    reason = "the stream ended"
                except _CursorRefused:
                    self.on_notice(NewLog(self.after or 0))
                    self.after, self._last, resumed = None, None, False
                    continue
                except (_Broken, httpx.TransportError) as broken:
                    reason = _why(broken)
                self.on_notice(Disconnected(reason, delay))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                resumed = self.after is not None

    async def _check_cursor(self, client: httpx.AsyncClient) -> None:
        """Raise :class:`_CursorRefused` unless the event at the cursor is the one handed on."""
        if self._last is None or self.after is None:
            return
        answer = await client.get(EVENTS_PATH, params={"after": self.after - 1, "limit": 1})
        if answer.status_code in (400, 404, 410):
            raise _CursorRefused
        _refuse_on_auth(answer)
        if answer.status_code != 200:
            raise _Broken(f"GET /v1/events answered {answer.status_code}")
        found = answer.json().get("data") or [{}]
        held = found[0]
        if (held.get("id"), held.get("created_at")) != (
            self._last.id,
            self._last.body.get("created_at"),
        ):
            raise _CursorRefused

    async def _stream(self, client: httpx.AsyncClient, resumed: bool) -> AsyncIterator[FeedEvent]:
        params: dict[str, str] = {"types": ",".join(self.types)} if self.types else {}
        headers = {"accept": "text/event-stream"}
        if self.after is not None:
            if resumed:
                headers["last-event-id"] = str(self.after)
            else:
                params["after"] = str(self.after)
        async with client.stream("GET", STREAM_PATH, params=params, headers=headers) as answer:
            if answer.status_code != 200:
                body = await answer.aread()
                if answer.status_code in (400, 410) and resumed and b"events.cursor" in body:
                    raise _CursorRefused
                _refuse_on_auth(answer, body)
                raise FeedRefused(_problem_text(answer.status_code, body))
            self.on_notice(Connected(self.after or 0, resumed))
            async for event in _frames(answer):
                yield event


def _refuse_on_auth(answer: httpx.Response, body: bytes | None = None) -> None:
    if answer.status_code in (401, 403):
        text = _problem_text(answer.status_code, body if body is not None else answer.content)
        raise FeedRefused(text + " (check --api-key or GLEDGER_API_KEY)")


async def _frames(answer: httpx.Response) -> AsyncIterator[FeedEvent]:
    """The events of an SSE body; an ``error`` event ends the feed as the server asked."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in answer.aiter_lines():
        if line == "":
            if data:
                event = _dispatch(fields, "\n".join(data))
                if event is not None:
                    yield event
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue  # a comment: the hello, a keep-alive, or "server shutting down"
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name in ("id", "event"):
            fields[name] = value
    raise _Broken("the stream ended")


def _dispatch(fields: dict[str, str], data: str) -> FeedEvent | None:
    if fields.get("event") == "error":
        problem = orjson.loads(data)
        if problem.get("code") in ("events.log_reset", "events.cursor_expired"):
            raise _CursorRefused
        raise FeedRefused(f"{problem.get('code')}: {problem.get('detail')}")
    if "id" not in fields:
        return None
    raw = data.encode()
    return FeedEvent(int(fields["id"]), fields.get("event", ""), orjson.loads(raw), raw)


def _problem_text(status: int, body: bytes) -> str:
    try:
        problem = orjson.loads(body)
        return f"{status} {problem.get('code')}: {problem.get('detail')}"
    except orjson.JSONDecodeError:
        return f"{status}: {body[:200].decode(errors='replace')}"


def _why(broken: Exception) -> str:
    if isinstance(broken, httpx.ConnectError):
        return "cannot connect"
    text = str(broken)
    return f"{type(broken).__name__}: {text}" if text else type(broken).__name__
