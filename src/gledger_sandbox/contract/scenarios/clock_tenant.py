"""A tenant of the kit's own with a frozen clock, for checks of what the clock causes.

Moving a clock moves every due posting, settlement and payout of its tenant, so the kit never
moves the credential's: it creates a tenant (``createTenant`` with ``clock_start``), works there
and deletes it. Both are sandbox controls; a target without them gets None, and the check that
asked skips with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.scenarios import Scenario

CLOCK_START = "2026-03-02T09:00:00Z"
NEEDS = (
    "needs sandbox controls: a tenant with a frozen clock (createTenant with clock_start) "
    "and advanceClock"
)
"""The reason a check gives when the target has no clock tenant to offer."""


@contextmanager
def clock_tenant(scenario: Scenario) -> Iterator[KitClient | None]:
    """A client of a fresh tenant frozen at ``CLOCK_START``, or None when the target makes none."""
    spec = scenario.target.spec
    if not (spec.has("createTenant") and spec.has("advanceClock")):
        yield None
        return
    with KitClient(scenario.target, scenario.client.phase, None) as anonymous:
        created = anonymous.post(
            "/v1/sandbox/tenants", json={"fixture": "empty", "clock_start": CLOCK_START}
        )
    if created.status_code != 201:
        yield None
        return
    key = created.json()["api_key"]
    # The ids this tenant's answers teach would point the fuzz phase's reads of the kit's own
    # resources at a tenant that is gone by then: they are forgotten afterwards.
    known = dict(scenario.target.known.values)
    with KitClient(scenario.target, scenario.client.phase, f"Bearer {key}") as client:
        try:
            yield client
        finally:
            if spec.has("deleteTenant"):
                client.delete("/v1/sandbox/tenant")
            scenario.target.known.values = known
