"""``serve --workers 2 --state-dir DIR`` behind the real HAProxy: each shard keeps its own
tenants in a directory of its own, and after a restart the banner's key is the default
tenant's own (rotated) key, not a new one."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from gledger_sandbox.api.settings import Settings
from gledger_sandbox.scaleout.workers import ShardedSandbox
from tests.scaleout.test_sharded import _bearer, _tenants_on_both_shards

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy on PATH")

LINES = [
    {"account_code": "cash", "direction": "debit", "amount": 4242},
    {"account_code": "revenue", "direction": "credit", "amount": 4242},
]


def test_each_shard_brings_back_its_own_tenants_and_the_banner_shows_the_working_key(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=tmp_path)
    with ShardedSandbox(settings, 2, "127.0.0.1", 0, "warning") as sandbox:
        first = sandbox.start()
        assert first.api_key is not None
        tenants = _tenants_on_both_shards(first.url)
        rotated = httpx.post(
            f"{first.url}/v1/sandbox/tenant/rotate-credentials",
            json={"credentials": ["api_key"]},
            headers=_bearer(first.api_key),
        )
        assert rotated.status_code == 200, rotated.text
        new_key = rotated.json()["api_key"]
        ledger = httpx.get(f"{first.url}/v1/ledgers", headers=_bearer(tenants[1]["api_key"]))
        entry = {"ledger_id": ledger.json()["data"][0]["id"], "lines": LINES}
        posted = httpx.post(
            f"{first.url}/v1/entries", json=entry, headers=_bearer(tenants[1]["api_key"])
        )
        assert posted.status_code == 201, posted.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-0", "shard-1"]

    with ShardedSandbox(settings, 2, "127.0.0.1", 0, "warning") as sandbox:
        again = sandbox.start()
        assert again.api_key == new_key  # the default tenant's own key, as rotated
        assert httpx.get(f"{again.url}/v1/ledgers", headers=_bearer(new_key)).status_code == 200
        old = httpx.get(f"{again.url}/v1/ledgers", headers=_bearer(first.api_key))
        assert (old.status_code, old.json()["code"]) == (401, "api_key_rotated")
        for shard, tenant in tenants.items():
            for other, shard_url in enumerate(again.shards):
                answer = httpx.get(
                    f"{shard_url}/v1/sandbox/tenant", headers=_bearer(tenant["api_key"])
                )
                assert answer.status_code == (200 if other == shard else 401), (shard, other)
        kept = httpx.get(
            f"{again.url}/v1/entries/{posted.json()['id']}",
            headers=_bearer(tenants[1]["api_key"]),
        )
        assert kept.status_code == 200 and kept.json()["lines"][0]["amount"] == 4242
