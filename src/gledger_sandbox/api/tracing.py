"""OpenTelemetry traces, optional: a span per request, a child span per webhook attempt.

Nothing here imports OpenTelemetry unless a tracer provider is configured, so the sandbox runs
without the ``otel`` extra. ``provider_from_env`` builds one from the standard ``OTEL_*``
variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER=otlp|console``; ``OTEL_SERVICE_NAME``; ``OTEL_SDK_DISABLED``), exporting
over OTLP/HTTP in batches.

A request's span continues the caller's W3C ``traceparent`` (its parent is the caller's span);
a webhook attempt started by a request is that request's child (the attempt's task inherits
the request's context), and carries its own ``traceparent`` to the receiver, so a receiver
that traces joins the same trace. Retries started later by the clock are traces of their own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from starlette.types import Scope

from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery

TRACER_NAME = "gledger_sandbox"
_TRACE_HEADERS = (b"traceparent", b"tracestate")


def provider_from_env(environ: Mapping[str, str] = os.environ) -> Any | None:
    """A tracer provider exporting as the ``OTEL_*`` variables say, or None when they say
    nothing (or disable the SDK). Raises ImportError without the ``otel`` extra installed."""
    exporter_name = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or exporter_name == "none" or not (exporter_name or endpoint):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # reads the OTEL_EXPORTER_OTLP_* variables itself
    resource = Resource.create({"service.name": "gledger-sandbox"})  # OTEL_SERVICE_NAME wins
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class _AttemptSpan:
    def __init__(self, span: Any) -> None:
        self.span = span
        self.headers: dict[str, str] = {}

    def ended(self, attempt: Attempt) -> None:
        self.span.set_attribute("gledger.attempt", attempt.number)
        if attempt.response_status is not None:
            self.span.set_attribute("http.response.status_code", attempt.response_status)
        if attempt.error:
            self.span.set_attribute("error.type", attempt.error)
        ok = attempt.response_status is not None and 200 <= attempt.response_status < 300
        if not ok:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_status(Status(StatusCode.ERROR, attempt.error or "not a 2xx answer"))


class Tracing:
    """Spans of one server, made by ``provider``'s tracer."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = provider.get_tracer(TRACER_NAME)
        self.propagator = TraceContextTextMapPropagator()
        self._kinds = SpanKind

    @contextlib.contextmanager
    def request(self, scope: Scope) -> Iterator[Any]:
        """The span of one request, current while it runs, child of the caller's traceparent."""
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", ())
            if key in _TRACE_HEADERS
        }
        parent = self.propagator.extract(carrier)
        attributes = {"http.request.method": scope["method"], "url.path": scope["path"]}
        with self.tracer.start_as_current_span(
            f"HTTP {scope['method']}",
            context=parent,
            kind=self._kinds.SERVER,
            attributes=attributes,
        ) as span:
            yield span

    @staticmethod
    def finish(span: Any, fields: Mapping[str, str | int | float | None]) -> None:
        """Name the span after its operation and record what the access log records."""
        operation = fields.get("operation_id")
        if operation:
            span.update_name(str(operation))
        for name, value in fields.items():
            if value is not None:
                key = "http.response.status_code" if name == "status" else f"gledger.{name}"
                span.set_attribute(key, value)

    @contextlib.contextmanager
    def attempt(self, tenant_id: str, delivery: Delivery) -> Iterator[_AttemptSpan]:
        attributes = {
            "gledger.tenant_id": tenant_id,
            "gledger.delivery_id": delivery.id,
            "gledger.endpoint_id": delivery.endpoint_id,
            "gledger.event_id": delivery.event.id,
            "gledger.event_type": delivery.event.type,
        }
        with self.tracer.start_as_current_span(
            "webhook attempt", kind=self._kinds.CLIENT, attributes=attributes
        ) as span:
            watch = _AttemptSpan(span)
            self.propagator.inject(watch.headers)
            yield watch
