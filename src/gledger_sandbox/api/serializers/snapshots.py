"""The JSON shape of snapshots."""

from __future__ import annotations

from typing import Any

from gledger_sandbox.api.serializers import timestamp
from gledger_sandbox.domain.sandbox.snapshot_shelf import Snapshot


def snapshot(found: Snapshot) -> dict[str, Any]:
    return {
        "id": found.id,
        "object": "snapshot",
        "name": found.name,
        "created_at": timestamp(found.created_at),
        "event_sequence": found.event_sequence,
        "size_bytes": found.size_bytes,
        "counts": found.counts,
    }
