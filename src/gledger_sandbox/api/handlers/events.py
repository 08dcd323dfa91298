"""Events: the log of every change, read as pages or as a live Server-Sent Events stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import Response

from gledger_sandbox.api import serializers, streams
from gledger_sandbox.api.limits import bearer_token
from gledger_sandbox.api.responses import header, json_response, request_id, services, tenant


async def list_events(after: int = 0, types: list[str] | None = None, limit: int = 50) -> Response:
    found = tenant().store.events.page(after, types or None, limit)  # [] is every type
    return json_response(serializers.event_page(found))


async def get_event(event_id: str) -> Response:
    return json_response(serializers.event(tenant().store.events.get(event_id)))


async def stream_events(
    after: int | None = None,
    types: list[str] | None = None,
    max_events: int | None = None,
    timeout: float | None = None,
) -> Response:
    """Events after ``Last-Event-ID`` (a reconnecting client's), else ``after``, else the head."""
    caller = tenant()
    resume = header("last-event-id")
    if resume is not None:
        request = streams.feed_request(
            resume.strip(), types, max_events, timeout, caller, "/header/Last-Event-ID"
        )
    else:
        request = streams.feed_request(after, types, max_events, timeout, caller)
    runner, settings, rid = services().runner, services().settings.streams, request_id()

    def chunks() -> AsyncIterator[bytes]:
        return streams.sse_chunks(runner, caller, request, settings, rid)

    # The credential's stream slot: refused here (429) while it holds its limit of open feeds.
    token = bearer_token(header("authorization"))
    slots = services().streams
    slots.claim(token)
    return streams.EventStreamResponse(chunks, settings, on_close=lambda: slots.release(token))
