"""The fuzz phase over several worker processes sends the same cases, and finds the same, as one.

A fault proxy answers 500 to every write whose generated ``name`` is longer than three
characters, so which case fails first (its curl) and how many do depend on exactly what was
drawn: one process and three must report them identically for one seed.
"""

from __future__ import annotations

import io
import re

import pytest

from gledger_sandbox.contract import ContractOptions, ContractReport, run_contract
from tests.conftest import ServerThread, new_sandbox
from tests.contract.faults.proxy import Answer, Call, Fault, fault_proxy

pytestmark = pytest.mark.slow

OPERATIONS = frozenset(
    {"createLedger", "updateLedger", "listLedgers", "createAccount", "advanceClock"}
)


class LongNamesCrash(Fault):
    name = "long_names_crash"

    def response(self, call: Call, answer: Answer) -> Answer:
        body = call.json()
        long_name = isinstance(body, dict) and len(str(body.get("name", ""))) > 3
        if call.method in ("POST", "PATCH") and long_name:
            self.hits += 1
            return Answer(500, answer.headers, answer.body)
        return answer


def _run(server: ServerThread, workers: int) -> tuple[ContractReport, str, int]:
    box = new_sandbox(server)
    box.client.close()
    fault = LongNamesCrash()
    with fault_proxy(server.url, fault) as proxy:
        options = ContractOptions(
            base_url=proxy.url,
            api_key=box.credentials["api_key"],
            operations=OPERATIONS,
            phases=("fuzz",),
            examples=10,
            seed=11,
            quiet=True,
            own_tenant=True,
            workers=workers,
        )
        return run_contract(options, io.StringIO()), proxy.url, fault.hits


def _findings(report: ContractReport, url: str) -> list[tuple[str, str, str, int, str]]:
    return sorted(
        (
            o.check,
            o.name,
            "failed" if o.failure else "skipped" if o.skipped else "passed",
            o.occurrences,
            re.sub(re.escape(url), "URL", o.failure.curl or "") if o.failure else "",
        )
        for o in report.outcomes
    )


def test_workers_send_the_cases_one_process_sends(server: ServerThread) -> None:
    alone, alone_url, alone_hits = _run(server, workers=1)
    shared, shared_url, shared_hits = _run(server, workers=3)

    assert alone_hits > 0 and not alone.ok
    assert _findings(shared, shared_url) == _findings(alone, alone_url)
    assert shared_hits == alone_hits
    assert {o.name for o in shared.outcomes if o.skipped is None} == OPERATIONS
