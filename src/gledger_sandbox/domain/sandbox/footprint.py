"""A tenant's approximate memory footprint, from counters the tenant keeps anyway (O(1)).

The memory cap (``api/memory.py``) needs to know what each tenant holds without walking its
data, and without asking the process for its resident set, which does not shrink when a tenant
is dropped (CPython and glibc keep freed memory for reuse). So each tenant's footprint is a sum
of what it holds times what one of each costs in memory, every count one the tenant keeps up to
date on every write: ``len`` of its tables, the event log's length, the idempotency store's byte
counter, the snapshots' sizes (at most ten), the metadata bytes its requests carried (counted
whenever the server has a memory cap: ``TenantPolicy.count_metadata``).

The costs per item are measured with ``tracemalloc`` on CPython 3.11 (10,000 posted two-line
entries through the batch endpoint: 2,150 bytes each with their two events); the memory guard
scales the sum by a factor it calibrates against the measured resident set
(``tests/api/test_memory_cap.py`` holds it to its cap), so they need not be exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gledger_sandbox.domain.sandbox.tenant import Tenant

TENANT_BYTES = 64 * 1024
"""A tenant with nothing in it: its store, indexes, generators, clock and webhook set."""
ENTRY_BYTES = 800
"""An entry with its lines (two), its id, indexes and the idempotency-free write path."""
POSTED_LINE_BYTES = 48
"""A posted line in its account's statement columns (34 bytes, ``ledger.statements``) with
their growth slack."""
EVENT_BYTES = 350
"""An event held in the log, with its snapshot of the resource (its wire copy aside)."""
DELIVERY_BYTES = 700
"""A webhook delivery in the log, with its attempts."""
ACCOUNT_BYTES = 1_500
"""An account with its balances, indexes and day totals."""
KEY_BYTES = 300
"""An idempotency key's claim, besides the stored answer's body."""
METADATA_PER_JSON_BYTE = (3, 2)
"""Metadata as Python objects (a dict of strings) per byte of its JSON: 3/2 (measured with
40 values of 400 characters: 24 KB of objects for 16.5 KB of JSON)."""


def footprint(tenant: Tenant) -> int:
    """Approximate bytes of memory ``tenant`` holds (every term an O(1) counter)."""
    store = tenant.store
    return (
        TENANT_BYTES
        + ENTRY_BYTES * len(store.entries)
        + POSTED_LINE_BYTES * store.posted_lines
        + ACCOUNT_BYTES * len(store.accounts)
        + EVENT_BYTES * len(store.events)
        + DELIVERY_BYTES * len(tenant.webhooks.deliveries)
        + KEY_BYTES * len(tenant.idempotency)
        + tenant.idempotency.answer_bytes
        + store.metadata_bytes * METADATA_PER_JSON_BYTE[0] // METADATA_PER_JSON_BYTE[1]
        + tenant.snapshots.total_bytes
    )
