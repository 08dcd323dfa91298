"""The files of ``serve --state-dir``: one SQLite database in WAL mode, and the journal.

A row per tenant holds its registry record (credentials, expiry, live tokens), its last full
state document (``domain.tenant_state``, the same document a snapshot exports) and that
document's epoch; a row per snapshot holds its document. The records written since a tenant's
full document (``tenant_state.delta``: JSON with a CRC-32) are appended to the journal files
beside the database (``journal_file``), tagged with that epoch: a full document makes its
tenant's earlier records dead without deleting them. The ``journal`` table held them in older
state directories: still read, then emptied by the start-up write.

WAL with ``synchronous=NORMAL``: a committed transaction survives the process being killed
(it is in the log file before ``commit`` returns); only an operating system crash or a power
loss may lose the last ones. Every function here blocks: they run on the writer thread, or
before the server serves.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gledger_sandbox.api import journal_file
from gledger_sandbox.domain.sandbox import tenant_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL,
    record TEXT NOT NULL,
    state BLOB NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS snapshots (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    document BLOB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    record BLOB NOT NULL,
    crc32 INTEGER NOT NULL
);
DROP INDEX IF EXISTS journal_by_tenant;
"""
FILE_NAME = "sandbox.sqlite3"


@dataclass(slots=True)
class TenantRow:
    id: str
    ordinal: int
    epoch: int
    """This full document's: the journal records written after it carry it."""
    record: dict[str, Any]
    state: dict[str, Any]
    """A captured state (plain JSON values); turned into its document on the writer thread."""
    new_snapshots: list[tuple[str, dict[str, Any], bytes]] = field(default_factory=list)
    kept_snapshots: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """One transaction: tenants to write, tenants gone, the registry's id counter."""

    rows: list[TenantRow] = field(default_factory=list)
    deltas: list[tuple[str, int, int, dict[str, Any]]] = field(default_factory=list)
    """Journal records (tenant id, epoch, number, plain JSON values), in order: appended to the
    journal file (``durability``), not part of the transaction."""
    gone: list[str] = field(default_factory=list)
    """Tenants deleted."""
    ids_issued: int = 0
    epochs_issued: int = 0
    every_tenant: bool = False
    """Every tenant's full document is in the batch (start-up): an older directory's
    ``journal`` table is emptied (nothing writes to it since, so no other batch touches it)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A tenant as read back at start-up."""

    record: dict[str, Any]
    document: bytes
    epoch: int
    snapshots: list[tuple[dict[str, Any], bytes]]
    journal: list[dict[str, Any] | None] = field(default_factory=list)
    """Its journal records in order; None for one that cannot be read (CRC-32, JSON)."""


def connect(directory: Path) -> sqlite3.Connection:
    directory.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(directory / FILE_NAME, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    # No checkpoint inside a commit: commits of journal records run on the server's loop, and
    # a checkpoint copies the log into the database with an fsync (``checkpoint`` does it on
    # the writer thread instead).
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.executescript(SCHEMA)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(tenants)")}
    if "epoch" not in columns:  # an older directory's
        connection.execute("ALTER TABLE tenants ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")
    return connection


def checkpoint(directory: Path) -> None:
    """Copy the WAL file into the database (PASSIVE: writers go on meanwhile), on a connection
    of its own (on the writer thread)."""
    connection = sqlite3.connect(directory / FILE_NAME)
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


def write(connection: sqlite3.Connection, batch: Batch) -> None:
    """Write a batch in one transaction (on the writer thread)."""
    documents = [(row, tenant_state.to_bytes(row.state)) for row in batch.rows]
    with connection:
        if batch.every_tenant:
            connection.execute("DELETE FROM journal")
        for row, document in documents:
            connection.execute(
                "INSERT OR REPLACE INTO tenants (id, ordinal, record, state, epoch) "
                "VALUES (?, ?, ?, ?, ?)",
                (row.id, row.ordinal, json.dumps(row.record), document, row.epoch),
            )
            kept = row.kept_snapshots
            marks = ",".join("?" * len(kept))
            connection.execute(
                f"DELETE FROM snapshots WHERE tenant_id = ? AND id NOT IN ({marks})",
                (row.id, *kept),
            )
            connection.executemany(
                "INSERT OR REPLACE INTO snapshots (tenant_id, id, record, document) "
                "VALUES (?, ?, ?, ?)",
                [(row.id, sid, json.dumps(record), doc) for sid, record, doc in row.new_snapshots],
            )
        for tenant_id in batch.gone:
            connection.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
            connection.execute("DELETE FROM snapshots WHERE tenant_id = ?", (tenant_id,))
        if batch.rows or batch.gone:  # tenants made or gone: the id counter may have moved
            connection.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("ids_issued", str(batch.ids_issued)), ("epochs", str(batch.epochs_issued))],
            )


def read_all(connection: sqlite3.Connection, directory: Path) -> tuple[list[Stored], int]:
    """Every tenant stored, in the order they were first written, and the id counter."""
    kept: dict[str, list[tuple[dict[str, Any], bytes]]] = {}
    for tenant_id, record, document in connection.execute(
        "SELECT tenant_id, record, document FROM snapshots ORDER BY rowid"
    ):
        kept.setdefault(tenant_id, []).append((json.loads(record), bytes(document)))
    journals: dict[str, list[dict[str, Any] | None]] = {}
    for tenant_id, record, crc in connection.execute(
        "SELECT tenant_id, record, crc32 FROM journal ORDER BY seq"
    ):
        journals.setdefault(tenant_id, []).append(_read_record(bytes(record), crc))
    rows = connection.execute("SELECT id, record, state, epoch FROM tenants ORDER BY ordinal")
    tenants = [
        Stored(json.loads(record), bytes(state), epoch, kept.get(tenant_id, []))
        for tenant_id, record, state, epoch in rows
    ]
    appended = journal_file.read(directory, {t.record["id"]: t.epoch for t in tenants if t.epoch})
    for tenant in tenants:
        # An older directory's table, then the files: a tenant has records in one of the two.
        tenant.journal.extend(journals.get(tenant.record["id"], []))
        tenant.journal.extend(appended.get(tenant.record["id"], []))
    return tenants, meta(connection, "ids_issued")


def meta(connection: sqlite3.Connection, key: str) -> int:
    """A counter kept in the database (``ids_issued``, ``epochs``)."""
    found = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(found[0]) if found else 0


def record_bytes(delta: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(delta)  # about 10 times json's speed: records are written on the loop
    except TypeError:  # an integer past 64 bits (none the API accepts; kept exact all the same)
        return json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode()


def _read_record(record: bytes, crc: int) -> dict[str, Any] | None:
    return journal_file.parse_record(record) if zlib.crc32(record) == crc else None
