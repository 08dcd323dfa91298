"""Access tokens live on their tenant's sandbox clock, bounded in number per tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import MAX_TOKENS_PER_TENANT, TenantRegistry

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _unseeded(_tenant: Tenant) -> Iterator[None]:
    yield from ()


def _registry() -> tuple[TenantRegistry, Tenant]:
    registry = TenantRegistry(
        _unseeded, fixtures=frozenset({"empty"}), token_ttl=timedelta(hours=1)
    )
    return registry, registry.create("empty", clock_start=START)


def test_a_token_expires_on_the_tenant_clock_and_a_reset_keeps_what_it_had_left() -> None:
    registry, tenant = _registry()
    tenant.clock.advance(1800)
    grant = registry.issue_token(tenant.client_id, tenant.client_secret, None)
    tenant.clock.advance(1200)
    registry.reset(tenant)  # the clock restarts at START; 40 minutes were left
    assert tenant.clock.now() == START
    tenant.clock.advance(2399)
    assert registry.by_access_token(grant.token) is not None
    tenant.clock.advance(1)
    assert registry.by_access_token(grant.token) is None


def test_a_tenant_holds_a_bounded_number_of_tokens_oldest_dropped_first() -> None:
    registry, tenant = _registry()
    grants = [
        registry.issue_token(tenant.client_id, tenant.client_secret, "ledger.read")
        for _ in range(MAX_TOKENS_PER_TENANT + 1)
    ]
    assert registry.by_access_token(grants[0].token) is None
    assert all(registry.by_access_token(g.token) for g in grants[1:])
    registry.delete(tenant)
    assert registry.by_access_token(grants[-1].token) is None
