"""What a server is configured with, and the services its handlers share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.domain.idempotency import IdempotencyStore
from gledger_sandbox.domain.tenants import TenantRegistry


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
    default_tenant: bool = True


@dataclass(slots=True)
class Services:
    settings: Settings
    registry: TenantRegistry
    scheduled: set[str] = field(default_factory=set)
    """Tenants with work on their schedule: the ticker visits only these."""
    tenant_creation_keys: IdempotencyStore = field(default_factory=IdempotencyStore)
    """Idempotency keys of POST /v1/sandbox/tenants, which has no tenant yet to scope them to."""
