"""Seeding and resets run in short steps, so a server can serve other tenants between them."""

from __future__ import annotations

import pytest

from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import build_services
from gledger_sandbox.domain.errors import AccessError, NotFound
from gledger_sandbox.domain.sandbox.release import dismantle
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry, drain


def _registry() -> TenantRegistry:
    registry: TenantRegistry = build_services(Settings(default_tenant=False)).registry
    return registry


def test_a_merchant_tenant_is_seeded_in_many_steps_of_a_few_commands_each() -> None:
    registry = _registry()
    build = registry.begin_create("merchant", seed=5)
    log = build.tenant.store.events
    per_step = []
    before = log.last_seq
    for _ in build.steps:
        per_step.append(log.last_seq - before)
        before = log.last_seq
    tenant = registry.finish(build)
    assert len(per_step) >= 100
    # A business event per step: a checkout is one entry, a payout with its steps a handful.
    assert max(per_step) <= 12, max(per_step)
    assert sum(per_step) >= 0.9 * tenant.store.events.last_seq
    assert registry.tenants[tenant.id] is tenant


def test_a_tenant_being_seeded_is_invisible_until_finished_and_counts_against_the_limit() -> None:
    registry = _registry()
    registry.max_tenants = 1
    build = registry.begin_create("merchant", seed=5)
    next(build.steps)
    assert build.tenant.id not in registry.tenants
    assert registry.by_api_key(build.tenant.api_key) is None
    with pytest.raises(AccessError, match="limit"):
        registry.begin_create("empty")
    registry.abandon(build)
    registry.begin_create("empty")  # the abandoned build gave its place back


def test_a_reset_seeds_aside_then_swaps_and_releases_the_old_state_in_steps() -> None:
    registry = _registry()
    tenant = registry.create("merchant", seed=5)
    old_store = tenant.store
    old_entries = len(old_store.entries)
    last_seq = old_store.events.last_seq
    build = registry.begin_reset(tenant, seed=6)
    drain(build.steps)
    assert tenant.store is old_store  # still serving the old data while the new is seeded
    registry.finish(build)
    assert tenant.store is build.tenant.store and tenant.seed == 6
    assert tenant.store.events.dropped_through == last_seq + 1  # readers are told of the reset
    steps = sum(1 for _ in build.release)
    assert steps >= old_entries // 1000
    assert not old_store.entries and not old_store.statements and not old_store.events._events


def test_a_reset_of_a_tenant_written_meanwhile_seeds_in_place_and_loses_no_sequence() -> None:
    registry = _registry()
    tenant = registry.create("empty", seed=5)
    build = registry.begin_reset(tenant, fixture="merchant")
    drain(build.steps)
    tenant.store.create_ledger("written during the reset", None, {})
    written = tenant.store.events.last_seq
    registry.finish(build)
    assert tenant.fixture == "merchant" and len(tenant.store.entries) > 60
    assert tenant.store.events.dropped_through > written
    assert all(
        ledger.name != "written during the reset" for ledger in tenant.store.ledgers.values()
    )


def test_dismantle_empties_nested_containers_a_batch_at_a_time() -> None:
    class Holder:
        def __init__(self) -> None:
            self.rows = {n: [n] * 3 for n in range(2500)}
            self.log = list(range(1500))

    holder = Holder()
    steps = list(dismantle(holder, batch=500))
    assert holder.rows == {} and holder.log == []
    assert len(steps) == (2500 + 2500 * 3 + 1500) // 500


def test_a_reset_of_a_tenant_written_meanwhile_is_stale_and_can_be_seeded_aside_again() -> None:
    """The server's reset tries again aside (in slices) rather than seed in place at once."""
    registry = _registry()
    tenant = registry.create("merchant", seed=5)
    build = registry.begin_reset(tenant)
    drain(build.steps)
    assert not registry.stale(build)
    tenant.store.create_ledger("written during the reset", None, {})
    assert registry.stale(build)
    registry.abandon(build)
    again = registry.begin_reset(tenant)
    drain(again.steps)
    assert not registry.stale(again)
    assert registry.finish(again) is tenant
    assert all(
        ledger.name != "written during the reset" for ledger in tenant.store.ledgers.values()
    )


def test_a_tenant_deleted_during_its_reset_is_not_seeded_again() -> None:
    registry = _registry()
    tenant = registry.create("merchant", seed=5)
    build = registry.begin_reset(tenant)
    next(build.steps)
    registry.delete(tenant)
    with pytest.raises(NotFound):
        registry.finish(build)
    assert tenant.id not in registry.tenants
