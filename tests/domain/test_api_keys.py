"""Made API keys in the domain, on an injected wall clock: the exact moments a key, or a
rotated secret in its grace period, stops working, and the bounds on what a tenant keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gledger_sandbox.domain.errors import Conflict, NotFound
from gledger_sandbox.domain.quotas import QuotaExceeded
from gledger_sandbox.domain.sandbox import api_keys
from gledger_sandbox.domain.sandbox.api_keys import ApiKey, ApiKeys, Refusal
from gledger_sandbox.domain.sandbox.credentials import Shard, shard_of

T0 = datetime(2030, 1, 1, tzinfo=UTC)
READ = frozenset({"ledger.read"})


def _code(found: ApiKey | Refusal | None) -> str | None:
    return found.code if isinstance(found, Refusal) else None


def test_a_key_works_until_its_expiry_and_not_at_it() -> None:
    keys = ApiKeys(Shard(7))
    key, secret = keys.create("ten_a", "ci", READ, T0 + timedelta(hours=1), T0)
    assert shard_of(secret) == 7 and secret not in repr(key)
    assert keys.check(secret, T0 + timedelta(minutes=59, seconds=59)) == key
    assert _code(keys.check(secret, T0 + timedelta(hours=1))) == "api_key_expired"
    assert keys.check("gls_test_s7_unknown", T0) is None


def test_a_rotated_secret_works_through_its_grace_only() -> None:
    keys = ApiKeys(Shard(0))
    key, old = keys.create("ten_a", "ci", READ, None, T0)
    rotated, new = keys.rotate("ten_a", key.id, timedelta(seconds=30), T0)
    assert keys.check(old, T0 + timedelta(seconds=29)) == rotated
    assert _code(keys.check(old, T0 + timedelta(seconds=30))) == "api_key_rotated"
    assert keys.check(new, T0 + timedelta(days=9)) == rotated
    # A second rotation ends the first one's grace at once, and forgets its secret.
    again, newest = keys.rotate("ten_a", key.id, timedelta(seconds=30), T0 + timedelta(seconds=1))
    assert keys.check(old, T0 + timedelta(seconds=2)) is None
    assert keys.check(new, T0 + timedelta(seconds=2)) == again
    assert keys.check(newest, T0 + timedelta(seconds=2)) == again


def test_revoking_ends_the_secret_in_grace_too() -> None:
    keys = ApiKeys(Shard(0))
    key, old = keys.create("ten_a", "ci", READ, None, T0)
    _, new = keys.rotate("ten_a", key.id, timedelta(hours=1), T0)
    keys.revoke("ten_a", key.id, T0 + timedelta(seconds=1))
    for secret in (old, new):
        assert _code(keys.check(secret, T0 + timedelta(seconds=1))) == "api_key_revoked"
    with pytest.raises(Conflict) as refused:
        keys.rotate("ten_a", key.id, timedelta(0), T0 + timedelta(seconds=2))
    assert refused.value.code == "api_key.not_rotatable"


def test_keys_are_found_within_their_tenant_only() -> None:
    keys = ApiKeys(Shard(0))
    key, _ = keys.create("ten_a", "ci", READ, None, T0)
    for act in (
        lambda: keys.get("ten_b", key.id),
        lambda: keys.revoke("ten_b", key.id, T0),
        lambda: keys.rotate("ten_b", key.id, timedelta(0), T0),
    ):
        with pytest.raises(NotFound):
            act()
    assert keys.of("ten_b") == []


def test_working_keys_are_bounded_and_ended_ones_make_room() -> None:
    keys = ApiKeys(Shard(0))
    made = [
        keys.create("ten_a", f"k{i}", READ, None, T0)[0] for i in range(api_keys.MAX_ACTIVE_KEYS)
    ]
    with pytest.raises(QuotaExceeded) as refused:
        keys.create("ten_a", "one more", READ, None, T0)
    assert refused.value.code == "quota.api_keys"
    assert refused.value.limit == api_keys.MAX_ACTIVE_KEYS
    for key in made:
        keys.revoke("ten_a", key.id, T0)
    for i in range(api_keys.MAX_KEPT_KEYS):
        keys.revoke("ten_a", keys.create("ten_a", f"n{i}", READ, None, T0)[0].id, T0)
    # Past MAX_KEPT_KEYS records, the oldest ended ones went to make room.
    assert len(keys.of("ten_a")) == api_keys.MAX_KEPT_KEYS
    assert made[0] not in keys.of("ten_a")


def test_records_carry_digests_and_come_back_equal() -> None:
    keys = ApiKeys(Shard(0))
    key, secret = keys.create("ten_a", "ci", READ, T0 + timedelta(days=1), T0)
    rotated, _ = keys.rotate("ten_a", key.id, timedelta(minutes=5), T0)
    records = api_keys.to_records([rotated])
    assert secret not in str(records)
    again = ApiKeys(Shard(0))
    again.readmit(api_keys.from_records("ten_a", records))
    assert again.of("ten_a") == [rotated]
    assert again.check(secret, T0 + timedelta(minutes=1)) == rotated


def test_forgetting_a_tenant_forgets_its_secrets() -> None:
    keys = ApiKeys(Shard(0))
    _, secret = keys.create("ten_a", "ci", READ, None, T0)
    keys.forget("ten_a")
    assert keys.check(secret, T0) is None and keys.tenant_of(secret) is None
