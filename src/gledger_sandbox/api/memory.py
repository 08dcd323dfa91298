"""The server's memory cap: its resident set stays under ``--max-rss`` with many tenants.

The sandbox holds every tenant in memory, so a public backend bounds the process, not only
each tenant. The measure is the process's resident set size as the kernel counts it
(``/proc/self/statm``, resident pages x page size): what the operating system and a container
limit see, allocator slack included.

Above the *high-water mark* (90% of the cap) the idlest tenants are evicted first (deleted, as
if expired: the ones whose last request is oldest; the default tenant never), a few at a time
with a fresh measure after each, and tenant creation answers 429 ``tenant_limit_reached``
until the server is back under it. The 10% between the mark and the cap is the headroom for
one more tenant and the requests under way; each tenant's own growth is bounded by its quotas.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from gledger_sandbox.domain.errors import AccessError
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

logger = logging.getLogger("gledger_sandbox.memory")

STATM = Path("/proc/self/statm")
HIGH_WATER = 0.9
"""Of the cap: above it, tenants are evicted and creations refused."""
CHECK_SECONDS = 1.0
EVICT_BATCH = 8
"""Tenants evicted between two measures (freeing takes effect at once: reference counting)."""


def rss_bytes() -> int:
    """The process's resident set size now, in bytes (Linux ``/proc``).

    Reading procfs asks the kernel for a counter; it never waits on a disk, so it is called on
    the event loop.
    """
    resident_pages = int(STATM.read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def measurable() -> bool:
    """Whether this platform lets the server measure its resident set (``/proc``)."""
    try:
        rss_bytes()
    except (OSError, ValueError, IndexError):
        return False
    return True


class MemoryGuard:
    """Keeps the resident set under ``cap`` bytes by evicting the idlest tenants."""

    def __init__(
        self, registry: TenantRegistry, cap: int, measure: Callable[[], int] = rss_bytes
    ) -> None:
        self.registry = registry
        self.cap = cap
        self.high_water = int(cap * HIGH_WATER)
        self._measure = measure
        self.evicted = 0
        """Tenants evicted since start (for the logs and the tests)."""

    def relieve(self) -> int:
        """Evict the idlest tenants while over the high-water mark; the resident set after."""
        rss = self._measure()
        while rss > self.high_water:
            idlest = sorted(
                (t for t in self.registry.tenants.values() if t.expires_at is not None),
                key=lambda t: t.expires_at or t.created_at,  # every TTL is the same
            )[:EVICT_BATCH]
            if not idlest:
                break
            for tenant in idlest:
                self.registry.delete(tenant)
            self.evicted += len(idlest)
            # No gc.collect(): a tenant holds no reference cycles, so reference counting frees
            # it at once, and a full collection would stall the loop on a big heap.
            rss = self._measure()
            logger.warning(
                "memory: evicted %d idle tenants (%d since start), resident set now %d MiB "
                "of a cap of %d MiB",
                len(idlest),
                self.evicted,
                rss >> 20,
                self.cap >> 20,
            )
        return rss

    def admit(self) -> None:
        """Refuse a new tenant (429 ``tenant_limit_reached``) while the server is over the mark."""
        rss = self.relieve()
        if rss > self.high_water:
            raise AccessError(
                "tenant_limit_reached",
                f"This sandbox server is at its memory cap ({self.cap >> 20} MiB) and has no "
                "idle tenant left to evict; retry later.",
            )

    async def watch(self) -> None:
        """Relieve once a second, for as long as the server runs."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                self.relieve()
            except Exception:  # a failed measure must not stop the server
                logger.exception("memory: could not measure or relieve")
