"""``trigger`` causes exactly its event, for every event type of the spec, through the API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from gledger_sandbox.contract.trigger import RECIPES, TriggerFailed, event_types, trigger
from tests.conftest import Sandbox, ServerThread, new_sandbox

SPEC_TYPES = event_types()


@pytest.fixture(scope="module")
def merchant(server: ServerThread) -> Iterator[Sandbox]:
    """One seeded merchant tenant for every type: triggers run among its own events."""
    box = new_sandbox(server, fixture="merchant")
    yield box
    box.client.close()


def test_every_event_type_of_the_spec_has_a_recipe() -> None:
    assert len(SPEC_TYPES) == 19
    assert set(RECIPES) == set(SPEC_TYPES)


@pytest.mark.parametrize("event_type", SPEC_TYPES)
def test_trigger_causes_exactly_its_event(merchant: Sandbox, event_type: str) -> None:
    event, steps = trigger(merchant.client, event_type)
    assert event["type"] == event_type and steps
    assert event["correlation_id"].startswith("trigger-")
    # The event is in the log, and it is the only one of its type with the run's correlation.
    stored = merchant.client.get(f"/v1/events/{event['id']}")
    assert stored.status_code == 200 and stored.json() == event
    after = event["sequence"] - 1
    page = merchant.client.get("/v1/events", params={"after": after, "limit": 500}).json()
    same = [
        e
        for e in page["data"]
        if e["type"] == event_type and e["correlation_id"] == event["correlation_id"]
    ]
    assert same == [event]


def test_trigger_fails_loudly_when_a_step_is_refused(server: ServerThread) -> None:
    unknown = {"Authorization": "Bearer gls_no_such_key"}
    with (
        httpx.Client(base_url=server.url, headers=unknown) as client,
        pytest.raises(TriggerFailed, match="401"),
    ):
        trigger(client, "ledger.created")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gledger_sandbox", "trigger", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_cli_lists_every_type_and_triggers_one(server: ServerThread, sandbox: Sandbox) -> None:
    listed = _cli("--list")
    assert listed.returncode == 0 and listed.stdout.split() == SPEC_TYPES
    key = sandbox.credentials["api_key"]
    done = _cli("payout.failed", "--base-url", server.url, "--api-key", key, "--json")
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    assert event["type"] == "payout.failed"
    assert event["data"]["failure_code"] == "account_closed"
    assert sandbox.client.get(f"/v1/events/{event['id']}").status_code == 200
    plain = _cli("ledger.updated", "--base-url", server.url, "--api-key", key)
    assert plain.returncode == 0, plain.stderr
    *steps, last = plain.stdout.splitlines()
    assert len(steps) == 2 and steps[0] == "  POST /v1/ledgers -> 201"
    assert re.fullmatch(r"  PATCH /v1/ledgers/ldg_\w+ -> 200", steps[1]), steps
    assert last.startswith("ledger.updated evt_")
    unknown = _cli("entry.exploded", "--base-url", server.url, "--api-key", key)
    assert unknown.returncode == 2 and "--list" in unknown.stderr
