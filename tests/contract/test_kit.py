"""The contract kit against the sandbox itself, through its public entry points.

The Python API runs the whole kit against a real server on loopback with a fixed seed: every
operation of the spec fuzzed with positive and negative data, stateful sequences through the
spec's OpenAPI links, then every ledger check. This is the suite's one schemathesis run: new
operations are fuzzed automatically, so they must never answer 5xx and must conform to their
documented responses (``schemathesis.toml`` lists which statuses count as valid rejections).
``GLEDGER_FUZZ_EXAMPLES`` sets the examples per operation (CI uses the default). The command
is run once as a subprocess, in-process mode, for its exit statuses and JUnit XML.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gledger_sandbox.contract import CHECKS, ContractOptions, run_contract
from gledger_sandbox.contract.spec import load_spec
from tests.conftest import ServerThread, new_sandbox
from tests.contract.broken import broken_target

EXAMPLES = int(os.environ.get("GLEDGER_FUZZ_EXAMPLES", "25"))
SEED = 20240501
CLI = [sys.executable, "-m", "gledger_sandbox", "contract"]
# Operations without any input to make invalid get no negative data: the only skips allowed.
NOTHING_TO_NEGATE = "schemathesis could make no negative data for "
# The test server has rate limits off, so there are no rate-limit headers to check.
ALLOWED_SKIPS = (
    NOTHING_TO_NEGATE,
    "the target sent no RateLimit headers",
    "the kit could make no fault_id",  # fault rules are tenant-wide: not made on a shared tenant
)


@pytest.mark.slow
def test_the_kit_passes_against_the_sandbox(server: ServerThread, tmp_path: Path) -> None:
    box = new_sandbox(server, fixture="merchant", seed=3)
    box.client.close()
    summary = io.StringIO()
    options = ContractOptions(
        base_url=server.url,
        api_key=box.credentials["api_key"],
        examples=EXAMPLES,
        seed=SEED,
        junit_xml=tmp_path / "contract.xml",
        quiet=True,
        own_tenant=True,  # a fresh tenant: advanceClock is fuzzed too
    )

    report = run_contract(options, summary)

    assert report.ok, summary.getvalue()
    fuzzed = {o.name for o in report.outcomes if o.phase == "fuzz" and o.skipped is None}
    # Every operation, those that would end the kit's own tenant too (on throwaway tenants).
    assert fuzzed == set(load_spec().operations)
    ran = {(o.phase, o.check) for o in report.outcomes if o.skipped is None}
    assert {("stateful", "response_schema_conformance"), ("stateful", "request_id")} <= ran
    # Entries read back are checked where entries are read back (the stateful sequences of
    # this seed read none: a check that met no entry is not a pass).
    assert {("fuzz", "entries_balance"), ("ledger", "entries_balance")} <= ran
    assert {check for phase, check in ran if phase == "ledger"} >= set(CHECKS[4:])
    assert all(reason.startswith(ALLOWED_SKIPS) for _, reason in report.skipped), report.skipped
    suites = ET.parse(tmp_path / "contract.xml").getroot()
    assert [suite.get("name") for suite in suites] == ["fuzz", "stateful", "ledger"]
    print(f"contract kit against the sandbox: {report.seconds:.1f} s, {report.passed} passed")


def _command(*args: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], ET.Element]:
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [*CLI, *args, "--junit-xml", str(junit)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, ET.parse(junit).getroot() if junit.exists() else ET.Element("none")


def test_the_command_checks_an_in_process_sandbox(tmp_path: Path) -> None:
    done, junit = _command("--phases", "ledger", "--seed", "7", tmp_path=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "contract passed" in done.stdout
    (suite,) = junit
    assert suite.get("name") == "ledger" and suite.get("failures") == "0"
    classes = {case.get("classname") for case in suite.iter("testcase")}
    assert {"pages_complete", "event_sequence", "webhook_signature", "request_id"} <= classes
    # The in-process sandbox sends rate-limit headers, so their part of the check runs.
    (limits,) = [
        case
        for case in suite.iter("testcase")
        if (case.get("classname"), case.get("name")) == ("operational_headers", "rate limits")
    ]
    assert limits.find("skipped") is None and limits.find("failure") is None


def test_the_command_fails_against_a_broken_target(tmp_path: Path) -> None:
    with broken_target() as url:
        done, junit = _command(
            "--base-url", url, "--api-key", "gls_any", "--phases", "ledger", tmp_path=tmp_path
        )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "request_id failed on" in done.stdout and "reproduce:" in done.stdout
    failures = list(junit.iter("failure"))
    assert {f.get("type") for f in failures} >= {"request_id", "pages_complete"}
    assert any("curl -X" in (f.text or "") for f in failures)
    assert "$GLEDGER_TOKEN" in done.stdout and "gls_any" not in done.stdout


def test_the_command_refuses_an_unreachable_target_or_bad_usage(tmp_path: Path) -> None:
    unreachable, _ = _command(
        "--base-url", "http://127.0.0.1:9", "--api-key", "k", tmp_path=tmp_path
    )
    unknown_check, _ = _command("--checks", "no_such_check", tmp_path=tmp_path)

    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr
    assert unknown_check.returncode == 2 and "no_such_check" in unknown_check.stderr


def test_a_spent_time_budget_is_reported_as_skipped_work(server: ServerThread) -> None:
    box = new_sandbox(server)
    box.client.close()
    summary = io.StringIO()
    options = ContractOptions(
        base_url=server.url, api_key=box.credentials["api_key"], time_budget=1.0, seed=SEED
    )

    report = run_contract(options, summary)

    assert report.cut_short and report.ok
    assert ("not_a_server_error", "time budget spent") in report.skipped
    assert "WARNING: the time budget ran out" in summary.getvalue()
    assert "contract passed what the time budget let it run" in summary.getvalue()


def test_the_kit_authenticates_with_an_oauth_client(server: ServerThread) -> None:
    box = new_sandbox(server)
    box.client.close()
    summary = io.StringIO()
    options = ContractOptions(
        base_url=server.url,
        client_id=box.credentials["client_id"],
        client_secret=box.credentials["client_secret"],
        phases=("ledger",),
        checks=frozenset({"idempotent_replay", "auth_enforced", "request_id"}),
        seed=SEED,
    )

    report = run_contract(options, summary)

    assert report.ok, summary.getvalue()
    assert {o.check for o in report.outcomes if o.skipped is None} == options.checks
    assert "$GLEDGER_TOKEN" not in summary.getvalue()  # no failure, so no curl at all
