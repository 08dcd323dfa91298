"""A check that cannot fail is a defect: each fault of the proxy is caught by the right check.

For every fault, the kit runs against the fault proxy in front of a fresh tenant of the sandbox,
narrowed to the phases, checks and operations the fault concerns (few examples, a fixed seed,
so a run takes seconds). The run must fail, every failure must be the expected check's, on the
operation the fault broke, with a message naming what it broke; and the fault must really have
fired. The same narrowed run with the pass-through fault (`none`) must pass, with the check run
rather than skipped: the failure is the fault's doing, not the kit's or the sandbox's.
Once more through the command line: exit status 1 and a JUnit ``<failure type=...>``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gledger_sandbox.contract import CHECKS, ContractOptions, ContractReport, run_contract
from tests.conftest import ServerThread, new_sandbox
from tests.contract.faults.faults import FAULTS, make_fault
from tests.contract.faults.proxy import Fault, fault_proxy

pytestmark = pytest.mark.slow

SEED = 1
EXAMPLES = 3
CLI = [sys.executable, "-m", "gledger_sandbox", "contract"]


@dataclass(frozen=True)
class Narrowed:
    """A narrowed run of the kit: what it runs, and the fixture of the tenant it runs on."""

    name: str
    phases: tuple[str, ...]
    checks: frozenset[str]
    operations: frozenset[str] | None = None
    fixture: str = "empty"


def scenario(check: str, *operations: str) -> Narrowed:
    """The ledger phase's scenario for ``check`` alone (its lists narrowed to ``operations``)."""
    return Narrowed(check, ("ledger",), frozenset({check}), frozenset(operations) or None)


# The response checks need responses with errors: a fuzzed ledger read of made-up ids (404s).
RESPONSES = Narrowed(
    "response_checks",
    ("fuzz",),
    frozenset({"request_id", "problem_json", "not_a_server_error"}),
    frozenset({"getLedger"}),
)
# Schemathesis' own checks: a list answers 200 to positive data, 400 to negative.
BUILT_INS = Narrowed(
    "schemathesis_checks",
    ("fuzz",),
    frozenset(
        {"response_schema_conformance", "status_code_conformance", "content_type_conformance"}
    ),
    frozenset({"listLedgers"}),
)
# Entries read back need entries to read: the merchant fixture has four weeks of them.
ENTRY_READS = Narrowed(
    "entry_reads",
    ("fuzz",),
    frozenset({"entries_balance"}),
    frozenset({"getEntry", "listEntries"}),
    fixture="merchant",
)
REPLAYS = scenario("idempotent_replay")
# Reads of the kit's own resources: the ledger phase's page walks make a payout (and the
# books) first, the fuzz phase then reads them by the ids the spec's links name.
OWN_READS = Narrowed(
    "own_reads",
    ("ledger", "fuzz"),
    frozenset({"response_schema_conformance", "pages_complete"}),
    frozenset({"listPayouts", "getPayout", "getProfitAndLoss"}),
)


@dataclass(frozen=True)
class Caught:
    """A fault, the check that must catch it, where, and what its message must say."""

    fault: str
    check: str
    run: Narrowed
    operations: frozenset[str]
    """The failure is filed under one of these operations (or scenario parts)."""
    evidence: Callable[[Any], str]
    """A regular expression the failure's message matches, given the fault (and its state)."""


