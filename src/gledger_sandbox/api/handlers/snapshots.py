"""Snapshots of a tenant: take, list, read, delete, restore and export them; import a file."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.sandbox import _creation_keys, _in_slices
from gledger_sandbox.api.responses import idempotent, json_response, services, tenant
from gledger_sandbox.api.serializers import snapshots as snapshot_json
from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.sandbox import snapshots, tenant_state
from gledger_sandbox.domain.sandbox.tenants import SCOPES, drain


async def create_snapshot(body: dict[str, Any]) -> Response:
    taken = snapshots.take(tenant(), body["name"])
    return json_response(
        snapshot_json.snapshot(taken), 201, {"Location": f"/v1/sandbox/snapshots/{taken.id}"}
    )


async def list_snapshots() -> Response:
    return json_response({"data": [snapshot_json.snapshot(s) for s in tenant().snapshots.all()]})


async def get_snapshot(snapshot_id: str) -> Response:
    return json_response(snapshot_json.snapshot(tenant().snapshots.get(snapshot_id)))


async def delete_snapshot(snapshot_id: str) -> Response:
    tenant().snapshots.delete(snapshot_id)
    return Response(status_code=204)


async def restore_snapshot(snapshot_id: str) -> Response:
    """Put the tenant back; never while its clock is being advanced (that holds its turn)."""
    caller = tenant()
    caller.snapshots.get(snapshot_id)  # 404 before waiting for the clock
    async with services().runner.clock_turn(caller.id):
        release = snapshots.restore(caller, snapshot_id)
    caller.policy.on_events(caller.id)  # feeds end, old attempts are forgotten, deliveries go
    await _in_slices(release, services().seeding_turns)  # let go of the old state
    return json_response(serializers.tenant(caller))


async def export_snapshot(snapshot_id: str) -> Response:
    document = snapshots.export(tenant(), snapshot_id)
    disposition = f'attachment; filename="{snapshot_id}.json"'
    return Response(
        document, 200, headers={"Content-Disposition": disposition}, media_type="application/json"
    )


@idempotent("importTenant", keys=_creation_keys)
async def import_tenant(body: dict[str, Any]) -> Response:
    """A new tenant in an exported state: checked whole before the tenant exists."""
    document = tenant_state.checked(body)
    head = tenant_state.header(document)
    registry = services().registry
    try:
        build = registry.begin_create(head.fixture, head.seed, head.clock_start)
    except LedgerError as error:
        raise error.renamed({"/fixture": "/state/tenant/fixture"}) from None
    try:
        build.steps = iter(())
        tenant_state.adopt(build.tenant, document, exact_clock=True)
    except BaseException:
        registry.abandon(build)
        raise
    drain(build.steps)
    made = registry.finish(build)
    return json_response(serializers.tenant_credentials(made, SCOPES), 201)
