"""Placeholder until the scenario lands."""

from __future__ import annotations

from gledger_sandbox.contract.scenarios import Scenario, ScenarioSkipped


def run(scenario: Scenario) -> None:
    raise ScenarioSkipped("not written yet")
