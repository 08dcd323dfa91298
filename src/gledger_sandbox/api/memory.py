"""The server's memory cap: its resident set stays under ``--max-rss`` with many tenants.

The sandbox holds every tenant in memory, so a public backend bounds the process, not only each
tenant. What the cap holds is the process's resident set size as the kernel counts it
(``/proc/self/statm``): what the operating system and a container limit see.

The resident set alone cannot drive evictions: CPython and glibc keep the memory a dropped
tenant used for the next allocations instead of giving it back, so after an eviction the
resident set hardly moves, and a guard watching it would evict every tenant, one after another,
for nothing. So the guard watches an **estimate** instead::

    estimate = base + factor x (sum of the tenants' footprints)

- each tenant's footprint is counted from counters it keeps on every write (entries, posted
  lines, accounts, events held, deliveries, idempotency answers, snapshots, metadata bytes:
  ``domain/sandbox/footprint.py``), O(1) per tenant, never a walk over its data;
- ``base`` is the resident set the tenants do not explain (code, the spec, caches), taken at the
  first measure;
- ``factor`` is calibrated against the measured resident set each time it reaches a new peak
  (``(rss - base) / footprints``): only then does the resident set say how much memory the live
  tenants take, allocator slack included. Below its peak the freed memory is being reused, so
  the estimate goes down with every eviction while the resident set stays flat, and neither
  grows again until the live tenants need more than before.

Every second, and before each tenant creation, when the estimate passes the *high-water mark*
(85% of the cap) the least recently used tenants (the oldest last request first) are evicted
until it is back under the *low-water mark* (75%). Then the freed memory is offered back to the
operating system (``malloc_trim(0)`` on glibc, which returns the free pages inside the heap).
The default tenant (``--api-key``) is never evicted. Open event streams do not keep a tenant:
its feeds end as for a deleted tenant (a cap that a visitor could pin with one open stream
would not hold). An evicted tenant's credentials answer 401 ``tenant.evicted`` (``domain/
sandbox/evictions.py``). With no tenant left to evict, tenant creation answers 429
``tenant_limit_reached``.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gledger_sandbox.domain.errors import AccessError
from gledger_sandbox.domain.sandbox.footprint import TENANT_BYTES, footprint
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

logger = logging.getLogger("gledger_sandbox.memory")

STATM = Path("/proc/self/statm")
HIGH_WATER = 0.85
"""Of the cap: above it, the least recently used tenants are evicted."""
LOW_WATER = 0.75
"""Of the cap: evictions go on until the estimate is under it."""
CHECK_SECONDS = 1.0
CALIBRATE_ABOVE = 8 * 1024 * 1024
"""Footprints smaller than this say too little about the resident set to calibrate on."""
FACTOR_RANGE = (0.5, 8.0)


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


def _malloc_trim() -> Callable[[], object] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def give_back() -> None:
    """Return the heap's free pages to the operating system (glibc ``malloc_trim(0)``).

    No ``gc.collect()``: a tenant holds no reference cycles, so reference counting frees it as it
    is dropped, and a full collection would stall the loop on a big heap.
    """
    if _TRIM is not None:
        _TRIM()


@dataclass(frozen=True, slots=True)
class Reading:
    """One look at the memory: measured, estimated, and what the tenants are counted at."""

    rss: int
    estimate: int
    footprints: int


class MemoryGuard:
    """Keeps the resident set under ``cap`` bytes by evicting the least recently used tenants."""

    def __init__(
        self,
        registry: TenantRegistry,
        cap: int,
        measure: Callable[[], int] = rss_bytes,
        release: Callable[[], None] = give_back,
    ) -> None:
        self.registry = registry
        self.cap = cap
        self.high_water = int(cap * HIGH_WATER)
        self.low_water = int(cap * LOW_WATER)
        self._measure = measure
        self._release = release
        self.base: int | None = None
        """The resident set no tenant explains (taken at the first measure)."""
        self.factor = 1.0
        """Resident bytes per footprint byte, as of the resident set's last peak."""
        self.peak = 0

    @property
    def evicted(self) -> int:
        """Tenants evicted since start (for the logs and the tests)."""
        return self.registry.evictions.count

    def read(self) -> Reading:
        """Measure, calibrate at a new peak, and estimate."""
        rss = self._measure()
        footprints = sum(footprint(t) for t in self.registry.tenants.values())
        if self.base is None:
            self.base = max(0, rss - footprints)
        estimate = self._estimate(footprints)
        if rss > self.peak:
            self.peak = rss
            if footprints >= CALIBRATE_ABOVE:
                low, high = FACTOR_RANGE
                self.factor = min(high, max(low, (rss - self.base) / footprints))
            # At a new peak the resident set is what the live data takes: never estimate
            # less (whatever the footprints miss). Below the peak freed memory is reused.
            estimate = max(self._estimate(footprints), rss)
        return Reading(rss, estimate, footprints)

    def _estimate(self, footprints: int) -> int:
        return (self.base or 0) + int(self.factor * footprints)

    def relieve(self, room: int = 0) -> Reading:
        """Evict the least recently used tenants while the estimate (plus ``room``) is over the
        high-water mark, down to the low-water mark; the reading after."""
        reading = self.read()
        if reading.estimate + room <= self.high_water:
            return reading
        estimate, footprints, count = reading.estimate, reading.footprints, 0
        for tenant in self._least_recently_used():
            if estimate + room <= self.low_water:
                break
            size = footprint(tenant)
            estimate, footprints = estimate - int(self.factor * size), footprints - size
            self.registry.evict(tenant)
            count += 1
        if not count:
            return reading
        self._release()
        after = Reading(self._measure(), estimate, footprints)
        logger.warning(
            "memory: evicted %d least recently used tenants (%d since start); estimate "
            "%d MiB (%.2f x footprints + %d MiB), resident set %d -> %d MiB, cap %d MiB",
            count,
            self.evicted,
            after.estimate >> 20,
            self.factor,
            (self.base or 0) >> 20,
            reading.rss >> 20,
            after.rss >> 20,
            self.cap >> 20,
        )
        return after

    def _least_recently_used(self) -> list[Tenant]:
        """Tenants that may be evicted (not the default one), the longest unused first."""
        return sorted(
            (t for t in self.registry.tenants.values() if t.expires_at and t.ttl),
            key=lambda t: t.expires_at - t.ttl if t.expires_at and t.ttl else t.created_at,
        )

    def admit(self) -> None:
        """Make room for a new tenant, or refuse it (429 ``tenant_limit_reached``)."""
        room = int(self.factor * TENANT_BYTES)
        reading = self.relieve(room)
        if reading.estimate + room > self.high_water:
            raise AccessError(
                "tenant_limit_reached",
                f"This sandbox server is at its memory cap ({self.cap >> 20} MiB) and has no "
                "tenant left to evict; retry later.",
            )

    async def watch(self) -> None:
        """Relieve once a second, for as long as the server runs."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                self.relieve()
            except Exception:  # a failed measure must not stop the server
                logger.exception("memory: could not measure or relieve")
