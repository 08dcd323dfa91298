"""What a server is configured with, and the services its handlers share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.runner import SandboxRunner
from gledger_sandbox.domain.idempotency import IdempotencyStore
from gledger_sandbox.domain.tenants import TenantRegistry


@dataclass(frozen=True, slots=True)
class StreamSettings:
    keepalive_seconds: float = 15.0
    retry_ms: int = 3000
    """The reconnection delay SSE clients are told to use."""
    send_timeout: float = 10.0
    """Seconds a reader's socket may refuse a write before the reader is dropped."""


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How long the server waits for a client, and whom it trusts to say who the client is."""

    keep_alive_timeout: float = 5.0
    """Seconds a connection may sit without a request under way before it is closed."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte to the end of its head (else 408, and closed)."""
    body_timeout: float = 30.0
    """Seconds from a request's head to the end of its body (else 408, and closed)."""
    shutdown_timeout: float = 10.0
    """Seconds a stopping server lets requests under way finish before it cuts them off."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses (or networks) whose ``X-Forwarded-For`` / ``-Proto`` are believed; none by
    default, so a client cannot pass itself off as another address."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    """Seconds of sandbox time between attempts (Standard Webhooks' reference schedule)."""
    retry_scale: float = 1.0
    """Multiplies the schedule: 0.001 compresses ten hours into 36 seconds."""
    jitter: float = 0.1
    timeout_seconds: float = 5.0
    attempts_in_flight: int = 64
    """Attempts under way at once, server-wide; the two shares below keep it fair."""
    tenant_share: int = 16
    """Attempts one tenant may have under way (below the server's, so none can fill it)."""
    endpoint_share: int = 4
    """Attempts one endpoint may have under way (a stuck receiver holds only these)."""
    secret_grace_seconds: float = 24 * 3600
    """How long a rotated-out secret keeps signing, unless the rotation says otherwise."""


@dataclass(frozen=True, slots=True)
class Settings:
    seed: int = 0
    fixture: str = "merchant"
    api_key: str | None = None
    clock_start: datetime | None = None
    max_body_bytes: int = 1024 * 1024
    max_tenants: int = 1000
    tenant_ttl_seconds: float = 24 * 3600
    token_ttl_seconds: float = 3600
    async_post_delay: float = 0.5
    tick_seconds: float = 0.05
    validate_responses: bool = False
    rate_limit: RateLimit | None = None
    """Requests per window and credential; None serves without limits."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose browsers may call the API (``*``: any); none: no CORS headers."""
    default_tenant: bool = True
    event_retention_seconds: float = 30 * 24 * 3600
    event_retention_count: int = 1_000_000
    streams: StreamSettings = StreamSettings()
    connections: ConnectionSettings = ConnectionSettings()
    webhooks: WebhookSettings = WebhookSettings()
    shard: int = 0
    """The shard this server is (``serve --shard``): named in every tenant id and credential
    it mints, so a proxy routes them here (``domain.credentials``)."""


@dataclass(slots=True)
class Services:
    settings: Settings
    registry: TenantRegistry
    runner: SandboxRunner
    tenant_creation_keys: IdempotencyStore = field(default_factory=IdempotencyStore)
    """Idempotency keys of POST /v1/sandbox/tenants, which has no tenant yet to scope them to."""
    seeding_turns: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by one seeding slice at a time: many sandboxes seeding at once still hold the loop
    one slice per turn, not one slice each."""
