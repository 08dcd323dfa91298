"""JUnit XML for CI: a suite per phase, a case per check and operation (or scenario)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from gledger_sandbox.contract.options import PHASES
from gledger_sandbox.contract.report import ContractReport, Outcome


def _counts(outcomes: list[Outcome], seconds: float) -> dict[str, str]:
    """The attributes CI tools total: tests, failures, errors, skipped, time."""
    return {
        "tests": str(len(outcomes)),
        "failures": str(sum(1 for o in outcomes if o.failure is not None)),
        "errors": "0",
        "skipped": str(sum(1 for o in outcomes if o.skipped is not None)),
        "time": f"{seconds:.3f}",
    }


def junit_xml(report: ContractReport) -> ET.ElementTree[ET.Element]:
    """``<testsuites>`` / ``<testsuite name=PHASE>`` / ``<testcase classname=CHECK name=...>``."""
    root = ET.Element(
        "testsuites", {"name": "gledger-contract", **_counts(list(report.outcomes), report.seconds)}
    )
    seconds = dict(report.phase_seconds)
    # The kit's phases in their order, then any other (the proxy's).
    others = sorted({o.phase for o in report.outcomes} - set(PHASES))
    for phase in (*PHASES, *others):
        outcomes = [o for o in report.outcomes if o.phase == phase]
        if not outcomes:
            continue
        suite = ET.SubElement(
            root, "testsuite", {"name": phase, **_counts(outcomes, seconds.get(phase, 0.0))}
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("seed", str(report.seed)),
            ("base_url", report.base_url),
            ("cut_short", str(report.cut_short).lower()),
        ):
            ET.SubElement(properties, "property", name=name, value=value)
        for outcome in outcomes:
            case = ET.SubElement(suite, "testcase", classname=outcome.check, name=outcome.name)
            if outcome.failure is not None:
                first_line = outcome.failure.message.splitlines()[0]
                element = ET.SubElement(
                    case, "failure", type=outcome.check, message=first_line[:500]
                )
                details = outcome.failure.message
                if outcome.occurrences > 1:
                    details += f"\n(seen {outcome.occurrences} times; the first is shown)"
                if outcome.failure.curl:
                    details += f"\n\nReproduce with:\n{outcome.failure.curl}"
                element.text = details
            elif outcome.skipped is not None:
                ET.SubElement(case, "skipped", message=outcome.skipped)
    return ET.ElementTree(root)


def write_junit_xml(report: ContractReport, path: str | Path) -> None:
    tree = junit_xml(report)
    ET.indent(tree)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
