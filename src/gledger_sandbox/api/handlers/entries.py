"""Journal entries: create (at once or asynchronously), list, read, change, post, void, reverse."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import header, idempotent, json_response, services, tenant
from gledger_sandbox.api.serializers.encoded import entry_json, entry_page
from gledger_sandbox.domain.ledger import entry_queries, postings
from gledger_sandbox.domain.ledger.models import EntryStatus


def _prefers_async() -> bool:
    prefer = header("prefer") or ""
    return any(p.strip().lower() == "respond-async" for p in prefer.split(","))


@idempotent("createEntry")
async def create_entry(body: dict[str, Any]) -> Response:
    caller = tenant()
    spec = serializers.entry_spec(body)
    later = _prefers_async() and spec.status is EntryStatus.POSTED
    if later:
        spec = replace(spec, status=EntryStatus.PENDING)
    created = postings.create_entry(caller.store, spec)
    if not later:
        return json_response(entry_json(created), 201)
    delay = timedelta(seconds=services().settings.async_post_delay)
    caller.schedule.post_later(created, delay, caller.clock.now())
    return json_response(
        serializers.entry(created), 202, headers={"Preference-Applied": "respond-async"}
    )


async def list_entries(
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    ledger_id: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
    source_type: str | None = None,
    source_id: str | None = None,
    external_id: str | None = None,
    effective_from: str | None = None,
    effective_to: str | None = None,
) -> Response:
    found = entry_queries.list_entries(
        tenant().store,
        page_request(limit, cursor, order),
        ledger_id=ledger_id,
        account_id=account_id,
        status=EntryStatus(status) if status else None,
        source_type=source_type,
        source_id=source_id,
        external_id=external_id,
        effective_from=(
            serializers.parse_timestamp(effective_from, "/query/effective_from")
            if effective_from
            else None
        ),
        effective_to=(
            serializers.parse_timestamp(effective_to, "/query/effective_to")
            if effective_to
            else None
        ),
    )
    return json_response(entry_page(found))


async def get_entry(entry_id: str) -> Response:
    return json_response(entry_json(postings.entry(tenant().store, entry_id)))


async def update_entry(entry_id: str, body: dict[str, Any]) -> Response:
    changes = serializers.entry_changes(body)
    return json_response(
        serializers.entry(postings.update_entry(tenant().store, entry_id, changes))
    )


@idempotent("postEntry")
async def post_entry(entry_id: str) -> Response:
    return json_response(serializers.entry(postings.post_entry(tenant().store, entry_id)))


@idempotent("voidEntry")
async def void_entry(entry_id: str) -> Response:
    return json_response(serializers.entry(postings.void_entry(tenant().store, entry_id)))


@idempotent("reverseEntry")
async def reverse_entry(entry_id: str, body: dict[str, Any] | None = None) -> Response:
    body = body or {}
    effective_at = body.get("effective_at")
    reversal = postings.reverse_entry(
        tenant().store,
        entry_id,
        description=body.get("description"),
        effective_at=(
            serializers.parse_timestamp(effective_at, "/effective_at") if effective_at else None
        ),
        external_id=body.get("external_id"),
        metadata=body.get("metadata"),
    )
    return json_response(serializers.entry(reversal), 201)
