"""What a partner selects is what runs: a misspelt name is refused, an empty selection says so.

Each run is narrowed to a phase or two against a fresh tenant of the test server, so it takes
about a second.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from gledger_sandbox.contract import ContractOptions, ContractUsageError, run_contract
from tests.conftest import ServerThread, new_sandbox

SEED = 5


def _options(server: ServerThread, **extra: Any) -> ContractOptions:
    box = new_sandbox(server)
    box.client.close()
    return ContractOptions(
        base_url=server.url, api_key=box.credentials["api_key"], seed=SEED, **extra
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

    report = run_contract(options, io.StringIO())

    reasons = {reason for check, reason in report.skipped if check == "request_id"}
    assert any("no OpenAPI link joins" in reason for reason in reasons), report.skipped
    assert report.passed == 0
