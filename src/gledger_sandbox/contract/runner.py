"""``run_contract``: one run of the kit against a base URL, phase after phase, then the report."""

from __future__ import annotations

import difflib
import random
import time
from collections.abc import Callable
from typing import TextIO

import httpx

from gledger_sandbox.contract.console import Console
from gledger_sandbox.contract.junit import write_junit_xml
from gledger_sandbox.contract.options import (
    SCENARIO_CHECKS,
    ContractOptions,
    ContractUsageError,
    TargetUnreachable,
)
from gledger_sandbox.contract.report import ContractReport, Results
from gledger_sandbox.contract.spec import ApiSpec, load_spec
from gledger_sandbox.contract.target import REQUEST_TIMEOUT, Deadline, Target, credential


def _phase_runners() -> dict[str, Callable[[Target, Console], None]]:
    # Imported when a run starts: schemathesis and hypothesis are heavy, and the pytest plugin
    # imports this package in every test session.
    from gledger_sandbox.contract.fuzz import run_fuzz_phase, run_stateful_phase
    from gledger_sandbox.contract.ledger_phase import run_ledger_phase

    return {"fuzz": run_fuzz_phase, "stateful": run_stateful_phase, "ledger": run_ledger_phase}


def _tidy(target: Target) -> None:
    from gledger_sandbox.contract.fuzz import delete_fuzzed_endpoints

    delete_fuzzed_endpoints(target)


def run_contract(options: ContractOptions, out: TextIO | None = None) -> ContractReport:
    """Run the selected phases against ``options.base_url``; write JUnit XML when asked.

    Raises ``ContractUsageError`` for options that cannot run and ``TargetUnreachable`` when
    the target cannot be reached or refuses the credential; every other finding is in the report.
    """
    if not options.base_url:
        raise ContractUsageError(
            "no base URL: give one, or run against an in-process sandbox with "
            "`gledger-sandbox contract` (gledger_sandbox.bootstrap.contract_against_sandbox)"
        )
    base_url = options.base_url.rstrip("/")
    started = time.monotonic()
    console = Console(out, options.quiet)
    spec = _spec(options)
    _known_operations(options, spec)
    seed = options.seed if options.seed is not None else random.randrange(2**31)
    results = Results(on_failure=console.failure)
    target = Target(
        base_url,
        spec,
        options,
        credential(options, spec, base_url),
        Deadline(options.time_budget),
        results,
        seed,
    )
    _probe(target)
    console.progress(f"contract kit against {base_url} (seed {seed})")
    runners = _phase_runners()
    # The ledger scenarios go first: they need a few webhook endpoints and clean books, and
    # fuzzing may fill the tenant up to its limits. Reports still list the phases in order.
    try:
        for phase in ("ledger", "fuzz", "stateful"):
            if phase in options.phases:
                phase_started = time.monotonic()
                runners[phase](target, console)
                results.timed(phase, time.monotonic() - phase_started)
                console.progress(f"{phase} phase: {time.monotonic() - phase_started:.1f} s")
    finally:
        _tidy(target)
    _never_ran(results, options)
    report = results.report(base_url, seed, time.monotonic() - started, target.deadline.cut_short)
    if options.junit_xml:
        write_junit_xml(report, options.junit_xml)
    console.summary(report)
    return report


def _never_ran(results: Results, options: ContractOptions) -> None:
    """A selected check no selected phase ran is reported skipped, never passed in silence."""
    ran = {outcome.check for outcome in results.report("", 0, 0, False).outcomes}
    for check in sorted(options.checks - ran):
        if check in SCENARIO_CHECKS:
            phase, reason = "ledger", "it runs in the ledger phase, which was not selected"
        else:
            phase = options.phases[0] if options.phases else "ledger"
            reason = (
                "no selected phase sent a request it checks (the fuzz and stateful phases, "
                "or a selected ledger scenario, do)"
            )
        results.skip(phase, check, check, reason)


def _spec(options: ContractOptions) -> ApiSpec:
    try:
        return load_spec(options.spec)
    except Exception as error:  # prance raises several unrelated types for one bad document
        raise ContractUsageError(f"cannot read the spec {options.spec!r}: {error}") from error


def _known_operations(options: ContractOptions, spec: ApiSpec) -> None:
    """A misspelt operationId is a usage error: it would select nothing and pass in silence."""
    named = (options.operations or frozenset()) | options.exclude_operations
    unknown = sorted(named - set(spec.operations))
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, spec.operations, n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise ContractUsageError(
        f"the spec has no operation {', '.join(hints)}; operationIds are case-sensitive"
    )


def _probe(target: Target) -> None:
    """One authenticated read, so a wrong URL or credential is a usage error, not 100 failures."""
    probe = next(target.spec.cursor_lists(), None)
    path = probe.path if probe and "{" not in probe.path else "/"
    try:
        answer = httpx.get(
            target.base_url + path,
            headers={"Authorization": target.authorization},
            timeout=REQUEST_TIMEOUT,
        )
    except httpx.HTTPError as error:
        raise TargetUnreachable(f"cannot reach {target.base_url}: {error}") from error
    if answer.status_code in (401, 403):
        raise TargetUnreachable(
            f"{target.base_url} refused the kit's credential: GET {path} answered "
            f"{answer.status_code} {answer.text[:300]}"
        )
