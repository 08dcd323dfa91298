"""Snapshot commands: take a tenant's whole state, put it back, or hand it out as a file.

Restoring puts the tenant back exactly as it was (ledgers, accounts, entries and balances,
idempotency keys, events, webhook endpoints and deliveries, settlements, payouts, due work,
the clock), keeping its id, credentials and snapshots. The event log goes back to the
snapshot's last sequence; the sequences written since become a gap that answers 410
``events.cursor_restored``, and new events go on after the gap (never reusing a sequence a
reader may have seen).
"""

from __future__ import annotations

from collections.abc import Iterator

from gledger_sandbox.domain.sandbox import tenant_state
from gledger_sandbox.domain.sandbox.release import dismantle
from gledger_sandbox.domain.sandbox.snapshot_shelf import Snapshot
from gledger_sandbox.domain.sandbox.tenant import Tenant


def take(tenant: Tenant, name: str) -> Snapshot:
    """A snapshot of the tenant's state now, kept on its shelf (bounded, see ``snapshot_shelf``;
    and by the tenant's ``snapshots`` quota: 422 ``quota.snapshots``, checked first)."""
    tenant.store.quotas.check("snapshots", tenant.snapshots.count)
    tenant.snapshots.room_for(0)
    document = tenant_state.to_bytes(tenant_state.capture(tenant))
    return tenant.snapshots.keep(
        name,
        tenant.clock.now(),
        tenant.store.events.last_seq,
        tenant.counts(),
        document,
    )


def restore(tenant: Tenant, snapshot_id: str) -> Iterator[None]:
    """Put the tenant back in the snapshot's state; returns the steps that free the old one."""
    snapshot = tenant.snapshots.get(snapshot_id)
    old = tenant.store
    tenant_state.adopt(tenant, tenant_state.read(snapshot.document), exact_clock=True)
    return dismantle(old, old.events)


def export(tenant: Tenant, snapshot_id: str) -> bytes:
    """The snapshot as a file to keep in a repository and import later (no credentials)."""
    return tenant.snapshots.get(snapshot_id).document
