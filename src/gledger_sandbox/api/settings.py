"""What a server is configured with, and the services its handlers share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gledger_sandbox.api.durability import Durability
from gledger_sandbox.api.limits import StreamSlots
from gledger_sandbox.api.memory import MemoryGuard
from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.runner import SandboxRunner
from gledger_sandbox.api.telemetry import Telemetry
from gledger_sandbox.domain.quotas import CreationBudget, TenantQuotas
from gledger_sandbox.domain.sandbox.idempotency import IdempotencyStore
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry
from gledger_sandbox.webhooks.outbound import OutboundGuard, OutboundPolicy


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
    client_cert: str | None = None
    """A PEM certificate (chain) the worker presents to receivers that ask for one (mTLS)."""
    client_key: str | None = None
    """The private key of ``client_cert`` (None: the key is in the certificate's file)."""
    ca_file: str | None = None
    """PEM CA certificates receivers' certificates are checked against (None: the system's)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The server's own TLS: it serves HTTPS, and may require a client certificate."""

    cert_file: str
    key_file: str | None = None
    """None: the key is in ``cert_file``."""
    client_ca_file: str | None = None
    """PEM CA certificates; when given, every client must present a certificate they signed."""


@dataclass(frozen=True, slots=True)
class PublicSettings:
    """What a public backend bounds (``serve --public`` turns each on; see ``public.py``)."""

    enabled: bool = False
    outbound: OutboundPolicy = OutboundPolicy()
    quotas: TenantQuotas = TenantQuotas()
    tenant_creations_per_hour: int | None = None
    """Per client address; None: unbounded."""
    streams_per_credential: int | None = None
    """Open SSE and WebSocket feeds one credential may hold; None: unbounded."""
    max_rss_bytes: int | None = None
    """Resident memory the server keeps under by evicting the idlest tenants; None: no cap."""


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
    public: PublicSettings = PublicSettings()
    """The bounds of a public backend (``serve --public``); all off by default."""
    state_dir: Path | None = None
    """Where tenants are kept durable (``serve --state-dir``); None: in memory only."""
    tls: TlsSettings | None = None
    """None: plain HTTP."""
    metrics: str = "loopback"
    """Who may read ``GET /metrics``: ``loopback`` clients, anyone (``open``), or nobody
    (``off``)."""
    tracer_provider: Any = None
    """An OpenTelemetry ``TracerProvider``: a span per request and webhook attempt (None: no
    tracing; ``api.tracing.provider_from_env`` builds one from the OTEL_* variables)."""
    shard: int = 0
    """The shard this server is (``serve --shard``): named in every tenant id and credential
    it mints, so a proxy routes them here (``domain.credentials``)."""


@dataclass(slots=True)
class Services:
    settings: Settings
    registry: TenantRegistry
    runner: SandboxRunner
    telemetry: Telemetry
    """The server's metrics, access log and tracing."""
    tenant_creation_keys: IdempotencyStore = field(default_factory=IdempotencyStore)
    """Idempotency keys of POST /v1/sandbox/tenants, which has no tenant yet to scope them to."""
    outbound: OutboundGuard = field(default_factory=lambda: OutboundGuard(OutboundPolicy()))
    """Checks webhook targets (the delivery worker holds the same guard)."""
    creations: CreationBudget = field(default_factory=lambda: CreationBudget(None))
    """Tenant creations per client address and hour."""
    streams: StreamSlots = field(default_factory=lambda: StreamSlots(None))
    """Open event feeds per credential."""
    memory: MemoryGuard | None = None
    """Keeps the resident set under the cap, when there is one."""
    durability: Durability | None = None
    """Writes tenants to ``settings.state_dir`` (None: in memory only)."""
    seeding_turns: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by one seeding slice at a time: many sandboxes seeding at once still hold the loop
    one slice per turn, not one slice each."""
