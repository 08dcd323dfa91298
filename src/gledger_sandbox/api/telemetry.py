"""What a server tells its operator about each request and webhook attempt.

``Observed`` is the outermost layer of the app: it sees every answer, a preflight or a 413
too, and after the answer has started records the request once, three ways:

- in the Prometheus metrics (``metrics.py``), by operationId and status;
- as one access-log record on the ``gledger_sandbox.access`` logger, whose fields (request
  id, correlation id, tenant, operationId, method, path, status, duration) ``serve
  --log-format json`` writes as one JSON line (``logs.py``);
- in the request's trace span, when tracing is on (``tracing.py``).

``watch_attempt`` is the delivery worker's watcher: each attempt's outcome goes to the
metrics, and to a child span of the request that caused it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gledger_sandbox.api.metrics import UNROUTED, Metrics
from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery
from gledger_sandbox.webhooks.worker import AttemptWatch

if TYPE_CHECKING:
    from gledger_sandbox.api.runner import SandboxRunner
    from gledger_sandbox.api.tracing import Tracing
    from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

access_log = logging.getLogger("gledger_sandbox.access")


def _routing(scope: Scope, part: str) -> dict[str, Any]:
    found: dict[str, Any] = scope.get("extensions", {}).get(part) or {}
    return found


def request_fields(scope: Scope, status: int, seconds: float) -> dict[str, Any]:
    """What is known of an answered request: connexion leaves its routing and token in scope."""
    token = _routing(scope, "connexion_context").get("token_info") or {}
    return {
        "request_id": scope.get("gledger.request_id"),
        "correlation_id": scope.get("gledger.correlation_id"),
        "tenant_id": token.get("sub") if isinstance(token, dict) else None,
        "operation_id": _routing(scope, "connexion_routing").get("operation_id"),
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }


class _Both:
    """An attempt watched by the metrics and, when tracing, by its span."""

    def __init__(self, metrics: Metrics, span: AttemptWatch | None) -> None:
        self.metrics = metrics
        self.span = span
        self.headers: dict[str, str] = span.headers if span is not None else {}

    def ended(self, attempt: Attempt) -> None:
        self.metrics.attempt(attempt)
        if self.span is not None:
            self.span.ended(attempt)


class Telemetry:
    """The metrics, access log and optional tracing of one server."""

    def __init__(self, metrics_access: str, tracer_provider: Any | None) -> None:
        self.metrics_access = metrics_access
        self.metrics: Metrics | None = None
        self.tracing: Tracing | None = None
        if tracer_provider is not None:
            from gledger_sandbox.api.tracing import Tracing

            self.tracing = Tracing(tracer_provider)

    def attach(self, registry: TenantRegistry, runner: SandboxRunner) -> Metrics:
        """The server's metrics, reading its tenants and streams (both made after this)."""
        self.metrics = Metrics(registry, runner, self.metrics_access)
        return self.metrics

    @contextlib.contextmanager
    def watch_attempt(self, tenant_id: str, delivery: Delivery) -> Iterator[AttemptWatch]:
        if self.metrics is None:
            raise RuntimeError("Telemetry.attach was not called")
        if self.tracing is None:
            yield _Both(self.metrics, None)
            return
        with self.tracing.attempt(tenant_id, delivery) as span:
            yield _Both(self.metrics, span)

    def request_span(self, scope: Scope) -> contextlib.AbstractContextManager[Any]:
        return self.tracing.request(scope) if self.tracing else contextlib.nullcontext()

    def answered(self, scope: Scope, status: int, seconds: float, span: Any) -> None:
        fields = request_fields(scope, status, seconds)
        if self.metrics is not None:
            self.metrics.request(fields["operation_id"] or UNROUTED, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            line = f"{fields['method']} {fields['path']} {status}"
            access_log.info(line, extra=fields)
        if span is not None and self.tracing is not None:
            self.tracing.finish(span, fields)


class Observed:
    """Records each HTTP request once its answer has started (streams: when they open)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        answer: dict[str, float] = {}
        # Connexion routes on a shallow copy of the scope: a dict of extensions made here is
        # shared by that copy, so its routing (operationId) and token info show through.
        scope.setdefault("extensions", {})

        async def noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["after"] = time.perf_counter() - began
            await send(message)

        with self.telemetry.request_span(scope) as span:
            try:
                await self.app(scope, receive, noting_status)
            finally:
                # No answer began: the client went away first (or a fault below us).
                status = int(answer.get("status", 499))
                after = answer.get("after", time.perf_counter() - began)
                self.telemetry.answered(scope, status, after, span)
