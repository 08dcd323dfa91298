"""Metrics scraped from /metrics and parsed by prometheus_client; traces of requests and webhooks.

Each test serves a sandbox of its own (metrics count per server), through the real HTTP stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from gledger_sandbox.api.settings import ConnectionSettings, Settings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app
from tests.conftest import TEST_SETTINGS, Sandbox, new_sandbox
from tests.receiver import Behaviour, Receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, **headers: str) -> Samples:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def served() -> Iterator[LoopbackServer]:
    settings = dataclasses.replace(
        TEST_SETTINGS, connections=ConnectionSettings(trusted_proxies=("127.0.0.1",))
    )
    app, services = sandbox_app(settings)
    with LoopbackServer(app, services=services) as running:
        yield running


def served_with(settings: Settings) -> LoopbackServer:
    app, services = sandbox_app(settings)
    return LoopbackServer(app, services=services)


def test_metrics_count_requests_latency_held_state_and_webhook_outcomes(
    served: LoopbackServer,
) -> None:
    box = new_sandbox(served)
    anonymous = httpx.Client(base_url=served.url)
    with anonymous, box.client:
        _count_a_session(served, box, anonymous)


def _count_a_session(served: LoopbackServer, box: Sandbox, anonymous: httpx.Client) -> None:
    before = scrape(anonymous)
    assert value(before, "gledger_tenants") == 2  # the default tenant and this one
    for name in ("one", "two", "three"):
        assert box.client.post("/v1/ledgers", json={"name": name}).status_code == 201
    assert box.client.get("/v1/ledgers/led_nope").status_code == 404
    ledger = box.client.get("/v1/ledgers").json()["data"][0]["id"]
    accounts = [
        box.client.post(
            f"/v1/ledgers/{ledger}/accounts",
            json={"code": code, "name": code, "kind": kind, "currency": "USD"},
        ).json()["id"]
        for code, kind in (("cash", "asset"), ("sales", "revenue"))
    ]
    lines = [
        {"account_id": accounts[0], "direction": "debit", "amount": 500},
        {"account_id": accounts[1], "direction": "credit", "amount": 500},
    ]
    for _ in range(4):
        posted = box.client.post("/v1/entries", json={"ledger_id": ledger, "lines": lines})
        assert posted.status_code == 201, posted.text

    good, bad = Receiver().start(), Receiver(behaviour=Behaviour(status=500)).start()
    try:
        for receiver in (good, bad):
            endpoint = box.client.post("/v1/webhook-endpoints", json={"url": receiver.url})
            assert endpoint.status_code == 201, endpoint.text
            pinged = box.client.post(f"/v1/webhook-endpoints/{endpoint.json()['id']}/test")
            assert pinged.status_code == 200, pinged.text
        with httpx.stream(
            "GET",
            f"{served.url}/v1/events/stream",
            headers={"Authorization": box.client.headers["authorization"]},
            timeout=10,
        ) as stream:
            assert stream.status_code == 200
            during = scrape(anonymous)
    finally:
        good.stop()
        bad.stop()
    after = scrape(anonymous)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("gledger_requests_total", operation="createLedger", status="201") == 3
    assert grew("gledger_requests_total", operation="getLedger", status="404") == 1
    assert grew("gledger_requests_total", operation="createEntry", status="201") == 4
    assert grew("gledger_request_duration_seconds_count", operation="createEntry") == 4
    assert grew("gledger_request_duration_seconds_bucket", operation="createEntry", le="+Inf") == 4
    assert value(after, "gledger_request_duration_seconds_sum", operation="createEntry") > 0
    assert grew("gledger_entries") == 4
    assert grew("gledger_events") >= 4 + 3  # entries and ledgers at least
    assert value(during, "gledger_open_streams") == 1
    assert grew("gledger_webhook_attempts_total", outcome="succeeded") == 1
    assert grew("gledger_webhook_attempts_total", outcome="failed") == 1
    assert grew("gledger_webhook_attempt_duration_seconds_count", outcome="failed") == 1


def test_metrics_are_for_loopback_clients_after_trusted_proxies(served: LoopbackServer) -> None:
    with httpx.Client(base_url=served.url) as client:
        _refused_unless_loopback(client)


def _refused_unless_loopback(client: httpx.Client) -> None:
    refused = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "metrics_forbidden"
    assert refused.json()["request_id"] == refused.headers["x-gledger-request-id"]
    assert client.post("/metrics").status_code == 405
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


@pytest.mark.parametrize(("access", "status"), [("off", 404), ("open", 200)])
def test_metrics_can_be_turned_off_or_opened_to_anyone(access: str, status: int) -> None:
    settings = dataclasses.replace(
        TEST_SETTINGS,
        metrics=access,
        connections=ConnectionSettings(trusted_proxies=("127.0.0.1",)),
    )
    with served_with(settings) as running:
        seen = httpx.get(f"{running.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert seen.status_code == status


def test_a_request_span_continues_the_callers_trace_and_a_webhook_attempt_is_its_child() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = dataclasses.replace(TEST_SETTINGS, tracer_provider=provider)
    receiver = Receiver().start()
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        with served_with(settings) as running:
            box = new_sandbox(running)
            endpoint = box.client.post("/v1/webhook-endpoints", json={"url": receiver.url})
            assert endpoint.status_code == 201, endpoint.text
            exporter.clear()
            pinged = box.client.post(
                f"/v1/webhook-endpoints/{endpoint.json()['id']}/test",
                headers={
                    "traceparent": f"00-{trace_id}-{caller_span}-01",
                    "X-Correlation-Id": "order-77",
                },
            )
            assert pinged.status_code == 200, pinged.text
            received = receiver.wait_for(1)
            box.client.close()
    finally:
        receiver.stop()
    spans = exporter.get_finished_spans()
    requests = [s for s in spans if s.kind == SpanKind.SERVER]
    attempts = [s for s in spans if s.name == "webhook attempt"]
    assert len(requests) == 1 and len(attempts) == 1, [s.name for s in spans]
    request, attempt = requests[0], attempts[0]
    assert request.name == "testWebhookEndpoint"
    assert _ids(request) == (trace_id, caller_span)
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["gledger.tenant_id"] == box.id
    assert request.attributes["gledger.correlation_id"] == "order-77"
    assert request.attributes["gledger.request_id"] == pinged.headers["x-gledger-request-id"]
    assert attempt.kind == SpanKind.CLIENT
    assert attempt.context is not None and request.context is not None
    assert _ids(attempt) == (trace_id, f"{request.context.span_id:016x}")
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 204
    assert attempt.attributes["gledger.event_type"] == "webhook.test"
    # The receiver is told the attempt's span, so its own spans join the trace.
    assert received[0].headers["traceparent"] == (
        f"00-{trace_id}-{attempt.context.span_id:016x}-01"
    )


def _ids(span: ReadableSpan) -> tuple[str, str | None]:
    assert span.context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent else None
    return f"{span.context.trace_id:032x}", parent