CASES = [
    Caught("drop_request_id", "request_id", RESPONSES, frozenset({"getLedger"}),
           lambda _: r"no X-GLedger-Request-Id"),
    Caught("plain_json_errors", "problem_json", RESPONSES, frozenset({"getLedger"}),
           lambda _: r"\b4\d\d\b.*application/json.*application/problem\+json"),
    Caught("answer_500", "not_a_server_error", RESPONSES, frozenset({"getLedger"}),
           lambda _: r"\b500\b"),
    Caught("drop_required_field", "response_schema_conformance", BUILT_INS,
           frozenset({"listLedgers"}), lambda _: r"\"has_more\" is a required property"),
    Caught("malformed_single_reads", "response_schema_conformance", OWN_READS,
           frozenset({"getPayout", "getProfitAndLoss"}), lambda _: r"\"(net|status)\" is a required property"),
    Caught("undocumented_status", "status_code_conformance", BUILT_INS,
           frozenset({"listLedgers"}), lambda _: r"\b203\b"),
    Caught("mislabelled_json", "content_type_conformance", BUILT_INS,
           frozenset({"listLedgers"}), lambda _: r"Content-Type.*text/plain"),
    Caught("alter_line_amount", "entries_balance", ENTRY_READS,
           frozenset({"getEntry", "listEntries"}),
           lambda fault: rf"{fault.entry_ids[0]}\b.*debits \d+ != credits \d+"),
    Caught("balance_off_by_one", "balance_matches_lines", scenario("balance_matches_lines"),
           frozenset({"getAccountBalance", "listLedgerBalances"}),
           lambda fault: rf"{fault.account_id}\b.*posted"),
    Caught("skip_item_between_pages", "pages_complete",
           scenario("pages_complete", "listAccounts"), frozenset({"listAccounts"}),
           lambda fault: rf"never came.*{fault.skipped[0]['id']}"),
    Caught("repeat_item_between_pages", "pages_complete",
           scenario("pages_complete", "listAccounts"), frozenset({"listAccounts"}),
           lambda fault: rf"{fault.repeated[0]['id']}.*again"),
    Caught("different_replay_body", "idempotent_replay", REPLAYS,
           frozenset({"createLedger", "createAccount", "createEntry", "postEntry"}),
           lambda _: r"replay.*\"replayed\":\"differently\""),
    Caught("accept_reused_key", "idempotent_replay", REPLAYS,
           frozenset({"createLedger", "createAccount", "createEntry"}),
           lambda _: r"idempotency\.key_reused.*\b201\b"),
    Caught("drop_event", "event_sequence", scenario("event_sequence"), frozenset({"listEvents"}),
           lambda fault: rf"entry\.posted\b.*{fault.dropped['data']['id']}"),
    Caught("events_out_of_order", "event_sequence", scenario("event_sequence"),
           frozenset({"listEvents"}), lambda _: r"sequence \d+.*follows \d+"),
    Caught("auth_bypass", "auth_enforced", scenario("auth_enforced"),
           frozenset({"listLedgers", "getLedger", "listEntries"}),
           lambda _: r"no credential.*\b401\b.*\b200\b"),
    Caught("tenant_leak", "auth_enforced", scenario("auth_enforced"),
           frozenset({"getLedger", "getAccount", "getEntry"}),
           lambda _: r"another tenant.*\b404\b.*\b200\b"),
    Caught("scope_ignored", "auth_enforced", scenario("auth_enforced"),
           frozenset({"getTenant", "createLedger", "createEntry"}),
           lambda _: r"ledger\.read token.*403 insufficient_scope"),
    Caught("revoke_ignored", "auth_enforced", scenario("auth_enforced"),
           frozenset({"listLedgers"}), lambda _: r"a revoked key must answer 401"),
    Caught("own_rotation_ignored", "auth_enforced", scenario("auth_enforced"),
           frozenset({"listLedgers"}), lambda _: r"the API key a rotation replaced must answer 401"),
    Caught("wrong_webhook_secret", "webhook_signature", scenario("webhook_signature"),
           frozenset({"deliveries"}),
           lambda _: r"does not verify with the endpoint's secret"),
]  # fmt: skip


def test_every_check_of_the_kit_has_a_fault_and_every_fault_a_check() -> None:
    # The promise checks' cases live beside their faults (imported here: that module imports this one).
    from tests.contract.faults.test_promises_caught import PROMISE_CASES

    assert sorted({case.check for case in CASES + PROMISE_CASES}) == sorted(CHECKS)
    assert sorted(case.fault for case in CASES) == sorted(set(FAULTS) - {"none"})


