"""The scenarios that check DESIGN.md's promises one by one, by check name, in run order.

They run after the first ledger checks, on the same books; those that need controls only a
sandbox has (its clock, creating a tenant) skip with the reason against a target without them.
"""

from __future__ import annotations

from collections.abc import Callable

from gledger_sandbox.contract.scenarios import (
    Scenario,
    balance_kinds,
    event_truth,
    hostile_inputs,
    operational,
    report_checks,
    state_machine,
    tenancy,
    webhook_retries,
)

PROMISE_SCENARIOS: dict[str, Callable[[Scenario], None]] = {
    "entry_state_machine": state_machine.run,
    "balances_in_time": balance_kinds.run,
    "report_arithmetic": report_checks.run,
    "events_truthful": event_truth.run,
    "tenant_isolation": tenancy.run,
    "operational_headers": operational.run,
    "hostile_inputs": hostile_inputs.run,
    "webhook_delivery": webhook_retries.run,
}
