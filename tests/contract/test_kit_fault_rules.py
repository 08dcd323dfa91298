"""A tenant's own fault rules are not findings: the kit skips the answers they forced."""

from __future__ import annotations

import io

from gledger_sandbox.contract import ContractOptions, run_contract
from tests.conftest import ServerThread, new_sandbox


def test_forced_5xx_of_a_fault_rule_are_not_server_errors(server: ServerThread) -> None:
    box = new_sandbox(server)
    try:
        for status in (500, 503):
            rule = {
                "match": {"operation_id": "listLedgers"},
                "effect": {"type": "error", "status": status},
                "probability": 0.5,
                "seed": status,
            }
            assert box.client.post("/v1/sandbox/faults", json=rule).status_code == 201
        summary = io.StringIO()
        options = ContractOptions(
            base_url=server.url,
            api_key=box.credentials["api_key"],
            operations=frozenset({"listLedgers"}),
            phases=("fuzz",),
            examples=10,
            seed=5,
            quiet=True,
        )
        report = run_contract(options, summary)
        assert report.ok, summary.getvalue()
        forced = box.client.get("/v1/sandbox/fault-injections", params={"limit": 500}).json()
        assert forced["data"], "the rules never fired: the test proves nothing"
    finally:
        box.client.close()
