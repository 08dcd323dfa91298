"""What a partner selects is what runs: a misspelt name is refused, an empty selection says so.

Each run is narrowed to a phase or two against a fresh tenant of the test server, so it takes
about a second.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from gledger_sandbox.contract import (
    ContractOptions,
    ContractReport,
    ContractUsageError,
    run_contract,
)
from gledger_sandbox.contract.spec import load_spec
from tests.conftest import ServerThread, new_sandbox
from tests.contract.faults.proxy import Answer, Call, Fault, fault_proxy

SEED = 5


def _options(server: ServerThread, **extra: Any) -> ContractOptions:
    box = new_sandbox(server)
    box.client.close()
    return ContractOptions(
        base_url=server.url, api_key=box.credentials["api_key"], **{"seed": SEED, **extra}
    )


def test_a_misspelt_operation_is_a_usage_error_with_a_hint(server: ServerThread) -> None:
    options = _options(server, operations=frozenset({"createEntri"}))
    excluded = _options(server, exclude_operations=frozenset({"listledgers"}))

    with pytest.raises(ContractUsageError, match=r"createEntri \(did you mean createEntry\?\)"):
        run_contract(options, io.StringIO())
    with pytest.raises(ContractUsageError, match=r"did you mean listLedgers\?"):
        run_contract(excluded, io.StringIO())


def test_operations_without_links_skip_the_stateful_phase_with_the_reason(
    server: ServerThread,
) -> None:
    options = _options(server, operations=frozenset({"getHealth"}), phases=("stateful",))
    summary = io.StringIO()

    report = run_contract(options, summary)

    reasons = {reason for check, reason in report.skipped if check == "request_id"}
    assert any("no OpenAPI link joins" in reason for reason in reasons), report.skipped
    assert report.passed == 0
    assert "contract checked nothing against" in summary.getvalue()


def _clock_runs(server: ServerThread, own_tenant: bool) -> tuple[list[tuple[str, str]], str]:
    """A fuzz run leaving out every operation but the clock's; the skips and the clock after."""
    box = new_sandbox(server, clock_start="2025-01-01T00:00:00Z")
    every = set(load_spec().operations)
    options = ContractOptions(
        base_url=server.url,
        api_key=box.credentials["api_key"],
        seed=SEED,
        phases=("fuzz",),
        exclude_operations=frozenset(every - {"advanceClock", "getClock"}),
        examples=5,
        own_tenant=own_tenant,
    )
    report = run_contract(options, io.StringIO())
    now = box.client.get("/v1/sandbox/clock").json()["now"]
    box.client.close()
    assert report.ok
    return report.skipped, str(now)


def test_a_partners_tenant_clock_is_left_alone_unless_the_tenant_is_the_runs_own(
    server: ServerThread,
) -> None:
    spared, clock_after = _clock_runs(server, own_tenant=False)
    _, moved_clock = _clock_runs(server, own_tenant=True)

    reasons = [reason for check, reason in spared if check == "not_a_server_error"]
    assert any(r.startswith("advanceClock changes the whole tenant") for r in reasons), spared
    assert clock_after.startswith("2025-01-01T00:00:00")
    assert not moved_clock.startswith("2025-01-01T00:00:00")


def _through_proxy(
    server: ServerThread, fault: Fault, api_key: str, **extra: Any
) -> tuple[ContractReport, io.StringIO]:
    """A run through ``fault`` in front of the server; the report and the summary."""
    summary = io.StringIO()
    with fault_proxy(server.url, fault) as proxy:
        options = ContractOptions(base_url=proxy.url, api_key=api_key, seed=SEED, **extra)
        return run_contract(options, summary), summary


class CountsCreatedEndpoints(Fault):
    """Changes nothing; counts the webhook endpoints the sandbox created."""

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method == "POST" and call.path == "/v1/webhook-endpoints" and answer.status == 201:
            self.hits += 1
        return answer


def test_fuzzing_leaves_no_webhook_endpoint_posting_to_generated_urls(
    server: ServerThread,
) -> None:
    box = new_sandbox(server)
    counter = CountsCreatedEndpoints()
    report, _ = _through_proxy(
        server,
        counter,
        box.credentials["api_key"],
        phases=("fuzz", "stateful"),
        operations=frozenset({"createWebhookEndpoint", "getWebhookEndpoint"}),
        examples=10,
    )
    left = box.client.get("/v1/webhook-endpoints").json()["data"]
    box.client.close()

    assert report.ok and counter.hits > 0
    assert left == []


class EveryEndpointCreationReplaysTheFirst(Fault):
    """Answers every later webhook endpoint creation with the first one's 201, as a replay.

    (As a target does when the fuzzer draws the same ``Idempotency-Key`` and body again.) The
    state machine's linked DELETE may have removed that first endpoint since: the 404 that
    follows is the replay's doing, not a created resource gone missing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.first: bytes | None = None

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != "POST" or call.path != "/v1/webhook-endpoints" or answer.status != 201:
            return answer
        if self.first is None:
            self.first = answer.body
            return answer
        answer.headers["idempotent-replayed"] = "true"
        answer.body = self.first
        answer.headers["content-length"] = str(len(self.first))
        self.hits += 1
        return answer


def test_a_replayed_creation_is_not_a_lost_resource(server: ServerThread) -> None:
    box = new_sandbox(server)
    box.client.close()
    fault = EveryEndpointCreationReplaysTheFirst()
    report, summary = _through_proxy(
        server,
        fault,
        box.credentials["api_key"],
        phases=("stateful",),
        operations=frozenset(
            {"createWebhookEndpoint", "deleteWebhookEndpoint", "getWebhookEndpoint"}
        ),
        checks=frozenset({"status_code_conformance"}),
        examples=30,
    )

    assert fault.hits > 0
    assert report.ok, summary.getvalue()


def test_a_sequence_hypothesis_cannot_replay_ends_the_stateful_phase_with_the_reason(
    server: ServerThread,
) -> None:
    # With these operations and examples, the endpoints' bundle is sometimes empty on a replay
    # where it was not the first time (FlakyStrategyDefinition), which used to end the run.
    # Which seeds meet it depends on the spec and the server's answers (seeds 1, 4, 6 and 8
    # did when this was written): the first of them that does must be reported, not raised.
    stopped: list[str] = []
    for seed in (1, 4, 6, 8, 2, 3):
        options = _options(
            server,
            seed=seed,
            phases=("stateful",),
            operations=frozenset(
                {"createWebhookEndpoint", "deleteWebhookEndpoint", "getWebhookEndpoint"}
            ),
            examples=40,
        )
        report = run_contract(options, io.StringIO())
        assert report.ok
        assert report.passed > 0
        stopped = [reason for _, reason in report.skipped if "stopped early" in reason]
        if stopped:
            break
    assert stopped and "findings so far are kept" in stopped[0]
