"""What a person reads: progress while the kit runs, then a summary to act on."""

from __future__ import annotations

import sys
import textwrap
from typing import TextIO

from gledger_sandbox.contract.report import ContractReport, Failure


class Console:
    """Writes progress (unless quiet) and the summary to ``out`` (standard output by default)."""

    def __init__(self, out: TextIO | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def progress(self, text: str) -> None:
        if not self.quiet:
            self._write(text)

    def failure(self, phase: str, failure: Failure) -> None:
        self.progress(f"  FAIL {failure.check} on {failure.operation} ({phase})")

    def summary(self, report: ContractReport, what: str | None = None) -> None:
        """The findings, what was skipped, and a verdict; ``what`` names a run that is not the
        kit's own (the proxy), whose verdict has no seed to rerun with."""
        lines = ["", "=" * 72]
        for number, failure in enumerate(report.failures, 1):
            lines += [
                f"{number}. {failure.check} failed on {failure.operation}",
                textwrap.indent(failure.message, "   "),
            ]
            if failure.curl:
                lines += ["   reproduce:", textwrap.indent(failure.curl, "     ")]
            lines.append("")
        skipped: dict[str, list[str]] = {}
        for outcome in report.outcomes:
            if outcome.skipped is not None:
                skipped.setdefault(f"{outcome.check}: {outcome.skipped}", []).append(outcome.name)
        if skipped:
            lines.append("skipped (could not run):")
            for reason, names in skipped.items():
                shown = ", ".join(names[:4]) + (
                    f" and {len(names) - 4} more" if len(names) > 4 else ""
                )
                lines.append(f"  - {reason} [{shown}]")
            lines.append("")
        if report.cut_short:
            lines.append(
                "WARNING: the time budget ran out; the run was cut short and the rest skipped."
            )
        verdict = "FAILED" if not report.ok else "passed"
        if report.ok and report.cut_short:
            verdict = "passed what the time budget let it run"
        elif report.ok and not report.passed:
            verdict = "checked nothing"
        rerun = "" if what else f" (seed {report.seed}: rerun with --seed {report.seed})"
        lines.append(
            f"{what or 'contract'} {verdict} against {report.base_url}: {len(report.failures)} "
            f"failed, {report.passed} passed, {len(report.skipped)} skipped in "
            f"{report.seconds:.1f} s{rerun}"
        )
        self._write("\n".join(lines))
