"""A tenant's approximate memory footprint, from counters the tenant keeps anyway (O(1)).

The memory cap (``api/memory.py``) needs to know what each tenant holds without walking its
data, and without asking the process for its resident set, which does not shrink when a tenant
is dropped (CPython and glibc keep freed memory for reuse). So each tenant's footprint is a sum
of what it holds times what one of each costs in memory, every count one the tenant keeps up to
date on every write: ``len`` of its tables, the event log's length, the idempotency store's byte
counter, the snapshots' sizes (at most ten), the metadata bytes its requests carried.

The costs per item are measured with ``tracemalloc`` on CPython 3.11 (``bench/million.py`` and
``tests/api/test_memory_cap.py`` check them against the resident set); the memory guard scales
the sum by a factor it calibrates against the measured resident set, so they need not be exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gledger_sandbox.domain.sandbox.tenants import Tenant

TENANT_BYTES = 64 * 1024
"""A tenant with nothing in it: its store, indexes, generators, clock and webhook set."""
ENTRY_BYTES = 1_000
"""An entry with its lines (two), its id, indexes and the idempotency-free write path."""
POSTED_LINE_BYTES = 420
"""A posted line's statement row: the row, its sequence, effective-time and day indexes."""
EVENT_BYTES = 450
"""An event held in the log, with its snapshot of the resource (its wire copy aside)."""
DELIVERY_BYTES = 700
"""A webhook delivery in the log, with its attempts."""
ACCOUNT_BYTES = 1_500
"""An account with its balances, indexes and day totals."""
KEY_BYTES = 300
"""An idempotency key's claim, besides the stored answer's body."""
METADATA_FACTOR = 3
"""Metadata as Python objects (a dict of strings) per byte of its JSON."""


def footprint(tenant: Tenant) -> int:
    """Approximate bytes of memory ``tenant`` holds (every term an O(1) counter)."""
    store = tenant.store
    return (
        TENANT_BYTES
        + ENTRY_BYTES * len(store.entries)
        + POSTED_LINE_BYTES * len(store.statement)
        + ACCOUNT_BYTES * len(store.accounts)
        + EVENT_BYTES * len(store.events)
        + DELIVERY_BYTES * len(tenant.webhooks.deliveries)
        + KEY_BYTES * len(tenant.idempotency)
        + tenant.idempotency.answer_bytes
        + METADATA_FACTOR * store.metadata_bytes
        + tenant.snapshots.total_bytes
    )
