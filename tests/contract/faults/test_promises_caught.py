"""Each promise check of the kit catches the faults that break its promise, and passes without.

Built like ``test_checks_catch_faults.py`` (same narrowed runs, same assertions), for the
checks of ``contract/scenarios/promises.py`` and the faults of ``promise_faults.py``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.bootstrap import sandbox_app
from tests.conftest import TEST_SETTINGS, ServerThread
from tests.contract.faults.live_faults import ServerErrorOnDeepInput, WebhookRelay
from tests.contract.faults.promise_faults import PROMISE_FAULTS, make_promise_fault
from tests.contract.faults.proxy import Fault
from tests.contract.faults.test_checks_catch_faults import (
    Caught,
    Narrowed,
    assert_caught,
    assert_passes,
    proxied_tenant,
    run_kit,
    scenario,
)

pytestmark = pytest.mark.slow

STATE_MACHINE = scenario("entry_state_machine")
BALANCES = scenario("balances_in_time")
REPORTS = scenario("report_arithmetic")
EVENTS = scenario("events_truthful")
TENANCY = scenario("tenant_isolation")
OPERATIONAL = scenario("operational_headers")
DELIVERY = scenario("webhook_delivery")
HOSTILE = scenario("hostile_inputs", "createLedger", "updateEntry")
RATE_LIMITED = frozenset({OPERATIONAL.name})
"""Runs against a sandbox with rate limits on, so their headers are there to check."""

PROMISE_CASES = [
    Caught("mutable_posted_entry", "entry_state_machine", STATE_MACHINE,
           frozenset({"updateEntry"}), lambda _: r"immutable: a (posted|voided) entry accepted"),
    Caught("pending_resolves_twice", "entry_state_machine", STATE_MACHINE,
           frozenset({"postEntry", "voidEntry"}), lambda _: r"resolves_once: a \w+ entry was"),
    Caught("reversal_unlinked", "entry_state_machine", STATE_MACHINE,
           frozenset({"getEntry"}), lambda _: r"does not link reversed_by=ent_"),
    Caught("refused_entry_applied", "entry_state_machine", STATE_MACHINE,
           frozenset({"listEntries", "getAccountBalance", "listEvents"}),
           lambda _: r"refused: (the refused unbalanced entry exists|refused entries moved)"),
    Caught("available_ignores_pending", "balances_in_time", BALANCES,
           frozenset({"getAccountBalance"}), lambda _: r"kinds: .*available is"),
    Caught("as_of_ignored", "balances_in_time", BALANCES,
           frozenset({"getAccountBalance"}), lambda _: r"as_of: account .* lines effective by then"),
    Caught("desc_running_balance", "balances_in_time", BALANCES,
           frozenset({"listAccountLines"}), lambda _: r"statement: .* balance_after \d+ descending"),
    Caught("pnl_tax_in_net", "report_arithmetic", REPORTS, frozenset({"getProfitAndLoss"}),
           lambda _: r"pnl: net is \d+, the posted lines of the range make"),
    Caught("trial_balance_unsummed", "report_arithmetic", REPORTS, frozenset({"getTrialBalance"}),
           lambda _: r"trial balance: total debits of USD is \d+, its rows sum to"),
    Caught("cash_flow_bucket_dropped", "report_arithmetic", REPORTS, frozenset({"getCashFlow"}),
           lambda _: r"cash flow: bucket .* has inflow/outflow \(0, 0\)"),
    Caught("stale_event_data", "events_truthful", EVENTS, frozenset({"listEvents"}),
           lambda _: r"writes: the entry.posted event \S+ carries ent_\S+ with status 'pending'"),
    Caught("drop_async_posted", "events_truthful", EVENTS, frozenset({"advanceClock"}),
           lambda _: r"asynchronous: no entry.posted event for ent_"),
    Caught("drop_payout_paid", "events_truthful", EVENTS, frozenset({"advanceClock"}),
           lambda _: r"asynchronous: no payout.paid event for po_"),
    Caught("tenant_leak_beyond_reads", "tenant_isolation", TENANCY,
           frozenset({"getPayout", "getSettlement", "getReconciliation", "listEntries",
                      "getEvent", "listPayouts"}),
           lambda _: r"with another tenant's id (answered 200, a made-up id 404|listed)"),
    Caught("repeated_request_id", "operational_headers", OPERATIONAL,
           frozenset({"listLedgers"}), lambda f: rf"request ids: {f.first} answered this request"),
    Caught("correlation_dropped", "operational_headers", OPERATIONAL,
           frozenset({"getLedger", "listLedgers", "createEntry"}),
           lambda _: r"correlation: sent X-Correlation-Id '\S+', the answer echoes None"),
    Caught("rate_limit_stuck", "operational_headers", OPERATIONAL,
           frozenset({"createLedger", "listLedgers", "getLedger"}),
           lambda _: r"rate limits: RateLimit remaining went from (\d+) to \1 within one window"),
    Caught("rate_limit_inconsistent", "operational_headers", OPERATIONAL,
           frozenset({"createLedger", "listLedgers", "getLedger"}),
           lambda _: r"rate limits: RateLimit names policy 'burst', RateLimit-Policy 'default'"),
    Caught("server_error_on_deep_input", "hostile_inputs", HOSTILE,
           frozenset({"createLedger", "updateEntry"}),
           lambda _: r"deep metadata \(30 levels\): answered 500"),
    Caught("retry_new_webhook_id", "webhook_delivery", DELIVERY, frozenset({"retries"}),
           lambda _: r"retries: a retry of event evt_\S+ changed its webhook-id.*msg_fault_"),
    Caught("retry_signature_broken", "webhook_delivery", DELIVERY, frozenset({"signatures"}),
           lambda _: r"signatures: attempt \d+ does not verify"),
    Caught("sequence_scrambled", "webhook_delivery", DELIVERY, frozenset({"sequence"}),
           lambda _: r"sequence: ordered by x-gledger-sequence, the events come in log order"),
]  # fmt: skip


@pytest.fixture(scope="module")
def limited_server() -> Iterator[ServerThread]:
    """A sandbox whose answers carry rate-limit headers (a quota no test comes near)."""
    settings = replace(TEST_SETTINGS, rate_limit=RateLimit(100_000, 3600))
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as running:
        yield running


def server_for(request: pytest.FixtureRequest, run: Narrowed) -> ServerThread:
    name = "limited_server" if run.name in RATE_LIMITED else "server"
    found: ServerThread = request.getfixturevalue(name)
    return found


@contextmanager
def proxied(
    server: ServerThread, fixture: str, fault_name: str
) -> Iterator[tuple[str, str, Fault]]:
    """A fresh tenant behind a proxy with the named promise fault: (URL, API key, the fault)."""
    with proxied_tenant(server, fixture, fault_name, make_promise_fault) as (url, key, fault):
        if isinstance(fault, WebhookRelay):
            fault.own_url = url  # deliveries come back to the proxy, to be relayed
        yield url, key, fault


@pytest.mark.parametrize("case", PROMISE_CASES, ids=[case.fault for case in PROMISE_CASES])
def test_the_promise_check_catches_the_fault(request: pytest.FixtureRequest, case: Caught) -> None:
    server = server_for(request, case.run)
    with proxied(server, case.run.fixture, case.fault) as (url, api_key, fault):
        report = run_kit(url, api_key, case.run)

    assert_caught(report, case, fault)


CONTROLS: list[Narrowed] = list({case.run.name: case.run for case in PROMISE_CASES}.values())


@pytest.mark.parametrize("run", CONTROLS, ids=[run.name for run in CONTROLS])
def test_the_promise_run_passes_without_a_fault(
    request: pytest.FixtureRequest, run: Narrowed
) -> None:
    with proxied(server_for(request, run), run.fixture, "none") as (url, api_key, _):
        report = run_kit(url, api_key, run)

    assert_passes(report, run)


def test_every_promise_fault_has_a_case() -> None:
    assert sorted(case.fault for case in PROMISE_CASES) == sorted(PROMISE_FAULTS)


def answer_to(curl: str | None, api_key: str) -> str:
    """The status the reported curl command gets when run, with the credential it names."""
    assert curl is not None and "$GLEDGER_TOKEN" in curl and api_key not in curl
    done = subprocess.run(
        ["bash", "-c", curl + " -s -o /dev/null -w '%{http_code}'"],
        env={**os.environ, "GLEDGER_TOKEN": api_key},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.stdout or done.stderr


def test_a_5xx_on_a_hostile_input_is_reported_with_a_curl_that_reproduces_it(
    server: ServerThread,
) -> None:
    with proxied(server, "empty", "server_error_on_deep_input") as (url, api_key, _):
        report = run_kit(url, api_key, HOSTILE)
        failure = next(f for f in report.failures if f.operation == "createLedger")
        assert answer_to(failure.curl, api_key) == "500"


def test_a_5xx_found_by_fuzzing_is_reported_with_a_curl_that_reproduces_it(
    server: ServerThread,
) -> None:
    """Whatever shape schemathesis gave the input (deep, wide, long strings, odd characters)."""
    crash = ServerErrorOnDeepInput(depth=6, length=300, keys=20)
    fuzzed = Narrowed("fuzz_5xx", ("fuzz",), frozenset({"not_a_server_error"}),
                      frozenset({"createLedger", "updateLedger"}))  # fmt: skip
    with proxied_tenant(server, "empty", crash.name, lambda *_, **__: crash) as (url, key, fault):
        report = run_kit(url, key, fuzzed)
        failures = [f for f in report.failures if f.check == "not_a_server_error"]
        assert fault.hits > 0 and failures, report.failures
        for failure in failures:
            assert answer_to(failure.curl, key) == "500", failure.operation
