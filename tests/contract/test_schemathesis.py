"""Schemathesis over every operation of the spec, against a real server on loopback.

Positive and negative data for each operation, then stateful sequences through the spec's
OpenAPI links (ledger -> account -> entry -> balance / reverse). Every response must conform
to the spec, and no input may yield a 5xx. ``GLEDGER_FUZZ_EXAMPLES`` sets the examples per
operation (CI uses the default).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth

from tests.conftest import ServerThread, new_sandbox

# ``ignored_auth`` sends a deliberately bad credential, but the configured Authorization header
# replaces it, so it would flag every operation; tests/api/test_errors.py proves the 401s
# (missing, unknown and non-bearer credentials) instead.
EXAMPLES = int(os.environ.get("GLEDGER_FUZZ_EXAMPLES", "25"))
# Deleting or re-seeding the fuzzer's own tenant would turn the rest of the run into 401s;
# both are exercised by tests/api/test_auth_and_tenants.py instead.
SELF_DESTRUCTIVE = ["deleteTenant", "resetTenant"]
# The SSE stream runs until its bounds: every fuzzed call gets a short ``timeout`` if it has
# none, and the stateful run (which cannot set one) leaves it out; tests/api/test_events.py
# reads it with a real SSE client.
STREAM = "streamEvents"


@pytest.fixture(scope="module")
def fuzz_target(server: ServerThread) -> Iterator[tuple[str, dict[str, str]]]:
    box = new_sandbox(server, fixture="merchant", seed=3)
    box.client.close()
    yield server.url, {"Authorization": f"Bearer {box.credentials['api_key']}"}


def _schema(url: str, headers: dict[str, str]) -> Any:
    schema = schemathesis.openapi.from_url(f"{url}/v1/openapi.json")
    schema.config.update(base_url=url, headers=headers)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES,
        deterministic=True,
    )
    return schema


def _negatable(operation: Any) -> bool:
    """Whether the operation takes any input (path-item parameters included) to make invalid."""
    inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(container) for container in inputs)


def _operation_ids() -> list[str]:
    from gledger_sandbox.specfile import bundle

    return sorted(
        op["operationId"]
        for item in bundle()["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
        and "operationId" in op
        and op["operationId"] not in SELF_DESTRUCTIVE
    )


# One pytest test per operation and mode. (Schemathesis' own pytest integration does not run on
# pytest 9; a Hypothesis test over the operation's strategy is the same generation underneath.)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("operation_id", _operation_ids())
def test_every_operation_conforms_and_never_fails(
    fuzz_target: tuple[str, dict[str, str]], operation_id: str, mode: GenerationMode
) -> None:
    url, headers = fuzz_target
    operation = _schema(url, headers).find_operation_by_id(operation_id)

    if mode is GenerationMode.NEGATIVE and not _negatable(operation):
        pytest.skip(f"{operation_id} takes no input to make invalid")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        if operation_id == STREAM:
            case.query = {"timeout": 0.2, **(case.query or {})}
        case.call_and_validate(excluded_checks=[ignored_auth])

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip(f"schemathesis can make no input of {operation_id} invalid")


def test_stateful_sequences_through_links(fuzz_target: tuple[str, dict[str, str]]) -> None:
    url, headers = fuzz_target
    schema = _schema(url, headers).exclude(operation_id=[*SELF_DESTRUCTIVE, STREAM])
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response, additional_checks=additional_checks, excluded_checks=[ignored_auth]
            )

        def setup(self) -> None:
            # Each sequence starts from the same empty sandbox, or Hypothesis sees flaky data.
            reset = httpx.post(
                f"{url}/v1/sandbox/reset", json={"fixture": "empty"}, headers=headers
            )
            assert reset.status_code == 200, reset.text

    Machine.TestCase.settings = settings(
        max_examples=max(5, EXAMPLES // 2),
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Machine.TestCase().runTest()
