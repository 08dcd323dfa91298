"""The files of ``serve --state-dir``: one SQLite database in WAL mode.

A row per tenant holds its registry record (credentials, expiry, live tokens) and its last
full state document (``domain.tenant_state``, the same document a snapshot exports); a row
per snapshot holds its document; the ``journal`` table holds, in order, the records written
since each tenant's full document (``tenant_state.delta``, JSON with a CRC-32), each tenant's
in a range of keys of its own (``journal_key``): no index to write with every record (a page
more per commit), yet a tenant's records are found without a scan. A commit is one
transaction: a full document replaces its tenant's row and deletes its journal records.
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

from gledger_sandbox.domain.sandbox import tenant_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL,
    record TEXT NOT NULL,
    state BLOB NOT NULL
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
_SPAN = 1 << 32
"""Keys of a tenant's journal range: past ``durability.MAX_RECORDS`` by far."""


def journal_key(ordinal: int, record: int) -> int:
    """The key of a tenant's ``record``-th journal record since its full document.

    Keys below ``_SPAN`` are older state directories' (numbered in one sequence, with an index
    by tenant, ``journal_by_tenant``, dropped since): the start-up write, every tenant's full
    document, deletes them (``Batch.every_tenant``).
    """
    return (ordinal + 1) * _SPAN + record


@dataclass(slots=True)
class TenantRow:
    id: str
    ordinal: int
    record: dict[str, Any]
    state: dict[str, Any]
    """A captured state (plain JSON values); turned into its document on the writer thread."""
    new_snapshots: list[tuple[str, dict[str, Any], bytes]] = field(default_factory=list)
    kept_snapshots: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """One transaction: tenants to write, tenants gone, the registry's id counter."""

    rows: list[TenantRow] = field(default_factory=list)
    deltas: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    """Journal records (tenant id, ``journal_key``, plain JSON values), in order."""
    gone: list[tuple[str, int]] = field(default_factory=list)
    """Tenants deleted (id, ordinal)."""
    ids_issued: int = 0
    every_tenant: bool = False
    """Every tenant's full document is in the batch (start-up): no journal record is kept."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A tenant as read back at start-up."""

    record: dict[str, Any]
    document: bytes
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
    records = [(tenant_id, key, _record_bytes(delta)) for tenant_id, key, delta in batch.deltas]
    with connection:
        if batch.every_tenant:
            connection.execute("DELETE FROM journal")
        connection.executemany(
            "INSERT INTO journal (seq, tenant_id, record, crc32) VALUES (?, ?, ?, ?)",
            [(key, tenant_id, record, zlib.crc32(record)) for tenant_id, key, record in records],
        )
        for row, document in documents:
            connection.execute(
                "INSERT OR REPLACE INTO tenants (id, ordinal, record, state) VALUES (?, ?, ?, ?)",
                (row.id, row.ordinal, json.dumps(row.record), document),
            )
            _delete_journal(connection, row.ordinal)
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
        for tenant_id, ordinal in batch.gone:
            connection.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
            connection.execute("DELETE FROM snapshots WHERE tenant_id = ?", (tenant_id,))
            _delete_journal(connection, ordinal)
        if batch.rows or batch.gone:  # tenants made or gone: the id counter may have moved
            connection.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('ids_issued', ?)",
                (str(batch.ids_issued),),
            )


def _delete_journal(connection: sqlite3.Connection, ordinal: int) -> None:
    first = journal_key(ordinal, 0)
    connection.execute("DELETE FROM journal WHERE seq >= ? AND seq < ?", (first, first + _SPAN))


def read_all(connection: sqlite3.Connection) -> tuple[list[Stored], int]:
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
    tenants = [
        Stored(
            json.loads(record),
            bytes(state),
            kept.get(tenant_id, []),
            journals.get(tenant_id, []),
        )
        for tenant_id, record, state in connection.execute(
            "SELECT id, record, state FROM tenants ORDER BY ordinal"
        )
    ]
    found = connection.execute("SELECT value FROM meta WHERE key = 'ids_issued'").fetchone()
    return tenants, int(found[0]) if found else 0


def _record_bytes(delta: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(delta)  # about 10 times json's speed: records are written on the loop
    except TypeError:  # an integer past 64 bits (none the API accepts; kept exact all the same)
        return json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode()


def _read_record(record: bytes, crc: int) -> dict[str, Any] | None:
    if zlib.crc32(record) != crc:
        return None
    try:
        found = json.loads(record)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
