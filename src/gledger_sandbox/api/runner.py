"""The live side of every tenant: what happens between requests, on the tenant's own clock.

- New events send the tenant's webhooks at once and wake its open streams: at once while it
  has few, in one wake-up per ``coalesce`` window when it has many (see :meth:`wake_delay`).
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
import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import InvalidRequest
from gledger_sandbox.domain.journal import TRUSTED
from gledger_sandbox.domain.ledger.schedule import DueWork, Transition
from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery
from gledger_sandbox.domain.sandbox.faults import delivery_fault
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry
from gledger_sandbox.webhooks.worker import DeliveryWorker

logger = logging.getLogger("gledger_sandbox.runner")

COALESCE_FROM = 8
"""A tenant's streams are woken at once while it has fewer open; from then on, together."""
COALESCE_PER_FEED = 0.0002
"""Seconds of wake-up delay per open stream of the tenant (500 streams: 100 ms)..."""
COALESCE_MAX = 0.1
"""... up to this. Each wake-up of a stream costs a task step and a write, whatever it carries:
500 streams woken for each of 600 commits a second would be 300,000 steps a second, more than
the whole loop can run. Woken once a window, they carry every event of the window at once
(bench/live.py, condition (c))."""

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


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


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
        self._wakeups: dict[str, list[asyncio.Future[bool]]] = {}
        """The streams waiting for each tenant's next events (a future each)."""
        self._wake_later: dict[str, asyncio.TimerHandle] = {}
        """Tenants whose streams are to be woken at the end of a coalescing window."""
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ticker: asyncio.Task[None] | None = None
        self.closing = False
        """The server is stopping: open feeds end (see :meth:`end_feeds`)."""
        self._feeds: Counter[str] = Counter()
        """Open streams per tenant."""

    def clock_turn(self, tenant_id: str) -> asyncio.Lock:
        """Held by a clock advance for its whole run, and by a reset while it swaps the tenant's
        state in, so an advance never steps a clock its tenant no longer has."""
        return self._locks[tenant_id]

    # -- events ----------------------------------------------------------------------------

    def on_events(self, tenant_id: str) -> None:
        """A tenant committed events (or was reset): wake its feeds, send its webhooks."""
        self._wake(tenant_id)
        if self._ticker is None or self.registry is None:
            return  # not serving yet (seeding at start-up): nothing listens
        tenant = self.registry.tenants.get(tenant_id)
        if tenant is None:
            self._forget(tenant_id)
        elif tenant.webhooks.endpoints:
            self.dispatch(tenant)

    def wake_delay(self, tenant_id: str) -> float:
        """How long new events wait before the tenant's streams are woken (0: at once)."""
        feeds = self._feeds[tenant_id]
        return 0.0 if feeds < COALESCE_FROM else min(COALESCE_MAX, feeds * COALESCE_PER_FEED)

    def _wake(self, tenant_id: str) -> None:
        if tenant_id not in self._wakeups or tenant_id in self._wake_later:
            return  # nobody waits, or a wake-up is already due
        delay = self.wake_delay(tenant_id)
        if delay <= 0.0 or self._ticker is None:
            self._wake_now(tenant_id)
        else:
            self._wake_later[tenant_id] = asyncio.get_running_loop().call_later(
                delay, self._wake_now, tenant_id
            )

    def _wake_now(self, tenant_id: str) -> None:
        self._wake_later.pop(tenant_id, None)
        for waiter in self._wakeups.pop(tenant_id, ()):
            if not waiter.done():
                waiter.set_result(True)

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
        # A future and a timer, not asyncio.timeout around Event.wait: 500 streams are woken
        # together many times a second, and a timeout ending cancels its task (an exception).
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        waiters = self._wakeups.setdefault(tenant_id, [])
        waiters.append(waiter)
        timer = loop.call_later(timeout, _resolve, waiter, False)
        woken = False
        try:
            woken = await waiter
            return woken
        finally:
            timer.cancel()
            if not woken and waiter in waiters:
                waiters.remove(waiter)  # timed out or left: rare (keep-alives, closing)
                if not waiters and self._wakeups.get(tenant_id) is waiters:
                    del self._wakeups[tenant_id]

    @property
    def feeds(self) -> int:
        """Streams following a tenant's events right now."""
        return self._feeds.total()

    @contextlib.contextmanager
    def feed(self, tenant_id: str) -> Iterator[None]:
        """Counts an open stream of the tenant for the while it follows its events."""
        self._feeds[tenant_id] += 1
        try:
            yield
        finally:
            self._feeds[tenant_id] -= 1
            if not self._feeds[tenant_id]:
                del self._feeds[tenant_id]

    async def end_feeds(self, grace: float) -> None:
        """The server is stopping: wake every open feed to end, and wait up to ``grace`` s."""
        self.closing = True
        for later in self._wake_later.values():
            later.cancel()
        self._wake_later.clear()
        for tenant_id in list(self._wakeups):
            self._wake_now(tenant_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._feeds and loop.time() < deadline:
            await asyncio.sleep(0.02)

    # -- due work --------------------------------------------------------------------------

    def dispatch(self, tenant: Tenant) -> None:
        """Make deliveries for new events and start every attempt due now."""
        # Every change made here is recorded in the tenant's journal (``domain.journal``), on
        # the ticker too: a retry it starts costs a journal record, not a full document.
        trusted = TRUSTED.set(True)
        try:
            self._dispatch(tenant)
        finally:
            TRUSTED.reset(trusted)

    def _dispatch(self, tenant: Tenant) -> None:
        tenant.webhooks.collect()
        due = tenant.webhooks.take_due()
        if not due:
            return
        running = self._running(tenant)
        generation = tenant.generation  # a deletion, a reset or a restore moves it on
        current = functools.partial(_same_generation, tenant, generation)
        for delivery in due:
            fault = delivery_fault(tenant.faults, delivery)
            task = asyncio.get_running_loop().create_task(
                self.worker.attempt(tenant.id, tenant.webhooks, delivery, fault, current)
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


def _same_generation(tenant: Tenant, generation: int) -> bool:
    """Whether the tenant is still as it was when an attempt was taken (not deleted, reset or
    restored since)."""
    return tenant.generation == generation
