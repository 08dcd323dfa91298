"""Live feeds of a tenant's events: Server-Sent Events and a WebSocket, on the same cursor.

A feed reads the event log itself from its cursor, so an open stream holds no buffer of its
own and costs no thread: a waiting coroutine per stream, woken when its tenant commits events.
A reader far behind just catches up from the log. What a slow reader can hold is bounded by the
transport's write buffer: when its socket accepts nothing for ``send_timeout`` seconds the
reader is dropped, and it resumes from its last id. A reader whose cursor falls out of the
log's retention is told so (``events.cursor_expired``), never given a gap. When the server
stops, every feed ends at once (:class:`ServerClosing`): SSE with a last comment
``: server shutting down``, the WebSocket with close code 1001 (going away).

SSE (``GET /v1/events/stream``) goes through connexion like any operation (the spec validates
its parameters, security checks its scopes) and answers with :class:`EventStreamResponse`.
The WebSocket (``/v1/events/ws``) is a Starlette route in front of connexion, which cannot
route WebSockets; it authenticates with the same credentials (``ws_feed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gledger_sandbox.api import serializers
from gledger_sandbox.api.problems import problem_body
from gledger_sandbox.api.runner import SandboxRunner
from gledger_sandbox.api.settings import StreamSettings
from gledger_sandbox.domain.errors import MalformedInput
from gledger_sandbox.domain.ledger.events import EVENT_TYPES, Event, EventLog
from gledger_sandbox.domain.sandbox.tenant import Tenant

BATCH = 256


@dataclass(frozen=True, slots=True)
class FeedRequest:
    after: int
    types: frozenset[str] | None = None
    max_events: int | None = None
    timeout: float | None = None


class FeedEnded(Exception):
    """Why a feed stopped early: a problem to tell the reader, with a machine-readable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class ServerClosing(Exception):
    """The server is stopping: the feed ends, and the reader reconnects from its last id."""


SHUTTING_DOWN = "server shutting down"


def feed_request(
    after: str | int | None,
    types: list[str] | None,
    max_events: int | None,
    timeout: float | None,
    tenant: Tenant,
    pointer: str = "/query/after",
) -> FeedRequest:
    """A feed's cursor and bounds, checked against the log (410 for an expired cursor)."""
    log = tenant.store.events
    if after is None:
        position = log.last_seq
    elif isinstance(after, int) and not isinstance(after, bool):
        position = after
    elif isinstance(after, str) and after.isascii() and after.isdigit() and len(after) <= 19:
        position = int(after)
    else:
        raise MalformedInput.at(
            pointer, "validation.invalid_cursor", "A cursor is an event sequence number."
        )
    position = log.start(position)
    log.check_cursor(position, pointer)
    unknown = sorted(set(types or ()) - set(EVENT_TYPES))
    if unknown:
        raise MalformedInput.at(
            "/query/types", "validation.invalid_value", f"Unknown event type(s): {unknown}."
        )
    return FeedRequest(position, frozenset(types) if types else None, max_events, timeout)


async def follow(
    runner: SandboxRunner, tenant: Tenant, request: FeedRequest, settings: StreamSettings
) -> AsyncIterator[list[Event] | None]:
    """Batches of events after the cursor as they commit; None when a keep-alive is due.

    Ends when ``max_events`` were sent or ``timeout`` passed; raises :class:`FeedEnded` when the
    tenant is reset or deleted, or the events after the cursor are no longer retained, and
    :class:`ServerClosing` when the server stops.
    """
    with runner.feed(tenant.id):
        async for batch in _follow(runner, tenant, request, settings):
            yield batch


async def _follow(
    runner: SandboxRunner, tenant: Tenant, request: FeedRequest, settings: StreamSettings
) -> AsyncIterator[list[Event] | None]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.timeout if request.timeout is not None else None
    generation = tenant.generation
    log = tenant.store.events
    cursor = request.after
    left = request.max_events
    last_write = loop.time()
    while left is None or left > 0:
        if deadline is not None and loop.time() >= deadline:
            return
        if runner.closing:
            raise ServerClosing
        if tenant.generation != generation:
            raise FeedEnded(410, "events.log_reset", "The tenant was reset or deleted.")
        if cursor < log.dropped_through:
            raise FeedEnded(
                410,
                "events.cursor_expired",
                f"This reader fell behind the log's retention: events after {cursor} are no "
                f"longer held (the oldest is {log.first_seq}).",
            )
        events = turn_cache.after(log, cursor, request.types, min(BATCH, left or BATCH))
        if events:
            cursor = events[-1].seq
            if left is not None:
                left -= len(events)
            last_write = loop.time()
            yield events
            continue
        cursor = max(cursor, log.last_seq)  # nothing of the wanted types up to the head
        # A keep-alive is due a fixed time after the last write, however often other types of
        # events wake this reader meanwhile.
        keepalive_due = last_write + settings.keepalive_seconds
        if loop.time() >= keepalive_due:
            last_write = loop.time()
            yield None
            continue
        wait = keepalive_due - loop.time()
        if deadline is not None:
            wait = min(wait, deadline - loop.time())
        await runner.wait_for_events(tenant.id, max(wait, 0.0))


