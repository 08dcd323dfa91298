"""Sandbox tenants: create one (no credential needed), read, reset or delete your own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.responses import idempotent, json_response, services, tenant
from gledger_sandbox.domain.clock import wall_clock
from gledger_sandbox.domain.idempotency import IdempotencyStore
from gledger_sandbox.domain.tenants import SCOPES, Tenant, TenantBuild, TenantRegistry

SEEDING_SLICE_SECONDS = 0.002
"""How long seeding runs before it lets other requests in (the step under way ends first)."""


async def seed_in_slices(build: TenantBuild) -> Tenant:
    """Seed a tenant aside in short slices, yielding to the loop between them, then take it in.

    Four visitors creating sandboxes at once must not stall every other tenant's requests: one
    slice runs per turn of the loop, whoever's it is, then every other ready task runs.
    """
    registry: TenantRegistry = services().registry
    turns: asyncio.Lock = services().seeding_turns
    try:
        await _in_slices(build.steps, turns)
    except BaseException:
        registry.abandon(build)
        raise
    made = registry.finish(build)
    await _in_slices(build.release, turns)  # a reset lets go of the old state the same way
    return made


async def _in_slices(steps: Iterator[None], turns: asyncio.Lock) -> None:
    """Run ``steps`` a slice at a time, each slice in a turn of its own (turns go round)."""
    more = True
    while more:
        async with turns:
            deadline = time.perf_counter() + SEEDING_SLICE_SECONDS
            more = False
            for _ in steps:
                if time.perf_counter() >= deadline:
                    more = True
                    break
        await asyncio.sleep(0)


def _creation_keys() -> tuple[IdempotencyStore, datetime]:
    """Server-wide keys on wall time: a replay returns the same credentials, so keys must be
    unguessable (the spec says so)."""
    return services().tenant_creation_keys, wall_clock()


@idempotent("createTenant", keys=_creation_keys)
async def create_tenant(body: dict[str, Any] | None = None) -> Response:
    body = body or {}
    start = body.get("clock_start")
    build = services().registry.begin_create(
        fixture=body.get("fixture", "merchant"),
        seed=body.get("seed"),
        clock_start=serializers.parse_timestamp(start, "/clock_start") if start else None,
    )
    created = await seed_in_slices(build)
    return json_response(serializers.tenant_credentials(created, SCOPES), 201)


async def get_tenant() -> Response:
    return json_response(serializers.tenant(tenant()))


async def reset_tenant(body: dict[str, Any] | None = None) -> Response:
    """Re-seed the tenant; its idempotency keys go with its data (a reset is a fresh start)."""
    body = body or {}
    build = services().registry.begin_reset(tenant(), body.get("fixture"), body.get("seed"))
    found = await seed_in_slices(build)
    return json_response(serializers.tenant(found))


async def delete_tenant() -> Response:
    services().registry.delete(tenant())
    return Response(status_code=204)


async def get_clock() -> Response:
    return json_response(serializers.clock(tenant()))


async def advance_clock(body: dict[str, Any]) -> Response:
    """Move the clock forward and run what falls due on the way; answers what ran."""
    report = await services().runner.advance(tenant(), body["seconds"])
    return json_response(serializers.advance(report))
