"""What a ``serve --state-dir`` commit writes, seen in the statements it runs (the server's own
parts in process: the registry, the durable delivery worker's marks, a real SQLite file)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from gledger_sandbox.api import durability as durability_module
from gledger_sandbox.api import state_dir
from gledger_sandbox.api.durability import Durability
from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import build_services
from gledger_sandbox.domain.journal import TRUSTED
from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.sandbox.tenant import Tenant
from tests.domain.helpers import C, D, chart, spec


def test_a_deleted_tenant_is_deleted_once_though_its_attempts_end_later(tmp_path: Path) -> None:
    services = build_services(Settings(state_dir=tmp_path / "state", default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    statements: list[str] = []

    async def scenario() -> None:
        tenant = registry.create("empty", seed=1)
        await durability.commit()
        durability._connection.set_trace_callback(statements.append)
        registry.delete(tenant)
        await durability.commit()
        deleted = [s for s in statements if s.startswith("DELETE")]
        assert deleted, statements  # its row, snapshots and journal records
        statements.clear()
        # Attempts of its deliveries still under way mark it when they end (``DurableWorker``).
        for _ in range(3):
            durability.mark_journaled(tenant.id)
            await durability.commit()
        assert not [s for s in statements if s.startswith("DELETE")], statements

    asyncio.run(scenario())


def test_a_tenants_journal_records_are_found_by_their_key_range_not_by_scanning(
    tmp_path: Path,
) -> None:
    # A full document (and a deletion) deletes its tenant's records: with every tenant's
    # records in one table, a scan per commit would grow with the others' journals. Their keys
    # are the tenant's own range (``journal_key``): no index to write with each record.
    connection = state_dir.connect(tmp_path / "state")
    plan = connection.execute(
        "EXPLAIN QUERY PLAN DELETE FROM journal WHERE seq >= ? AND seq < ?", (1, 2)
    ).fetchall()
    assert "USING INTEGER PRIMARY KEY" in " ".join(row[-1] for row in plan), plan
    assert not connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'journal'"
    ).fetchall()
    connection.close()


def test_an_older_state_directorys_journal_is_read_then_deleted_at_start_up(
    tmp_path: Path,
) -> None:
    # Older directories numbered every tenant's records in one sequence, with an index.
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state, default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    tenant = registry.create("empty", seed=1)

    asyncio.run(_journaled_entries(durability, tenant, 3))
    balances = {a.id: a.posted for a in tenant.store.accounts.values()}
    db = durability._connection
    with db:  # as an older server wrote them
        db.execute("UPDATE journal SET seq = seq - ? + 1", (state_dir.journal_key(0, 0),))
        db.execute("CREATE INDEX journal_by_tenant ON journal (tenant_id)")
    assert [n for (n,) in db.execute("SELECT seq FROM journal ORDER BY seq")] == [2, 3, 4]
    again = build_services(Settings(state_dir=state, default_tenant=False))
    read = again.registry.tenants[tenant.id]
    assert {a.id: a.posted for a in read.store.accounts.values()} == balances
    assert again.durability is not None
    assert not again.durability._connection.execute("SELECT seq FROM journal").fetchall()


def test_start_up_deletes_journal_records_left_though_no_tenant_is_read_back(
    tmp_path: Path,
) -> None:
    # A shard other than 0 has no default tenant: its start-up write may hold no tenant at all,
    # and it still deletes what the journal holds of tenants not read back.
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state, default_tenant=False))
    assert services.durability is not None
    db = services.durability._connection
    with db:  # a record of a tenant whose row is gone
        db.execute(
            "INSERT INTO journal (seq, tenant_id, record, crc32) VALUES (?, 'ten_gone', x'7b7d', 0)",
            (state_dir.journal_key(0, 0),),
        )
    again = build_services(Settings(state_dir=state, default_tenant=False))
    assert not again.registry.tenants
    assert again.durability is not None
    assert not again.durability._connection.execute("SELECT seq FROM journal").fetchall()


def test_the_wal_file_starts_over_after_each_checkpoint_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkpoint beside the loop's commits never copied their last frames: the WAL file
    # never started over and grew with every record (178 MB in 20 s of the mixed workload).
    # Now the frames added meanwhile are copied with the next writes held back.
    monkeypatch.setattr(durability_module, "WAL_CHECKPOINT_RECORDS", 4)
    monkeypatch.setattr(durability_module, "WAL_RESTART_BYTES", 100_000)
    services = build_services(Settings(state_dir=tmp_path / "state", default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    wal = tmp_path / "state" / f"{state_dir.FILE_NAME}-wal"
    sizes: list[int] = []

    def after_commit() -> None:
        sizes.append(wal.stat().st_size)
        if durability._passive is not None:  # its first step, on the writer thread, done
            durability._passive.result()

    tenant = registry.create("empty", seed=1)
    asyncio.run(_journaled_entries(durability, tenant, 40, after_commit))
    assert durability._cursors and max(sizes) == max(sizes[:10]), sizes  # none larger later


async def _journaled_entries(
    durability: Durability, tenant: Tenant, count: int, then: Callable[[], object] = lambda: None
) -> None:
    """A tenant's full document with a chart, then ``count`` entries, a journal record each
    (``then`` after each commit)."""
    await durability.commit()
    ledger_id, accounts = chart(tenant.store)
    await durability.commit()  # a full document: the chart is no journaled request's
    trusted = TRUSTED.set(True)
    try:
        for n in range(count):
            lines = (("cash", D, n + 1), ("revenue", C, n + 1))
            postings.create_entry(tenant.store, spec(ledger_id, accounts, *lines))
            durability.mark_journaled(tenant.id)
            await durability.commit()
            then()
    finally:
        TRUSTED.reset(trusted)
    await durability.commit()  # a checkpoint it started, done


def test_a_wal_file_once_large_does_not_hold_every_later_checkpoints_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite keeps a WAL file at its largest when it starts over: measured by its size, a file
    # once past WAL_RESTART_BYTES (a big tenant's document at start-up, a burst of load) made
    # every checkpoint after it take the held second step (the 127 ms p99 of 3e72138).
    monkeypatch.setattr(durability_module, "WAL_CHECKPOINT_RECORDS", 4)
    monkeypatch.setattr(durability_module, "WAL_RESTART_BYTES", 100_000)
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state))  # the default tenant's fixture
    durability, registry = services.durability, services.registry
    assert durability is not None
    assert (state / f"{state_dir.FILE_NAME}-wal").stat().st_size > 100_000
    held: list[int] = []

    def after_commit() -> None:
        if durability._running is not None:  # a second step, started by the commit
            held.append(durability._started)
        if durability._passive is not None:
            durability._passive.result()

    tenant = registry.create("empty", seed=1)
    asyncio.run(_journaled_entries(durability, tenant, 40, after_commit))
    assert len(held) <= 1, held
