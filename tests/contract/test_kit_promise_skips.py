"""Checks that need sandbox-only controls skip, with the reason, against a target without them.

The target is this sandbox, described by a spec without its sandbox operations (tenants,
clock), as a partner's deployment would be: the checks that need a tenant of their own or a
clock to move say so in the report, never fail and never pass in silence; what they can still
check without those controls runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gledger_sandbox import resources
from gledger_sandbox.contract import ContractOptions, run_contract
from tests.conftest import ServerThread, new_sandbox

pytestmark = pytest.mark.slow

NEEDS_CONTROLS = ("events_truthful", "webhook_delivery", "tenant_isolation")


def spec_without_sandbox_controls(folder: Path) -> Path:
    document = resources.resolved()
    document["paths"] = {
        path: item for path, item in document["paths"].items() if "/sandbox/" not in path
    }
    written = folder / "partner-spec.json"
    written.write_text(json.dumps(document))
    return written


def test_checks_needing_sandbox_controls_skip_with_the_reason(
    server: ServerThread, tmp_path: Path
) -> None:
    box = new_sandbox(server)
    box.client.close()
    report = run_contract(
        ContractOptions(
            base_url=server.url,
            api_key=str(box.credentials["api_key"]),
            spec=str(spec_without_sandbox_controls(tmp_path)),
            checks=frozenset(NEEDS_CONTROLS),
            phases=("ledger",),
            seed=1,
            quiet=True,
        )
    )

    assert report.ok, report.failures
    reasons = dict(report.skipped)
    assert "sandbox controls" in reasons["events_truthful"]
    assert "advanceClock" in reasons["webhook_delivery"]
    assert "createTenant" in reasons["tenant_isolation"]
    ran = {(o.check, o.name) for o in report.outcomes if o.failure is None and o.skipped is None}
    assert ("events_truthful", "listEvents") in ran  # the writes need no control
