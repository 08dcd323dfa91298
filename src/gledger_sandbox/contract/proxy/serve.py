"""``gledger-sandbox contract proxy``: the proxy in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from gledger_sandbox.contract.options import ContractUsageError
from gledger_sandbox.contract.report import ContractReport
from gledger_sandbox.contract.spec import load_spec

GRACEFUL_SECONDS = 5.0
"""How long open event streams may go on after SIGTERM before the proxy ends them."""


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    """One run of the proxy."""

    upstream: str
    port: int = 8788
    host: str = "127.0.0.1"
    """Loopback by default: the proxy forwards the credentials it is sent."""
    spec: str | None = None
    junit_xml: str | Path | None = None
    har: str | Path | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        if "://" not in self.upstream:
            raise ContractUsageError(
                f"--upstream {self.upstream!r} is not a URL (http://host:port)"
            )
        if not 0 <= self.port <= 65535:
            raise ContractUsageError(f"--port {self.port} is not a TCP port")


def run_proxy(options: ProxyOptions, out: TextIO | None = None) -> ContractReport:
    """Serve until SIGINT or SIGTERM; then the summary, and the JUnit and HAR files."""
    import uvicorn

    from gledger_sandbox.contract.proxy.app import ValidatingProxy
    from gledger_sandbox.contract.proxy.session import ProxySession

    try:
        spec = load_spec(options.spec)
    except Exception as error:  # prance raises several unrelated types for one bad document
        raise ContractUsageError(f"cannot read the spec {options.spec!r}: {error}") from error
    session = ProxySession(options.upstream, spec, har=options.har, out=out, quiet=options.quiet)
    config = uvicorn.Config(
        ValidatingProxy(session),
        host=options.host,
        port=options.port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS),
    )
    where = f"[{options.host}]" if _is_ipv6(options.host) else options.host
    session.console.progress(
        f"validating proxy to {session.upstream} on http://{where}:{options.port} "
        "(Ctrl-C or SIGTERM ends it with the summary)"
    )
    _reporting_server()(config).run()
    return session.close(options.junit_xml)


def _reporting_server() -> type:
    import uvicorn

    class ReportingServer(uvicorn.Server):
        """uvicorn's graceful shutdown on SIGINT and SIGTERM, without raising the signal again
        afterwards (uvicorn does, which would end the process before the summary is out)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return ReportingServer


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
