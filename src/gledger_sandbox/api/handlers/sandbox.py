"""Sandbox tenants: create one (no credential needed), read, reset or delete your own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.responses import (
    client_address,
    idempotent,
    json_response,
    services,
    tenant,
)
from gledger_sandbox.domain.clock import wall_clock
from gledger_sandbox.domain.sandbox.idempotency import IdempotencyStore
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import SCOPES, TenantBuild, TenantRegistry

SEEDING_SLICE_SECONDS = 0.002
"""How long seeding runs before it lets other requests in (the step under way ends first)."""
RESET_ATTEMPTS = 3
"""A reset seeds aside and starts again if the tenant is written to meanwhile; the last
attempt seeds in place (one stall of the loop rather than a reset that never ends)."""


async def seed_in_slices(build: TenantBuild) -> Tenant:
    """Seed a tenant aside in short slices, yielding to the loop between them, then take it in.

    Four visitors creating sandboxes at once must not stall every other tenant's requests: one
    slice runs per turn of the loop, whoever's it is, then every other ready task runs.
    """
    await _seeded(build)
    return await _finished(build)


async def _seeded(build: TenantBuild) -> None:
    """Run a build's seeding steps in slices; a request that goes away abandons its build."""
    try:
        await _in_slices(build.steps, services().seeding_turns)
    except BaseException:
        services().registry.abandon(build)
        raise


async def _finished(build: TenantBuild) -> Tenant:
    registry: TenantRegistry = services().registry
    target = build.resets
    if target is None:
        return registry.finish(build)
    # Never while a clock advance of the tenant is under way (it holds the tenant's clock).
    async with services().runner.clock_turn(target.id):
        made = registry.finish(build)
    await _in_slices(build.release, services().seeding_turns)  # let go of the old state
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
    """Server-wide keys on wall time, each scoped to the client's address as well: a replay
    returns the same credentials, so it is never answered to another address (and keys must
    still be unguessable, the spec says so, for callers behind one address)."""
    return services().tenant_creation_keys, wall_clock()


@idempotent("createTenant", keys=_creation_keys, by_address=True)
async def create_tenant(body: dict[str, Any] | None = None) -> Response:
    body = body or {}
    start = body.get("clock_start")
    shared = services()
    if shared.memory is not None:
        shared.memory.admit()  # 429 while the server is at its memory cap
    address = client_address()
    shared.creations.claim(address, wall_clock())  # 429 past the address's hourly quota
    try:
        build = shared.registry.begin_create(
            fixture=body.get("fixture", "merchant"),
            seed=body.get("seed"),
            clock_start=serializers.parse_timestamp(start, "/clock_start") if start else None,
        )
    except BaseException:
        shared.creations.release(address)  # refused: it made no tenant
        raise
    created = await seed_in_slices(build)
    return json_response(serializers.tenant_credentials(created, SCOPES), 201)


async def get_tenant() -> Response:
    return json_response(serializers.tenant(tenant()))


async def reset_tenant(body: dict[str, Any] | None = None) -> Response:
    """Re-seed the tenant; its idempotency keys go with its data (a reset is a fresh start)."""
    body = body or {}
    registry = services().registry
    for attempt in range(1, RESET_ATTEMPTS + 1):
        build = registry.begin_reset(tenant(), body.get("fixture"), body.get("seed"))
        await _seeded(build)
        if attempt < RESET_ATTEMPTS and registry.stale(build):
            registry.abandon(build)  # written to meanwhile: seed aside once more
            continue
        break
    found = await _finished(build)
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
