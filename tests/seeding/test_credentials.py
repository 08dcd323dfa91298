"""Tenant ids and credentials: random whatever the seed, and naming the server's shard; the
seed still reproduces a tenant's resource ids."""

from __future__ import annotations

from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import build_services
from gledger_sandbox.domain.sandbox.credentials import Shard, shard_of
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

FIELDS = ("id", "api_key", "client_id", "client_secret")


def _registry(shard: int = 0) -> TenantRegistry:
    registry: TenantRegistry = build_services(
        Settings(seed=7, default_tenant=False, shard=shard)
    ).registry
    return registry


def _secrets(tenant: Tenant) -> list[str]:
    return [getattr(tenant, field) for field in FIELDS]


def test_the_same_seed_on_two_servers_reproduces_the_data_but_no_id_or_credential() -> None:
    first, second = _registry().create("merchant", seed=3), _registry().create("merchant", seed=3)
    assert not set(_secrets(first)) & set(_secrets(second))
    ledgers = [sorted(t.store.index(("ledgers",))) for t in (first, second)]
    assert ledgers[0] == ledgers[1] and ledgers[0]


def test_unseeded_tenants_of_servers_started_with_one_seed_get_different_seeds() -> None:
    seeds = {_registry().create("empty").seed for _ in range(3)}
    assert len(seeds) == 3


def test_every_id_credential_and_token_names_the_shard_that_minted_it() -> None:
    registry = _registry(shard=12)
    tenant = registry.create("empty")
    token = registry.issue_token(tenant.client_id, tenant.client_secret, None).token
    assert [shard_of(value) for value in (*_secrets(tenant), token)] == [12] * 5
    assert tenant.id.startswith("ten_s12_") and token.startswith("glat_s12_")


def test_a_credential_without_a_tag_names_no_shard() -> None:
    for untagged in ("gls_test_default_key", "gls_test_sX_abc", "ten_s01_abc", "xyz_s1_abc", ""):
        assert shard_of(untagged) is None, untagged
    assert shard_of(Shard(999).api_key()) == 999
