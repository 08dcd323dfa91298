"""Fair shares of the attempts in flight: per endpoint, per tenant and for the whole server.

One tenant's receivers that never answer must not delay another tenant's deliveries. So an
attempt runs only while its endpoint holds fewer than ``per_endpoint`` attempts, its tenant
fewer than ``per_tenant``, and the server fewer than ``total`` (``per_tenant`` is below
``total``, so no single tenant fills the server). Attempts that must wait are served
round-robin: across tenants first, then across a tenant's endpoints, then oldest first.
A slow receiver costs its own endpoint's share, then its tenant's, never the others'.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator


class FairShare:
    """Slots for attempts in flight, handed out fairly across tenants and endpoints."""

    def __init__(self, total: int = 64, per_tenant: int = 16, per_endpoint: int = 4) -> None:
        if not 0 < per_endpoint <= per_tenant < total:
            raise ValueError("a fair share needs 0 < per_endpoint <= per_tenant < total")
        self.total = total
        self.per_tenant = per_tenant
        self.per_endpoint = per_endpoint
        self.held = 0
        self._held_by_tenant: Counter[str] = Counter()
        self._held_by_endpoint: Counter[tuple[str, str]] = Counter()
        self._waiting: OrderedDict[str, OrderedDict[str, deque[asyncio.Future[None]]]] = (
            OrderedDict()
        )
        """Waiting attempts per tenant, then per endpoint; both in round-robin order."""

    def held_by(self, tenant: str) -> int:
        return self._held_by_tenant[tenant]

    def waiting(self) -> int:
        return sum(len(q) for queues in self._waiting.values() for q in queues.values())

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str, endpoint: str) -> AsyncIterator[None]:
        """Hold one slot for an attempt of ``endpoint`` (of ``tenant``) while inside."""
        granted = asyncio.get_running_loop().create_future()
        queues = self._waiting.setdefault(tenant, OrderedDict())
        queues.setdefault(endpoint, deque()).append(granted)
        self._grant()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(tenant, endpoint)  # granted, then cancelled before it ran
            else:
                self._withdraw(tenant, endpoint, granted)
            raise
        try:
            yield
        finally:
            self._release(tenant, endpoint)

    def _release(self, tenant: str, endpoint: str) -> None:
        self.held -= 1
        self._held_by_tenant[tenant] -= 1
        self._held_by_endpoint[tenant, endpoint] -= 1
        if not self._held_by_tenant[tenant]:
            del self._held_by_tenant[tenant]
        if not self._held_by_endpoint[tenant, endpoint]:
            del self._held_by_endpoint[tenant, endpoint]
        self._grant()

    def _withdraw(self, tenant: str, endpoint: str, granted: asyncio.Future[None]) -> None:
        queues = self._waiting.get(tenant)
        queue = None if queues is None else queues.get(endpoint)
        if queue is None:
            return
        if granted in queue:
            queue.remove(granted)
        self._tidy(tenant, endpoint)

    def _tidy(self, tenant: str, endpoint: str) -> None:
        queues = self._waiting[tenant]
        if not queues[endpoint]:
            del queues[endpoint]
        if not queues:
            del self._waiting[tenant]

    def _grant(self) -> None:
        """Hand free slots to waiting attempts, one per tenant per round, while any fits."""
        while self.held < self.total:
            if not self._grant_one():
                return

    def _grant_one(self) -> bool:
        for tenant, queues in self._waiting.items():
            if self._held_by_tenant[tenant] >= self.per_tenant:
                continue
            for endpoint, queue in queues.items():
                while queue and queue[0].done():
                    queue.popleft()  # its attempt was cancelled while it waited
                if not queue or self._held_by_endpoint[tenant, endpoint] >= self.per_endpoint:
                    continue
                granted = queue.popleft()
                queues.move_to_end(endpoint)
                self._waiting.move_to_end(tenant)
                self._tidy(tenant, endpoint)
                self.held += 1
                self._held_by_tenant[tenant] += 1
                self._held_by_endpoint[tenant, endpoint] += 1
                granted.set_result(None)
                return True
        return False
