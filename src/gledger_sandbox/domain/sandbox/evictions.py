"""Tombstones of evicted tenants: a credential of one answers "evicted", not "unknown".

A server at its memory cap evicts its idlest tenants (``api/memory.py``). A partner whose
sandbox went that way should learn so (401 ``tenant.evicted``: create a new tenant), instead of
a bare 401 that reads like a typo in the key. The tombstones are bounded: the newest
``MAX_TOMBSTONES`` credentials are remembered (API keys, OAuth2 client ids, live access tokens
and tenant ids), the oldest forgotten first, so the memory they hold is capped too (about 150
bytes each). A forgotten one answers the plain 401 ``unauthorized`` again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime

MAX_TOMBSTONES = 50_000


class Evictions:
    """Credentials of evicted tenants, each with when it was evicted; oldest forgotten first."""

    __slots__ = ("_at", "count", "limit")

    def __init__(self, limit: int = MAX_TOMBSTONES) -> None:
        self._at: OrderedDict[str, datetime] = OrderedDict()
        self.limit = limit
        self.count = 0
        """Tenants evicted since the server started."""

    def record(self, credentials: Iterable[str], at: datetime) -> None:
        self.count += 1
        for credential in credentials:
            self._at[credential] = at
            self._at.move_to_end(credential)
        while len(self._at) > self.limit:
            self._at.popitem(last=False)

    def evicted_at(self, credential: str) -> datetime | None:
        """When the tenant this credential (or tenant id) belonged to was evicted, if it was."""
        return self._at.get(credential)

    def __len__(self) -> int:
        return len(self._at)
