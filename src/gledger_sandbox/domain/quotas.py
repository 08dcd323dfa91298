"""Quotas: how much one tenant may hold, and how many tenants one client address may create.

A public sandbox lets anyone on the internet create a tenant; these bounds keep one visitor
from exhausting the host. Every refusal is a :class:`QuotaExceeded` carrying the quota's name
and its limit, so the answer says what was hit and where the line is:

==========================  ======  ==========================================================
code                        status  bound
==========================  ======  ==========================================================
``quota.entries``           422     journal entries a tenant holds (delete the tenant or reset)
``webhook.endpoint_limit_
reached``                   422     webhook endpoints a tenant holds (delete one first)
``quota.metadata_bytes``    422     bytes of ``metadata`` a tenant's requests may carry in all
``quota.snapshots``         422     snapshots a tenant holds (the snapshots feature checks it)
``quota.tenant_creations``  429     tenants one client address may create per hour
==========================  ======  ==========================================================

Events kept and deliveries kept are bounds too, but nothing is refused for them: the oldest
are let go (an events cursor older than the oldest kept answers 410, as for retention).
``None`` means unbounded (local use keeps today's convenience); ``serve --public`` sets them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import LedgerError

QUOTA_NAMES = ("entries", "webhook_endpoints", "metadata_bytes", "snapshots")
"""The quotas a tenant can exceed by a request (each code is ``quota.<name>``)."""


class QuotaExceeded(LedgerError):
    """A tenant (or a client address) is at one of its quotas; ``limit`` is the bound."""

    def __init__(
        self,
        quota: str,
        limit: int,
        detail: str,
        retry_after: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(code or f"quota.{quota}", detail)
        self.quota = quota
        self.limit = limit
        self.retry_after = retry_after
        """Seconds until the quota frees up by itself (the hourly ones), else None."""


@dataclass(frozen=True, slots=True)
class TenantQuotas:
    """What one tenant may hold; ``None``: no bound."""

    entries: int | None = None
    webhook_endpoints: int = 16
    """Every commit visits each endpoint, so there is a bound even locally."""
    events_kept: int | None = None
    """The newest events kept (older ones are dropped, as retention drops them)."""
    deliveries_kept: int | None = None
    """Finished webhook deliveries kept in the log (the oldest are forgotten first)."""
    metadata_bytes: int | None = None
    """Bytes of ``metadata`` (as JSON) a tenant's requests may carry in all, until a reset."""
    snapshots: int | None = None
    """Snapshots a tenant may hold: the hook the snapshots feature checks with ``check``."""

    def check(self, quota: str, held: int, adding: int = 1) -> None:
        """Refuse adding ``adding`` to ``held`` of ``quota`` when that passes its bound."""
        limit = getattr(self, quota)
        if limit is not None and held + adding > limit:
            raise QuotaExceeded(
                quota,
                limit,
                f"This tenant is at its quota of {limit} {quota.replace('_', ' ')}; "
                "delete some, or reset the tenant (POST /v1/sandbox/reset).",
            )


class CreationBudget:
    """Tenant creations per client address in a sliding hour, on wall time.

    Each address keeps the times of its creations within the hour (at most ``per_hour`` of
    them), and addresses with none left in the window are forgotten, so the table is bounded
    by the addresses active in the last hour.
    """

    WINDOW = timedelta(hours=1)

    def __init__(self, per_hour: int | None) -> None:
        self.per_hour = per_hour
        self._made: dict[str, deque[datetime]] = {}

    def claim(self, address: str, now: datetime) -> None:
        """Count one creation for ``address``, or refuse it (429 ``quota.tenant_creations``)."""
        if self.per_hour is None:
            return
        self._forget(now)
        made = self._made.setdefault(address, deque())
        if len(made) >= self.per_hour:
            wait = math.ceil((made[0] + self.WINDOW - now).total_seconds())
            raise QuotaExceeded(
                "tenant_creations",
                self.per_hour,
                f"This address created its quota of {self.per_hour} tenants in the last hour; "
                f"retry in {max(wait, 1)} s.",
                retry_after=max(wait, 1),
            )
        made.append(now)

    def release(self, address: str) -> None:
        """Give back the last claim of ``address`` (its creation was not made after all)."""
        made = self._made.get(address)
        if made:
            made.pop()

    def _forget(self, now: datetime) -> None:
        horizon = now - self.WINDOW
        for address in [a for a, made in self._made.items() if made[-1] <= horizon]:
            del self._made[address]
        for made in self._made.values():
            while made and made[0] <= horizon:
                made.popleft()
