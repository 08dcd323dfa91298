"""What the promise checks (contract/scenarios/promises.py) add to a contract run's time.

The ledger phase against an in-process sandbox (the default `gledger-sandbox contract` target),
with the earlier checks only and with every check, side by side, alternating, 3 rounds; the
figure is the median of each, read from the run's own per-phase timings. With ``--full``, one
default run (every phase, every check) follows, for the share the promise checks take of it.

    python bench/kit_promise_checks.py [--full]
"""

from __future__ import annotations

import argparse
import statistics

from gledger_sandbox.bootstrap import contract_against_sandbox
from gledger_sandbox.contract import CHECKS, ContractOptions, ContractReport
from gledger_sandbox.contract.scenarios.promises import PROMISE_SCENARIOS

ROUNDS = 3
SEED = 1


def _run(checks: frozenset[str], phases: tuple[str, ...]) -> ContractReport:
    options = ContractOptions(checks=checks, phases=phases, seed=SEED, quiet=True)
    report = contract_against_sandbox(options)
    if not report.ok:
        raise SystemExit(f"the run failed: {report.failures}")
    return report


def _ledger_seconds(report: ContractReport) -> float:
    return dict(report.phase_seconds)["ledger"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time one default run")
    arguments = parser.parse_args()
    earlier = frozenset(CHECKS) - set(PROMISE_SCENARIOS)
    times: dict[str, list[float]] = {"earlier checks": [], "every check": []}
    for _ in range(ROUNDS):
        times["earlier checks"].append(_ledger_seconds(_run(earlier, ("ledger",))))
        times["every check"].append(_ledger_seconds(_run(frozenset(CHECKS), ("ledger",))))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        shown = ", ".join(f"{value:.2f}" for value in times[name])
        print(f"ledger phase, {name}: median {median:.2f} s ({shown})")
    added = medians["every check"] - medians["earlier checks"]
    print(f"the promise checks add {added:.2f} s to the ledger phase")
    if arguments.full:
        report = _run(frozenset(CHECKS), ("fuzz", "stateful", "ledger"))
        phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in report.phase_seconds)
        print(
            f"one default run: {report.seconds:.1f} s ({phases}); the promise checks' share: "
            f"{100 * added / report.seconds:.1f}%"
        )


if __name__ == "__main__":
    main()
