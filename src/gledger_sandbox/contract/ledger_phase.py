"""The ledger phase: runs each selected scenario once, bounded by the time budget."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx

from gledger_sandbox.contract.console import Console
from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.options import SCENARIO_CHECKS
from gledger_sandbox.contract.report import Failure
from gledger_sandbox.contract.scenarios import (
    Scenario,
    ScenarioBroken,
    ScenarioSkipped,
    auth,
    balances,
    events,
    idempotency,
    pages,
    webhooks,
)
from gledger_sandbox.contract.scenarios.promises import PROMISE_SCENARIOS
from gledger_sandbox.contract.target import Target

PHASE = "ledger"

SCENARIOS: dict[str, Callable[[Scenario], None]] = {
    "event_sequence": events.run,
    "balance_matches_lines": balances.run,
    "idempotent_replay": idempotency.run,
    "pages_complete": pages.run,
    "auth_enforced": auth.run,
    "webhook_signature": webhooks.run,
    **PROMISE_SCENARIOS,
}
assert set(SCENARIOS) == set(SCENARIO_CHECKS)


def run_ledger_phase(target: Target, console: Console) -> None:
    tag = f"kit{secrets.token_hex(4)}"
    with KitClient(target, PHASE, target.credential) as client:
        scenario = Scenario(target, client, tag)
        for check, play in SCENARIOS.items():
            if not target.options.wants(check):
                continue
            if target.deadline.spent():
                target.results.skip(PHASE, check, check, "time budget spent")
                continue
            console.progress(f"ledger  {check}")
            _play(target, scenario, check, play)


def _play(target: Target, scenario: Scenario, check: str, play: Callable[[Scenario], None]) -> None:
    try:
        play(scenario)
    except ScenarioSkipped as skipped:
        target.results.skip(PHASE, check, check, str(skipped))
    except ScenarioBroken as broken:
        if broken.response is not None:
            scenario.client.fail(check, str(broken), broken.response, name=check)
        else:
            target.results.failed(PHASE, Failure(check, check, str(broken)))
    except httpx.HTTPError as error:
        target.results.failed(PHASE, Failure(check, check, f"a request failed: {error!r}"))
    except (KeyError, IndexError, TypeError, ValueError) as error:
        # An answer without the fields the contract promises (schema conformance says where).
        message = f"an answer did not have the shape the spec gives it: {error!r}"
        target.results.failed(PHASE, Failure(check, check, message))
