"""Prometheus metrics of one server, served at ``GET /metrics`` in the text exposition format.

Each app has a registry of its own (never prometheus_client's global one), so several sandboxes
in one process (the tests, the pytest plugin) count apart. Counted as they happen: requests by
operationId and status, request latency by operationId, webhook attempts by outcome and their
latency. Read when scraped (O(tenants), never O(entries)): open streams, tenants, entries and
events held.

Who may scrape (``Settings.metrics``): ``loopback`` (the default) answers clients on a loopback
address only (after ``--trust-proxy`` has named the real client), so a public deployment does
not publish its traffic; ``open`` answers anyone; ``off`` answers 404 as for any unknown path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gledger_sandbox.api.problems import problem_response
from gledger_sandbox.domain.live.webhook_models import Attempt

if TYPE_CHECKING:
    from gledger_sandbox.api.runner import SandboxRunner
    from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

METRICS_PATH = "/metrics"
METRICS_ACCESS = ("loopback", "open", "off")
UNROUTED = "none"
"""The operation label of a request no operation of the spec took (404, spec documents)."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def attempt_outcome(attempt: Attempt) -> str:
    """``succeeded`` (2xx), ``failed`` (any other answer), ``timeout`` or ``error`` (none)."""
    status = attempt.response_status
    if status is not None:
        return "succeeded" if 200 <= status < 300 else "failed"
    return "timeout" if (attempt.error or "").startswith("no answer within") else "error"


class _HeldState(Collector):
    """Gauges read from the registry and the runner when scraped."""

    def __init__(self, registry: TenantRegistry, runner: SandboxRunner) -> None:
        self.registry = registry
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        tenants = list(self.registry.tenants.values())
        yield GaugeMetricFamily(
            "gledger_open_streams", "Event streams open (SSE and WebSocket).", self.runner.feeds
        )
        yield GaugeMetricFamily("gledger_tenants", "Sandbox tenants held.", len(tenants))
        yield GaugeMetricFamily(
            "gledger_entries",
            "Entries held, all tenants.",
            sum(len(t.store.entries) for t in tenants),
        )
        yield GaugeMetricFamily(
            "gledger_events",
            "Events kept in the tenants' event logs.",
            sum(len(t.store.events) for t in tenants),
        )


class Metrics:
    """The instruments of one server and the registry that exposes them."""

    def __init__(self, registry: TenantRegistry, runner: SandboxRunner, access: str) -> None:
        self.access = access
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gledger_requests",
            "HTTP requests answered, by operationId and status.",
            ("operation", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "gledger_request_duration_seconds",
            "Time from a request's head to its answer's start, by operationId.",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "gledger_webhook_attempts",
            "Webhook delivery attempts, by outcome (succeeded, failed, timeout, error).",
            ("outcome",),
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "gledger_webhook_attempt_duration_seconds",
            "Duration of webhook delivery attempts, by outcome.",
            ("outcome",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_HeldState(registry, runner))
        # prometheus_client's labels() looks a child up under a lock, with its arguments
        # checked, on every call: each pair's children are looked up once (operations x
        # statuses: a few hundred at most).
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def request(self, operation: str, status: int, seconds: float) -> None:
        children = self._children.get((operation, status))
        if children is None:
            children = (
                self.requests.labels(operation, str(status)),
                self.latency.labels(operation),
            )
            self._children[operation, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def attempt(self, attempt: Attempt) -> None:
        outcome = attempt_outcome(attempt)
        self.deliveries.labels(outcome).inc()
        self.delivery_latency.labels(outcome).observe(attempt.duration_ms / 1000)

    def allows(self, scope: Scope) -> bool:
        if self.access == "open":
            return True
        client = scope.get("client")
        try:
            return client is not None and ipaddress.ip_address(client[0]).is_loopback
        except ValueError:
            return False  # a Unix socket's peer, or a proxy's unparsable value


def with_metrics_route(app: ASGIApp, metrics: Metrics) -> ASGIApp:
    """``GET /metrics`` in front of connexion (it is no operation of the spec)."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != METRICS_PATH or metrics.access == "off":
            await app(scope, receive, send)
            return
        request_id = scope.get("gledger.request_id", "")
        if scope["method"] not in ("GET", "HEAD"):
            detail = "GET /metrics is the only method here."
            answer = problem_response(
                405, "method_not_allowed", detail, request_id, headers={"Allow": "GET, HEAD"}
            )
        elif not metrics.allows(scope):
            detail = (
                "Metrics are served to loopback clients only on this server "
                "(gledger-sandbox serve --metrics open serves them to anyone)."
            )
            answer = problem_response(403, "metrics_forbidden", detail, request_id)
        else:
            answer = Response(
                generate_latest(metrics.registry), headers={"content-type": CONTENT_TYPE_LATEST}
            )
        await answer(scope, receive, send)

    return route