class _TurnCache:
    """What the streams woken in one loop turn read and send, made once for all of them.

    A tenant's streams are woken together (``SandboxRunner.wake_delay``); those at the same
    cursor with the same types read the same events and send the same bytes. Entries are kept
    until the loop's next turn only, each with the object it was made from (so an id reused
    meanwhile can never match).
    """

    def __init__(self) -> None:
        self._reads: dict[tuple[int, int, frozenset[str] | None, int], tuple[EventLog, list[Event]]]
        self._reads = {}
        self._chunks: dict[int, tuple[list[Event], bytes]] = {}
        self._texts: dict[int, tuple[Event, str]] = {}

    def _clear_soon(self) -> None:
        if not (self._reads or self._chunks or self._texts):
            asyncio.get_running_loop().call_soon(self._clear)

    def _clear(self) -> None:
        self._reads.clear()
        self._chunks.clear()
        self._texts.clear()

    def after(
        self, log: EventLog, cursor: int, types: frozenset[str] | None, limit: int
    ) -> list[Event]:
        """``log.after(cursor, types, limit)``, the same list for every reader this turn."""
        key = (id(log), cursor, types, limit)
        found = self._reads.get(key)
        if found is not None and found[0] is log:
            return found[1]
        self._clear_soon()
        events = log.after(cursor, types, limit)
        self._reads[key] = (log, events)
        return events

    def sse_chunk(self, batch: list[Event]) -> bytes:
        """The SSE frames of a batch, joined once."""
        found = self._chunks.get(id(batch))
        if found is not None and found[0] is batch:
            return found[1]
        self._clear_soon()
        chunk = b"".join(map(sse_frame, batch))
        self._chunks[id(batch)] = (batch, chunk)
        return chunk

    def ws_text(self, event: Event) -> str:
        """The WebSocket message of one event, made once."""
        found = self._texts.get(id(event))
        if found is not None and found[0] is event:
            return found[1]
        self._clear_soon()
        text = ws_event(event)
        self._texts[id(event)] = (event, text)
        return text


turn_cache = _TurnCache()


def event_bytes(event: Event) -> bytes:
    """The event's JSON, rendered once and shared by every feed and webhook."""
    if event.wire is None:
        event.wire = serializers.dumps(serializers.event(event))
    return event.wire


def sse_frame(event: Event) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), event_bytes(event))


class EventStreamResponse(Response):
    """``text/event-stream`` of a feed; ends on the feed's bounds or the client's leaving."""

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: Callable[[], AsyncIterator[bytes]],
        settings: StreamSettings,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            None,
            200,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            media_type=self.media_type,
        )
        # No Content-Length: the body is a stream of unknown length.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._chunks = chunks
        self._settings = settings
        self._on_close = on_close
        """Run once the stream ends, however it ends (gives back its stream slot)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._stream(receive, send)
        finally:
            if self._on_close is not None:
                self._on_close()

    async def _stream(self, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        pump = asyncio.ensure_future(self._pump(send))
        gone = asyncio.ensure_future(_disconnected(receive))
        await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, gone):
            task.cancel()
        await asyncio.gather(pump, gone, return_exceptions=True)

    async def _pump(self, send: Send) -> None:
        try:
            with SendWatch(self._settings.send_timeout) as watch:
                async for chunk in self._chunks():
                    watch.began()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    watch.ended()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            return  # the client stopped reading: drop it (it resumes from its last id)


class SendWatch:
    """Drops a reader whose socket accepted nothing for ``seconds``: the write under way then
    raises ``TimeoutError``.

    One timer per stream, re-armed when it fires, where ``asyncio.timeout`` around every write
    made and cancelled one per write (a tenant's 500 streams write together, many times a
    second). Use as a context manager inside the writing task; mark each write with
    :meth:`began` and :meth:`ended`.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._since: float | None = None
        self._expired = False
        self._timer = self._loop.call_later(seconds, self._check)

    def began(self) -> None:
        self._since = self._loop.time()

    def ended(self) -> None:
        self._since = None

    def _check(self) -> None:
        since, now = self._since, self._loop.time()
        if since is not None and now - since >= self.seconds and self._task is not None:
            self._expired = True
            self._task.cancel()
            return
        delay = self.seconds if since is None else since + self.seconds - now
        self._timer = self._loop.call_later(delay, self._check)

    def __enter__(self) -> SendWatch:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: object, tb: object) -> None:
        self._timer.cancel()
        if kind is asyncio.CancelledError and self._expired and self._task is not None:
            self._task.uncancel()
            raise TimeoutError from None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def sse_chunks(
    runner: SandboxRunner,
    tenant: Tenant,
    request: FeedRequest,
    settings: StreamSettings,
    request_id: str,
) -> AsyncIterator[bytes]:
    # Neither the retry hint nor a keep-alive ends with a blank line: a blank line makes some
    # clients (httpx-sse among them) dispatch an empty event. The hint goes with the first event.
    yield b": gledger event stream\nretry: %d\n" % settings.retry_ms
    try:
        async for batch in follow(runner, tenant, request, settings):
            yield b": keep-alive\n" if batch is None else turn_cache.sse_chunk(batch)
    except FeedEnded as ended:
        problem = problem_body(ended.status, ended.code, ended.detail, request_id)
        yield b"event: error\ndata: %s\n\n" % problem
    except ServerClosing:
        yield b": %s\n" % SHUTTING_DOWN.encode()


# -- WebSocket ------------------------------------------------------------------------------


def ws_event(event: Event) -> str:
    """An event as a WebSocket message (``ws_feed``), around the bytes every feed shares."""
    return (b'{"kind":"event","event":%s}' % event_bytes(event)).decode()
