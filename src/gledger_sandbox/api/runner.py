"""The live side of every tenant: what happens between requests, on the tenant's own clock.

- New events wake the tenant's open streams and send its webhooks at once.
- A ticker runs what falls due on real-time clocks: asynchronous postings, expiries, scheduled
  settlements, payout steps, webhook retries.
- ``advance`` moves a clock forward by stepping through each due moment in turn, running (and
  awaiting) all the work due then, so an hour's retries happen in order within one request.

Everything runs on the server's one event loop; attempts are tasks, tracked per tenant so an
advance can wait for them before the clock moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import InvalidRequest
from gledger_sandbox.domain.ledger.schedule import DueWork, Transition
from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery
from gledger_sandbox.domain.sandbox.faults import delivery_fault
from gledger_sandbox.domain.sandbox.tenants import Tenant, TenantRegistry
from gledger_sandbox.webhooks.worker import DeliveryWorker

logger = logging.getLogger("gledger_sandbox.runner")

MAX_STEPS = 10_000
"""Due moments one advance steps through at most (a guard, far above any retry schedule)."""


@dataclass(slots=True)
class AdvanceReport:
    previous: datetime
    now: datetime
    steps: int = 0
    entries_posted: int = 0
    entries_expired: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    settlements: list[Transition] = field(default_factory=list)
    payouts: list[Transition] = field(default_factory=list)

    def add(self, work: DueWork) -> None:
        self.entries_posted += len(work.posted)
        self.entries_expired += len(work.expired)
        self.settlements += work.settlements
        self.payouts += work.payouts


def _forgetting(running: dict[str, asyncio.Task[Attempt]], key: str) -> Callable[[object], None]:
    """A done callback that drops ``key`` from ``running``.

    A closure, not ``functools.partial(..., running, key)``: a task's repr formats its
    callbacks' arguments, and reprlib sorts a whole dict to show four of its items, so with
    thousands of attempts under way (receivers that never answer) every repr of an attempt's
    task (anyio makes one at each cancel scope's cancel, so at each timeout) sorted them all on
    the event loop: the stalled receivers cost the API its latency (bench/stalled_receivers.py).
    """

    def forget(_: object) -> None:
        running.pop(key, None)

    return forget


class SandboxRunner:
    def __init__(self, worker: DeliveryWorker, tick_seconds: float) -> None:
        self.worker = worker
        self.tick_seconds = tick_seconds
        self.registry: TenantRegistry | None = None
        self._attempts: dict[str, dict[str, asyncio.Task[Attempt]]] = {}
        """Attempts under way, per tenant (of its current generation), by delivery id."""
        self._generations: dict[str, int] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ticker: asyncio.Task[None] | None = None
        self.closing = False
        """The server is stopping: open feeds end (see :meth:`end_feeds`)."""
        self._feeds = 0

    def clock_turn(self, tenant_id: str) -> asyncio.Lock:
        """Held by a clock advance for its whole run, and by a reset while it swaps the tenant's
        state in, so an advance never steps a clock its tenant no longer has."""
        return self._locks[tenant_id]

    # -- events ----------------------------------------------------------------------------

    def on_events(self, tenant_id: str) -> None:
        """A tenant committed events (or was reset): wake its feeds, send its webhooks."""
        wakeup = self._wakeups.pop(tenant_id, None)
        if wakeup is not None:
            wakeup.set()
        if self._ticker is None or self.registry is None:
            return  # not serving yet (seeding at start-up): nothing listens
        tenant = self.registry.tenants.get(tenant_id)
        if tenant is None:
            self._forget(tenant_id)
        elif tenant.webhooks.endpoints:
            self.dispatch(tenant)

    def _forget(self, tenant_id: str) -> None:
        """A tenant deleted or reset: its old attempts (still running) are no longer its own."""
        self._locks.pop(tenant_id, None)
        self._attempts.pop(tenant_id, None)
        self._generations.pop(tenant_id, None)

    def _running(self, tenant: Tenant) -> dict[str, asyncio.Task[Attempt]]:
        if self._generations.get(tenant.id) != tenant.generation:
            self._forget(tenant.id)  # delivery ids repeat after a reset: start a fresh table
            self._generations[tenant.id] = tenant.generation
        return self._attempts.setdefault(tenant.id, {})

    async def wait_for_events(self, tenant_id: str, timeout: float) -> bool:
        """Wait until the tenant has news, or ``timeout`` seconds; True if woken."""
        if self.closing:
            return True
        wakeup = self._wakeups.get(tenant_id)
        if wakeup is None:
            wakeup = self._wakeups[tenant_id] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await wakeup.wait()
                return True
        return False

    @property
    def feeds(self) -> int:
        """Streams following a tenant's events right now."""
        return self._feeds

    @contextlib.contextmanager
    def feed(self) -> Iterator[None]:
        """Counts an open stream for the while it follows a tenant's events."""
        self._feeds += 1
        try:
            yield
        finally:
            self._feeds -= 1

    async def end_feeds(self, grace: float) -> None:
        """The server is stopping: wake every open feed to end, and wait up to ``grace`` s."""
        self.closing = True
        for wakeup in self._wakeups.values():
            wakeup.set()
        self._wakeups.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._feeds and loop.time() < deadline:
            await asyncio.sleep(0.02)

    # -- due work --------------------------------------------------------------------------

    def dispatch(self, tenant: Tenant) -> None:
        """Make deliveries for new events and start every attempt due now."""
        tenant.webhooks.collect()
        due = tenant.webhooks.take_due()
        if not due:
            return
        running = self._running(tenant)
        for delivery in due:
            fault = delivery_fault(tenant.faults, delivery)
            task = asyncio.get_running_loop().create_task(
                self.worker.attempt(tenant.id, tenant.webhooks, delivery, fault)
            )
            running[delivery.id] = task
            task.add_done_callback(_forgetting(running, delivery.id))

    async def deliver_now(self, tenant: Tenant, delivery: Delivery) -> None:
        """Start the due attempts and wait for this delivery's (a retry, a ping)."""
        self.dispatch(tenant)
        task = self._attempts.get(tenant.id, {}).get(delivery.id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def run_due(self, tenant: Tenant) -> DueWork:
        """Run the ledger work due now (postings, expiries, settlements, payouts), then send."""
        work = tenant.schedule.run_due(tenant.store, tenant.clock.now())
        self.dispatch(tenant)
        return work

    async def settle(self, tenant: Tenant) -> list[Attempt]:
        """Run everything due now and wait for every attempt of the tenant to end."""
        done: list[Attempt] = []
        self.dispatch(tenant)
        while running := self._attempts.get(tenant.id):
            ended = await asyncio.gather(*running.values(), return_exceptions=True)
            done += [attempt for attempt in ended if isinstance(attempt, Attempt)]
            self.dispatch(tenant)
        return done

    async def advance(self, tenant: Tenant, seconds: float) -> AdvanceReport:
        """Move the tenant's clock forward, running the work of each due moment on the way."""
        clock = tenant.clock
        try:
            target = clock.now() + timedelta(seconds=seconds)
        except OverflowError:
            raise InvalidRequest.at(
                "/seconds", "validation.invalid_value", "That is past the end of the calendar."
            ) from None
        async with self.clock_turn(tenant.id):
            clock = tenant.clock  # a reset may have swapped the tenant's state in meanwhile
            target = clock.now() + timedelta(seconds=seconds)
            report = AdvanceReport(previous=clock.now(), now=clock.now())
            report.attempts += await self.settle(tenant)
            while report.steps < MAX_STEPS:
                due = tenant.next_due()
                if due is None or due > target:
                    break
                clock.advance_to(due)
                report.steps += 1
                report.add(self.run_due(tenant))
                report.attempts += await self.settle(tenant)
            clock.advance_to(target)
            report.add(self.run_due(tenant))
            report.attempts += await self.settle(tenant)
            tenant.store.events.trim()
            report.now = clock.now()
            return report

    # -- the ticker ------------------------------------------------------------------------

    async def start(self, registry: TenantRegistry) -> None:
        self.registry = registry
        await self.worker.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        running = [task for tasks in self._attempts.values() for task in tasks.values()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.worker.close()

    async def _tick(self) -> None:
        assert self.registry is not None
        while True:
            await asyncio.sleep(self.tick_seconds)
            for tenant in list(self.registry.tenants.values()):
                try:
                    due = tenant.next_due()
                    if due is not None and due <= tenant.clock.now():
                        self.run_due(tenant)
                except Exception:  # one tenant's fault must not stop every tenant's clock
                    logger.exception("due work of tenant %s failed", tenant.id)