@contextmanager
def proxied_tenant(
    server: ServerThread, fixture: str, fault_name: str, make: Callable[..., Fault] = make_fault
) -> Iterator[tuple[str, str, Fault]]:
    """A fresh tenant behind a proxy with the named fault: (proxy URL, API key, the fault)."""
    box = new_sandbox(server, fixture=fixture, seed=SEED)
    box.client.close()
    api_key = str(box.credentials["api_key"])
    fault = make(fault_name, api_key=api_key)
    with fault_proxy(server.url, fault) as proxy:
        yield proxy.url, api_key, fault


def run_kit(url: str, api_key: str, run: Narrowed) -> ContractReport:
    options = ContractOptions(
        base_url=url,
        api_key=api_key,
        checks=run.checks,
        phases=run.phases,
        operations=run.operations,
        examples=EXAMPLES,
        seed=SEED,
        quiet=True,
    )
    return run_contract(options)


UNMADE_BY_DESIGN = "the kit could make no fault_id"
"""Fault rules change a whole tenant (``TENANT_WIDE``): the kit makes none on a tenant not its
own, so it cannot try another tenant's reads of one (said as a skip)."""


def skips_of(report: ContractReport, check: str) -> list[tuple[str, str]]:
    return [
        skip
        for skip in report.skipped
        if skip[0] == check and not skip[1].startswith(UNMADE_BY_DESIGN)
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.fault for case in CASES])
def test_the_check_catches_the_fault(server: ServerThread, case: Caught) -> None:
    with proxied_tenant(server, case.run.fixture, case.fault) as (url, api_key, fault):
        report = run_kit(url, api_key, case.run)

    assert_caught(report, case, fault)


def assert_caught(report: ContractReport, case: Caught, fault: Fault) -> None:
    """The fault fired, and the run failed on the case's check alone, where and as it says."""
    assert fault.hits > 0, f"{case.fault} never met what it breaks"
    assert not report.ok
    blamed = {failure.check for failure in report.failures}
    assert blamed == {case.check}, report.failures
    assert skips_of(report, case.check) == []
    on_the_operation = [f for f in report.failures if f.operation in case.operations]
    assert on_the_operation, [f.operation for f in report.failures]
    evidence = case.evidence(fault)
    assert any(re.search(evidence, f.message, re.DOTALL) for f in on_the_operation), (
        evidence,
        [f.message for f in on_the_operation],
    )


CONTROLS = list({case.run.name: case.run for case in CASES}.values())


@pytest.mark.parametrize("run", CONTROLS, ids=[run.name for run in CONTROLS])
def test_the_same_run_passes_without_a_fault(server: ServerThread, run: Narrowed) -> None:
    with proxied_tenant(server, run.fixture, "none") as (url, api_key, _):
        report = run_kit(url, api_key, run)

    assert_passes(report, run)


def assert_passes(report: ContractReport, run: Narrowed) -> None:
    """The narrowed run passed, with each of its checks run rather than skipped."""
    assert report.ok, report.failures
    for check in run.checks:
        assert skips_of(report, check) == []
        ran = [o for o in report.outcomes if o.check == check]
        assert ran, f"{check} never ran in the narrowed run"


def test_the_command_exits_1_and_reports_the_failure_in_junit(
    server: ServerThread, tmp_path: Path
) -> None:
    junit = tmp_path / "contract.xml"
    with proxied_tenant(server, "empty", "drop_request_id") as (url, api_key, fault):
        done = subprocess.run(
            [*CLI, "--base-url", url, "--api-key", api_key,
             "--phases", "fuzz", "--operations", "getLedger",
             "--checks", ",".join(sorted(RESPONSES.checks)),
             "--examples", str(EXAMPLES), "--seed", str(SEED), "--quiet",
             "--junit-xml", str(junit)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    assert fault.hits > 0
    failures = list(ET.parse(junit).getroot().iter("failure"))
    assert {failure.get("type") for failure in failures} == {"request_id"}
    cases = [
        case
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.find("failure") is not None
    ]
    assert [(c.get("classname"), c.get("name")) for c in cases] == [("request_id", "getLedger")]
    assert "X-GLedger-Request-Id" in (failures[0].text or "")
    assert "curl -X GET" in (failures[0].text or "")
