"""The report is honest: a check that met nothing to check is skipped, and JUnit totals add up.

A narrowed fuzz run of ``getHealth`` (no entries in its answer, no input to make invalid, so
no error either) against a fresh tenant: ``request_id`` ran there, ``entries_balance`` and
``problem_json`` had nothing to look at and must not count as passed.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from gledger_sandbox.contract import ContractOptions, run_contract
from tests.conftest import ServerThread, new_sandbox

COUNTS = ("tests", "failures", "errors", "skipped", "time")


def test_a_check_without_its_data_is_skipped_not_passed(
    server: ServerThread, tmp_path: Path
) -> None:
    box = new_sandbox(server)
    box.client.close()
    junit = tmp_path / "not" / "there" / "yet" / "contract.xml"
    options = ContractOptions(
        base_url=server.url,
        api_key=box.credentials["api_key"],
        seed=1,
        phases=("fuzz",),
        operations=frozenset({"getHealth"}),
        checks=frozenset({"request_id", "entries_balance", "problem_json"}),
        examples=3,
        junit_xml=junit,
    )

    report = run_contract(options, io.StringIO())

    ran = {o.check for o in report.outcomes if o.skipped is None}
    assert ran == {"request_id"}
    assert {check for check, _ in report.skipped} == {"entries_balance", "problem_json"}
    root = ET.parse(junit).getroot()
    (suite,) = root
    for element in (root, suite):
        assert all(element.get(name) is not None for name in COUNTS), element.attrib
    assert root.get("tests") == suite.get("tests") == str(len(report.outcomes))
    assert root.get("skipped") == suite.get("skipped") == "2"
    assert float(suite.get("time", "-1")) > 0
    assert len(list(suite.iter("skipped"))) == 2
