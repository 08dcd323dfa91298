"""What a ``serve --state-dir`` commit writes, seen in the statements it runs (the server's own
parts in process: the registry, the durable delivery worker's marks, a real SQLite file)."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from gledger_sandbox.api import journal_file
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
        assert deleted, statements  # its row and its snapshots
        statements.clear()
        # Attempts of its deliveries still under way mark it when they end (``DurableWorker``).
        for _ in range(3):
            durability.mark_journaled(tenant.id)
            await durability.commit()
        assert not [s for s in statements if s.startswith("DELETE")], statements

    asyncio.run(scenario())


def test_an_older_state_directorys_journal_table_is_read_then_emptied_at_start_up(
    tmp_path: Path,
) -> None:
    # Older directories kept the records in a ``journal`` table (older still numbered them in
    # one sequence, with an index), and their tenants' rows had no epoch.
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state, default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    tenant = registry.create("empty", seed=1)

    asyncio.run(_journaled_entries(durability, tenant, 3))
    balances = {a.id: a.posted for a in tenant.store.accounts.values()}
    frames = [f for path in journal_file.segments(state) for f in journal_file.frames(path)]
    assert [f.number for f in frames] == [1, 2, 3]
    db = durability._connection
    with db:  # as an older server wrote them
        for seq, found in enumerate(frames, start=2):
            record = json.dumps(found.record, separators=(",", ":")).encode()
            db.execute(
                "INSERT INTO journal (seq, tenant_id, record, crc32) VALUES (?, ?, ?, ?)",
                (seq, tenant.id, record, zlib.crc32(record)),
            )
        db.execute("CREATE INDEX journal_by_tenant ON journal (tenant_id)")
        db.execute("ALTER TABLE tenants DROP COLUMN epoch")
    journal_file.delete(journal_file.segments(state))
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
    with db:  # a record of a tenant whose row is gone, in an older directory's table
        db.execute(
            "INSERT INTO journal (seq, tenant_id, record, crc32) VALUES (1, 'ten_gone', x'7b7d', 0)"
        )
    (state / "journal-000007.log").write_bytes(journal_file.frame("ten_gone", 3, 1, b"{}"))
    again = build_services(Settings(state_dir=state, default_tenant=False))
    assert not again.registry.tenants
    assert again.durability is not None
    assert not again.durability._connection.execute("SELECT seq FROM journal").fetchall()
    assert not journal_file.segments(state)


def test_a_journaled_write_appends_to_the_journal_file_and_writes_no_sql(tmp_path: Path) -> None:
    # The database is written by full documents only, on the writer thread: a journaled
    # write's cost is one write(2), and the WAL file starts over at each checkpoint.
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state, default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    statements: list[str] = []
    tenant = registry.create("empty", seed=1)
    sizes: list[int] = []

    def after_commit() -> None:
        durability._connection.set_trace_callback(statements.append)
        sizes.append(journal_file.segments(state)[-1].stat().st_size)

    asyncio.run(_journaled_entries(durability, tenant, 5, after_commit))
    assert not statements, statements
    assert sizes == sorted(sizes) and len(set(sizes)) == 5, sizes  # one record per write


def test_full_segments_are_deleted_once_their_tenants_have_newer_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_file, "SEGMENT_BYTES", 6_000)
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state, default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    tenant, other = registry.create("empty", seed=1), registry.create("empty", seed=2)
    seen: list[list[str]] = []

    async def both() -> None:
        await _journaled_entries(durability, other, 2)  # its records stay live in segment 1
        await _journaled_entries(durability, tenant, 30, lambda: seen.append(segments()))

    def segments() -> list[str]:
        return [path.name for path in journal_file.segments(state)]

    asyncio.run(both())
    # At most the current segment and one retired, awaiting its tenants' documents.
    assert max(len(names) for names in seen) <= 2, seen
    assert "journal-000008.log" in {name for names in seen for name in names}, seen
    assert len(segments()) <= 1, seen
    balances = {t.id: {a.id: a.posted for a in t.store.accounts.values()} for t in (tenant, other)}
    again = build_services(Settings(state_dir=state, default_tenant=False))
    assert {
        t.id: {a.id: a.posted for a in t.store.accounts.values()}
        for t in (again.registry.tenants[tenant.id], again.registry.tenants[other.id])
    } == balances


def test_a_damaged_record_ends_its_own_tenants_replay_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    services = build_services(Settings(state_dir=state, default_tenant=False))
    durability, registry = services.durability, services.registry
    assert durability is not None
    tenant, other = registry.create("empty", seed=1), registry.create("empty", seed=2)

    async def interleaved() -> None:
        await _journaled_entries(durability, tenant, 3)
        await _journaled_entries(durability, other, 3)

    asyncio.run(interleaved())
    others = {a.id: a.posted for a in other.store.accounts.values()}
    frames = [f for path in journal_file.segments(state) for f in journal_file.frames(path)]
    second = [f for f in frames if f.tenant_id == tenant.id][1]
    with second.segment.open("r+b") as segment:  # one byte of its payload changed
        segment.seek(second.end - 2)
        byte = segment.read(1)
        segment.seek(second.end - 2)
        segment.write(bytes([byte[0] ^ 0x20]))
    again = build_services(Settings(state_dir=state, default_tenant=False))
    read = again.registry.tenants[tenant.id]
    assert len(read.store.entries) == 1  # its first record only
    assert {a.id: a.posted for a in again.registry.tenants[other.id].store.accounts.values()} == (
        others
    )
    assert f"tenant {tenant.id}: journal record 2 of 2 cannot be read" in caplog.text


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
