"""What one run of the proxy found: every exchange judged, the traffic written as HAR, and the
report (the kit's own ``ContractReport``, in one phase ``proxy``) at the end."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gledger_sandbox.contract.console import Console
from gledger_sandbox.contract.junit import write_junit_xml
from gledger_sandbox.contract.proxy.conformance import (
    REQUEST_CHECK,
    RESPONSE_CHECKS,
    Conformance,
    Finding,
)
from gledger_sandbox.contract.proxy.exchange import Exchange
from gledger_sandbox.contract.proxy.ledger_traffic import LedgerTraffic
from gledger_sandbox.contract.report import ContractReport, Failure, Results
from gledger_sandbox.contract.spec import ApiSpec, load_spec

if TYPE_CHECKING:
    import harfile

PHASE = "proxy"
PROXY_CHECKS = (
    REQUEST_CHECK,
    *RESPONSE_CHECKS,
    "request_id",
    "problem_json",
    "entries_balance",
    "idempotent_replay",
    "pages_complete",
    "event_sequence",
)
"""The checks the proxy applies, as its reports name them."""


class ProxySession:
    """Judges exchanges one at a time (from any thread) and keeps what they showed."""

    def __init__(
        self,
        upstream: str,
        spec: ApiSpec | None = None,
        *,
        har: str | Path | None = None,
        out: TextIO | None = None,
        quiet: bool = False,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.spec = spec or load_spec()
        self.console = Console(out, quiet)
        self.results = Results(on_failure=self.console.failure)
        self.exchanges = 0
        self.violations: list[Failure] = []
        """Every failure of every exchange, in order (the report keeps the first of a kind)."""
        self._conformance = Conformance(self.spec)
        self._traffic = LedgerTraffic()
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._har = _open_har(har) if har else None

    def judge(self, exchange: Exchange) -> list[Failure]:
        """Run every check that applies to ``exchange``; the failures it showed."""
        with self._lock:
            self.exchanges += 1
            try:
                failures = self._judge(exchange)
            except Exception as error:  # a check that breaks must not break the partner's call
                name = f"{exchange.method} {exchange.path}"
                self.results.skip(PHASE, "proxy", name, f"could not judge it: {error!r}")
                failures = []
            if self._har is not None:
                self._har.add_entry(**exchange.har_entry())
        return failures

    def _judge(self, exchange: Exchange) -> list[Failure]:
        operation = self.spec.find(exchange.method, exchange.path)
        name = operation.id if operation else f"{exchange.method} {exchange.path}"
        found: dict[str, list[Finding]] = {}
        if operation is not None:
            found[REQUEST_CHECK] = self._conformance.request(exchange, operation)
            answered = self._conformance.response(exchange, operation)
            for check in RESPONSE_CHECKS:
                found[check] = [f for f in answered if f.check == check]
        found.update(self._traffic.judge(exchange, operation))
        failures = []
        for check, findings in found.items():
            if not findings:
                self.results.passed(PHASE, check, name)
                continue
            message = "; ".join(f.message for f in findings)
            message += f"\n  answered {exchange.status}: {_excerpt(exchange)}"
            failure = Failure(check, name, message, exchange.curl())
            self.results.failed(PHASE, failure)
            failures.append(failure)
        self.violations += failures
        return failures

    def report(self) -> ContractReport:
        seconds = time.monotonic() - self._started
        self.results.timed(PHASE, seconds)
        return self.results.report(self.upstream, 0, seconds, False)

    def close(self, junit_xml: str | Path | None = None) -> ContractReport:
        """End the run: the HAR file completed, JUnit written when asked, the summary printed."""
        with self._lock:
            if self._har is not None:
                self._har.close()
                self._har = None
        report = self.report()
        if junit_xml:
            write_junit_xml(report, junit_xml)
        self.console.summary(report, what=f"proxy ({self.exchanges} exchanges)")
        return report


def describe(failures: list[Failure]) -> str:
    """The failures as a person reads them: check, operation, why, and the curl."""
    parts = []
    for number, failure in enumerate(failures, 1):
        parts.append(f"{number}. {failure.check} failed on {failure.operation}")
        parts.append(textwrap.indent(failure.message, "   "))
        if failure.curl:
            parts += ["   reproduce:", textwrap.indent(failure.curl, "     ")]
    return "\n".join(parts)


def _open_har(path: str | Path) -> harfile.HarFile:
    import harfile

    from gledger_sandbox import __version__

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return harfile.open(
        str(path), creator=harfile.Creator(name="gledger-sandbox", version=__version__)
    )


def _excerpt(exchange: Exchange, limit: int = 300) -> str:
    text = exchange.response_body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
