"""The public deployment mode (``serve --public``): safe defaults for a try-it-now backend.

Local use keeps today's convenience (webhooks to loopback, no quotas). A public backend lets
anyone on the internet create a tenant, so ``--public`` turns on, unless an option says
otherwise:

- webhooks go to public addresses only, on ports 80, 443 and 1024-65535 (``outbound.py``);
- per-tenant quotas (``PUBLIC_QUOTAS``; ``domain/quotas.py``);
- 20 tenant creations per client address and hour;
- 5 open event streams per credential; the rate limit (600 requests a minute per credential
  unless ``--rate-limit`` says otherwise) counts WebSocket handshakes too;
- no resident-memory cap unless ``--max-rss`` names one (``memory.py``: it evicts the least
  recently used tenants by an estimate of what each holds, calibrated against the resident
  set).

Each bound can also be set on its own, with or without ``--public``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.settings import PublicSettings
from gledger_sandbox.domain.quotas import TenantQuotas
from gledger_sandbox.webhooks.outbound import PUBLIC_PORTS, OutboundPolicy, PortRanges, parse_allow

PUBLIC_QUOTAS = TenantQuotas(
    entries=10_000,
    webhook_endpoints=5,
    events_kept=50_000,
    deliveries_kept=10_000,
    metadata_bytes=1024 * 1024,
    snapshots=5,
)
PUBLIC_RATE_LIMIT = RateLimit(600, 60)
PUBLIC_CREATIONS_PER_HOUR = 20
PUBLIC_STREAMS_PER_CREDENTIAL = 5
QUOTA_OPTIONS = tuple(f.name for f in fields(TenantQuotas))
"""The names ``--quota NAME=N`` takes."""


def parse_quota(text: str) -> tuple[str, int]:
    """``entries=5000``: a quota's name and its bound."""
    name, equals, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not equals or name not in QUOTA_OPTIONS or not value.strip().isdigit():
        raise ValueError(f"give NAME=N with NAME one of {', '.join(QUOTA_OPTIONS)}")
    return name, int(value)


def parse_resolve(text: str) -> tuple[str, str]:
    """``hooks.example.com:203.0.113.7`` (as ``curl --resolve``, without the port)."""
    name, colon, address = text.partition(":")
    bare = address.strip().strip("[]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        bare = ""
    if not colon or not name.strip() or not bare:
        raise ValueError("give HOST:ADDRESS, e.g. hooks.example.com:203.0.113.7")
    return name.strip().lower().rstrip("."), bare


def public_settings(
    public: bool,
    *,
    quotas: Mapping[str, int] | None = None,
    creations_per_hour: int | None = None,
    streams_per_credential: int | None = None,
    max_rss_bytes: int | None = None,
    webhook_allow: str = "",
    webhook_ports: PortRanges | None = None,
    webhook_resolve: Iterable[tuple[str, str]] = (),
) -> PublicSettings:
    """The bounds to serve with: ``--public``'s defaults where an option gives none."""
    base = PUBLIC_QUOTAS if public else TenantQuotas()
    networks, hosts = parse_allow(webhook_allow)
    return PublicSettings(
        enabled=public,
        outbound=OutboundPolicy(
            guard=public,
            allow_networks=networks,
            allow_hosts=hosts,
            ports=webhook_ports or (PUBLIC_PORTS if public else None),
            hosts=tuple(webhook_resolve),
        ),
        quotas=replace(base, **dict(quotas or {})),
        tenant_creations_per_hour=_given(creations_per_hour, public, PUBLIC_CREATIONS_PER_HOUR),
        streams_per_credential=_given(
            streams_per_credential, public, PUBLIC_STREAMS_PER_CREDENTIAL
        ),
        max_rss_bytes=max_rss_bytes or None,
    )


def rate_limit_for(public: bool, given: RateLimit | None) -> RateLimit | None:
    """The rate limit to serve with: the one given, else the public default in public mode."""
    return given or (PUBLIC_RATE_LIMIT if public else None)


def _given(value: int | None, public: bool, default: int) -> int | None:
    """An option's value (0: unbounded), else the public default in public mode."""
    if value is not None:
        return value or None
    return default if public else None
