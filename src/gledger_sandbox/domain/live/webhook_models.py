"""The values of webhooks: endpoints, deliveries, attempts and the retry policy.

``webhooks.Webhooks`` keeps them and moves deliveries through their states.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gledger_sandbox.domain.ledger.events import Event
from gledger_sandbox.domain.ledger.models import Metadata


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Waiting for its first attempt or for a retry (``next_attempt_at``)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Given up: the retry policy ran out, or the endpoint answered 410."""


@dataclass(frozen=True, slots=True)
class SigningSecret:
    value: str
    expires_at: datetime | None = None
    """When a rotated-out secret stops signing; None for the current one."""


@dataclass(slots=True)
class WebhookEndpoint:
    id: str
    seq: int
    url: str
    description: str | None
    event_types: tuple[str, ...]
    """The types delivered; empty means every type."""
    status: EndpointStatus
    secrets: tuple[SigningSecret, ...]
    """The current secret first, then rotated-out ones still inside their grace period."""
    metadata: Metadata
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    cursor: int = 0
    """The last event sequence this endpoint has had deliveries made for."""
    sequence: int = 0
    """The last delivery sequence number given out."""

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_at: datetime
    duration_ms: float
    response_status: int | None
    error: str | None
    """Why no answer came (refused, timed out), or None when one did."""
    ended_at: datetime | None = None
    """When it ended on the sandbox clock (None: as it started); the next retry counts from it."""

    @property
    def ended(self) -> datetime:
        return self.started_at if self.ended_at is None else max(self.ended_at, self.started_at)

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


@dataclass(slots=True)
class Delivery:
    id: str
    seq: int
    endpoint_id: str
    event: Event
    sequence: int
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: datetime | None = None
    retries: bool = True
    """False for a test ping: one attempt, whatever its outcome."""
    in_flight: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delays between attempts, in sandbox seconds: ``len(schedule) + 1`` attempts in all.

    The default follows the Standard Webhooks reference schedule (5 s, 5 min, 30 min, 2 h, 5 h,
    10 h, 10 h). ``jitter`` adds up to that fraction, derived from the delivery id, so retries of
    many deliveries spread out yet a run reproduces; a frozen clock (deterministic mode) uses none.
    """

    schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    jitter: float = 0.1

    def delay(self, delivery: Delivery, frozen: bool) -> timedelta | None:
        """The wait before the next attempt, or None once the schedule is spent."""
        done = len(delivery.attempts)
        if not delivery.retries or done > len(self.schedule):
            return None
        base = self.schedule[done - 1]
        if frozen or not self.jitter:
            return timedelta(seconds=base)
        digest = hashlib.blake2b(f"{delivery.id}:{done}".encode(), digest_size=4).digest()
        spread = int.from_bytes(digest, "big") / 2**32
        return timedelta(seconds=base * (1 + self.jitter * spread))


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    url: str
    event_types: tuple[str, ...] = ()
    description: str | None = None
    metadata: Metadata = field(default_factory=dict)
