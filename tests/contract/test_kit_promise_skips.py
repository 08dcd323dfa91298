"""The promise checks read the target's spec: what it lacks they skip, what it adds they try.

The target is this sandbox, described by an edited spec. Without its sandbox operations
(tenants, clock), as a partner's deployment would be, the checks that need a tenant of their
own or a clock to move say so in the report, never fail and never pass in silence; what they
can still check without those controls runs. With an operation the kit has never heard of,
``tenant_isolation`` tries it too (or says which id it lacked to try it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gledger_sandbox import resources
from gledger_sandbox.contract import ContractOptions, ContractReport, run_contract
from tests.conftest import ServerThread, new_sandbox

pytestmark = pytest.mark.slow

NEEDS_CONTROLS = ("events_truthful", "webhook_delivery", "tenant_isolation")


def edited_spec(folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    document = resources.resolved()
    edit(document["paths"])
    written = folder / "partner-spec.json"
    written.write_text(json.dumps(document))
    return written


def without_sandbox_controls(paths: dict[str, Any]) -> None:
    for path in [path for path in paths if "/sandbox/" in path]:
        del paths[path]


def with_a_new_operation(paths: dict[str, Any]) -> None:
    """``getWidget``: a read by an id of a kind the kit cannot make."""
    read = paths["/v1/ledgers/{ledger_id}"]
    paths["/v1/widgets/{widget_id}"] = {
        "get": {**read["get"], "operationId": "getWidget"},
        "parameters": [
            {"name": "widget_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
    }


def run_checks(server: ServerThread, spec: Path, *checks: str) -> ContractReport:
    box = new_sandbox(server)
    box.client.close()
    return run_contract(
        ContractOptions(
            base_url=server.url,
            api_key=str(box.credentials["api_key"]),
            spec=str(spec),
            checks=frozenset(checks),
            phases=("ledger",),
            seed=1,
            quiet=True,
        )
    )


def test_checks_needing_sandbox_controls_skip_with_the_reason(
    server: ServerThread, tmp_path: Path
) -> None:
    spec = edited_spec(tmp_path, without_sandbox_controls)
    report = run_checks(server, spec, *NEEDS_CONTROLS)

    assert report.ok, report.failures
    reasons = dict(report.skipped)
    assert "sandbox controls" in reasons["events_truthful"]
    assert "advanceClock" in reasons["webhook_delivery"]
    assert "createTenant" in reasons["tenant_isolation"]
    ran = {(o.check, o.name) for o in report.outcomes if o.failure is None and o.skipped is None}
    assert ("events_truthful", "listEvents") in ran  # the writes need no control


def test_tenant_isolation_tries_the_operations_the_spec_adds(
    server: ServerThread, tmp_path: Path
) -> None:
    report = run_checks(server, edited_spec(tmp_path, with_a_new_operation), "tenant_isolation")

    assert report.ok, report.failures
    assert ("tenant_isolation", "the kit could make no widget_id to try getWidget with") in (
        report.skipped
    )


def with_the_endpoint_create_renamed(paths: dict[str, Any]) -> None:
    """The kit no longer knows the create by name: only its OpenAPI links tell what it makes."""
    paths["/v1/webhook-endpoints"]["post"]["operationId"] = "addWebhookEndpoint"


def test_tenant_isolation_makes_the_ids_it_lacks_through_the_spec_links(
    server: ServerThread, tmp_path: Path
) -> None:
    spec = edited_spec(tmp_path, with_the_endpoint_create_renamed)
    report = run_checks(server, spec, "tenant_isolation")

    assert report.ok, report.failures
    reasons = " ".join(reason for check, reason in report.skipped if check == "tenant_isolation")
    assert "no endpoint_id" not in reasons  # made by addWebhookEndpoint, found by its links
    assert "no delivery_id" in reasons  # its test ping is what the kit does by name
