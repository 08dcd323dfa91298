"""The snapshots a tenant keeps: named copies of its whole state, bounded in number and bytes.

A snapshot is the tenant's state document (``tenant_state``) as canonical JSON bytes, taken at
one moment; restoring it, or exporting it, reads those bytes. Snapshots belong to the tenant,
not to its state: a restore or a reset keeps them all, and they are never exported.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from gledger_sandbox.domain.errors import Conflict, NotFound
from gledger_sandbox.domain.ids import IdGenerator

MAX_SNAPSHOTS = 10
"""Snapshots a tenant keeps at once; taking one more is 409 ``snapshot.limit_reached``."""
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
"""Bytes of snapshot documents a tenant keeps at once (the same refusal past it)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    name: str
    created_at: datetime
    """On the tenant's clock, when it was taken."""
    event_sequence: int
    """The event log's last sequence then: a cursor past it answers 410 after a restore."""
    counts: dict[str, int]
    document: bytes

    @property
    def size_bytes(self) -> int:
        return len(self.document)


class SnapshotShelf:
    """A tenant's snapshots, oldest first."""

    __slots__ = ("_by_id", "_ids")

    def __init__(self, ids: IdGenerator) -> None:
        self._ids = ids
        self._by_id: OrderedDict[str, Snapshot] = OrderedDict()

    @property
    def count(self) -> int:
        return len(self._by_id)

    @property
    def total_bytes(self) -> int:
        """What the tenant's snapshots hold (for memory limits and quotas)."""
        return sum(s.size_bytes for s in self._by_id.values())

    def room_for(self, size: int) -> None:
        """Refuse a snapshot of ``size`` bytes that would pass either bound."""
        if self.count >= MAX_SNAPSHOTS or self.total_bytes + size > MAX_SNAPSHOT_BYTES:
            raise Conflict(
                "snapshot.limit_reached",
                f"A tenant keeps at most {MAX_SNAPSHOTS} snapshots of "
                f"{MAX_SNAPSHOT_BYTES // (1024 * 1024)} MiB together "
                f"(it holds {self.count}, {self.total_bytes} bytes): delete one first.",
            )

    def keep(
        self,
        name: str,
        created_at: datetime,
        event_sequence: int,
        counts: dict[str, int],
        document: bytes,
    ) -> Snapshot:
        self.room_for(len(document))
        snapshot = Snapshot(
            self._ids.new("snap"), name, created_at, event_sequence, counts, document
        )
        self._by_id[snapshot.id] = snapshot
        return snapshot

    def ids_issued(self) -> int:
        return self._ids.state()

    def readmit(self, kept: list[Snapshot], ids_issued: int) -> None:
        """Take back the snapshots a previous run of the server kept (``serve --state-dir``)."""
        self._ids.restore(ids_issued)
        for snapshot in kept:
            self._by_id[snapshot.id] = snapshot

    def get(self, snapshot_id: str) -> Snapshot:
        found = self._by_id.get(snapshot_id)
        if found is None:
            raise NotFound("snapshot", snapshot_id)
        return found

    def all(self) -> list[Snapshot]:
        return list(self._by_id.values())

    def delete(self, snapshot_id: str) -> None:
        self.get(snapshot_id)
        del self._by_id[snapshot_id]
