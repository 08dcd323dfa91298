"""A sandbox tenant: its own store, clock, ids, idempotency keys, webhooks and controls.

Tenants share nothing: an id from another tenant is simply unknown. A reset seeds a stand-in
aside (``staged``) and swaps its state in at once (``adopt``). The registry of tenants and the
credentials that lead to them is ``tenants``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger.events import Retention
from gledger_sandbox.domain.ledger.schedule import PostingSchedule
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.live.webhook_models import RetryPolicy
from gledger_sandbox.domain.live.webhooks import Webhooks
from gledger_sandbox.domain.quotas import TenantQuotas
from gledger_sandbox.domain.sandbox.allowlist import Network
from gledger_sandbox.domain.sandbox.faults import Faults
from gledger_sandbox.domain.sandbox.idempotency import IdempotencyStore
from gledger_sandbox.domain.sandbox.snapshot_shelf import SnapshotShelf
from gledger_sandbox.domain.treasury.payouts import Payouts
from gledger_sandbox.domain.treasury.reconciliation_runs import Reconciliations
from gledger_sandbox.domain.treasury.settlements import Settlements

Listener = Callable[[str], None]
"""Told a tenant's id when its event log has new events, or was replaced by a reset."""


def _quiet(_tenant_id: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """What every tenant of a server shares: event retention, webhook retries, who to tell."""

    retention: Retention = Retention()
    retries: RetryPolicy = RetryPolicy()
    on_events: Listener = _quiet
    quotas: TenantQuotas = TenantQuotas()
    count_metadata: bool = False
    """Count the metadata bytes tenants' requests carry even with no ``metadata_bytes`` quota
    (the memory cap's accounting reads the count: ``serve --max-rss``)."""


@dataclass(slots=True)
class Tenant:
    id: str
    fixture: str
    seed: int
    created_at: datetime
    clock_start: datetime | None
    api_key: str
    client_id: str
    client_secret: str
    ttl: timedelta | None
    expires_at: datetime | None
    policy: TenantPolicy = TenantPolicy()
    store: LedgerStore = field(init=False)
    idempotency: IdempotencyStore = field(init=False)
    schedule: PostingSchedule = field(init=False)
    settlements: Settlements = field(init=False)
    payouts: Payouts = field(init=False)
    webhooks: Webhooks = field(init=False)
    reconciliations: Reconciliations = field(init=False)
    faults: Faults = field(init=False)
    generation: int = 0
    """Bumped by each reset: feeds reading an older generation's log end."""
    snapshots: SnapshotShelf = field(init=False)
    """Kept apart from the state: a reset or a restore keeps them."""
    allowed_networks: tuple[Network, ...] = ()
    """Client networks its credentials work from (``domain.allowlist``; empty: any); kept
    across resets, like the credentials."""

    def __post_init__(self) -> None:
        self._fresh_state(events_after=0)
        self.snapshots = SnapshotShelf(IdGenerator(self.seed, b"snapshots/" + self.id.encode()))

    @property
    def clock(self) -> SandboxClock:
        return self.store.clock

    def fresh_state(self) -> None:
        """An empty store, clock, key space and webhook set, as at creation (seeded after).

        The new event log goes on from the old one's last sequence (see ``events``).
        """
        # One sequence is skipped, so that even a reader at the old log's head is told of the
        # reset (410) instead of reading on into the new data.
        self._fresh_state(self.store.events.last_seq + 1)

    def staged(self, fixture: str, seed: int) -> Tenant:
        """A stand-in with this tenant's id and a fresh state, to seed aside and ``adopt``."""
        stand_in = dataclasses.replace(self, fixture=fixture, seed=seed)
        stand_in._fresh_state(self.store.events.last_seq + 1)
        return stand_in

    def adopt(self, stand_in: Tenant) -> None:
        """Take the state seeded on ``stand_in``: one swap, so no request sees it half made."""
        self.fixture, self.seed = stand_in.fixture, stand_in.seed
        self.store, self.idempotency = stand_in.store, stand_in.idempotency
        self.settlements, self.payouts = stand_in.settlements, stand_in.payouts
        self.schedule, self.reconciliations = stand_in.schedule, stand_in.reconciliations
        self.webhooks = stand_in.webhooks
        self.faults = stand_in.faults
        self.generation += 1

    def _fresh_state(self, events_after: int) -> None:
        self.generation += 1
        clock = SandboxClock(frozen_at=self.clock_start)
        self.store = LedgerStore(
            IdGenerator(self.seed),
            clock,
            retention=self.policy.retention,
            events_after=events_after,
            on_events=functools.partial(self.policy.on_events, self.id),
            quotas=self.policy.quotas,
        )
        self.idempotency = IdempotencyStore()
        self.settlements = Settlements(self.store)
        self.payouts = Payouts(self.store)
        self.schedule = PostingSchedule(self.settlements, self.payouts)
        self.reconciliations = Reconciliations(self.store)
        self.webhooks = Webhooks(
            IdGenerator(self.seed, b"webhooks"),
            clock,
            self.store.events,
            self.policy.retries,
            quotas=self.policy.quotas,
        )
        self.faults = Faults(clock, IdGenerator(self.seed, b"faults"))

    def counts(self) -> dict[str, int]:
        """How many resources the tenant holds (reconciliations: the stored runs still kept)."""
        return {
            **self.store.counts(),
            "settlements": len(self.store.index(("settlements",))),
            "payouts": len(self.store.index(("payouts",))),
            "reconciliations": len(self.reconciliations.runs),
        }

    def next_due(self) -> datetime | None:
        """The earliest sandbox time at which scheduled work (postings, retries) falls due."""
        times = [self.schedule.next_due(self.store), self.webhooks.next_due()]
        return min((t for t in times if t is not None), default=None)
