"""``webhook_delivery``: every attempt verifies, a retry keeps its id, the sequence gives order.

On a tenant of its own with a frozen clock (sandbox controls: ``createTenant`` with
``clock_start`` and ``advanceClock``; skipped with the reason on a target without them), the
kit registers its receiver, which answers 500 to the first attempt of each ``webhook-id``, makes
a few events, waits for their first attempts, and moves the clock past the first retry. Then:

- every attempt, first or retried, verifies under Standard Webhooks with the endpoint's secret
  (the independent ``standardwebhooks`` library);
- each event came at least twice, every attempt with the same ``webhook-id`` (the event id),
  body and ``x-gledger-sequence``;
- the endpoint's sequence numbers are distinct per event, and sorting the deliveries by them
  gives the events in the log's order, however they arrived.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.scenarios import Scenario, ScenarioSkipped
from gledger_sandbox.contract.scenarios.clock_tenant import NEEDS, clock_tenant
from gledger_sandbox.contract.scenarios.webhooks import Delivery, Receiver

CHECK = "webhook_delivery"
SEQUENCE = "x-gledger-sequence"
WAIT_SECONDS = 10.0
RETRY_AFTER = 600
"""Seconds the clock moves: past the first retry of any schedule starting under 10 minutes."""


def run(scenario: Scenario) -> None:
    options = scenario.target.options
    if not options.webhooks:
        raise ScenarioSkipped("webhooks are off (--no-webhooks)")
    scenario.require("createWebhookEndpoint")
    receiver = Receiver(options.webhook_host, fail_first=True)
    port = receiver.start()
    shown_host = "127.0.0.1" if options.webhook_host in ("0.0.0.0", "") else options.webhook_host
    url = options.webhook_public_url or f"http://{shown_host}:{port}/gledger-contract-retries"
    try:
        with clock_tenant(scenario) as client:
            if client is None:
                raise ScenarioSkipped(f"{NEEDS}, to make a retry happen")
            _retry_and_verify(scenario, client, receiver, url)
    finally:
        receiver.stop()


def _retry_and_verify(scenario: Scenario, client: KitClient, receiver: Receiver, url: str) -> None:
    created = client.post("/v1/webhook-endpoints", json={"url": url, "description": "kit retries"})
    if created.status_code != 201:
        raise ScenarioSkipped(f"the target refused an endpoint at {url} ({created.status_code})")
    secret = created.json()["secret"]
    ledger = scenario.expect(
        client.post("/v1/ledgers", json={"name": "kit retries"}),
        201,
        doing="a write on the kit's clock tenant",
    )["id"]
    for code in ("cash", "revenue", "fees"):
        scenario.expect(
            client.post(
                f"/v1/ledgers/{ledger}/accounts",
                json={"code": code, "name": code, "kind": "asset", "currency": "USD"},
            ),
            201,
            doing="opening an account",
        )
    wanted = 4  # ledger.created, account.created x 3
    if not _wait(receiver, lambda ds: len({d.headers.get("webhook-id") for d in ds}) >= wanted):
        client.fail(
            CHECK,
            f"the first attempts of {wanted} events did not come within {WAIT_SECONDS:.0f} s",
            client.get("/v1/webhook-endpoints"),
            name="retries",
        )
        return
    scenario.expect(
        client.post("/v1/sandbox/clock/advance", json={"seconds": RETRY_AFTER}),
        200,
        doing="moving the clock past the first retry",
    )
    _wait(receiver, lambda ds: _all_retried(ds, wanted))
    deliveries = list(receiver.deliveries)
    _signatures(client, deliveries, secret)
    _retries(client, deliveries, wanted)
    _sequence(client, deliveries)


def _wait(receiver: Receiver, done: Any) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if done(list(receiver.deliveries)):
            return True
        time.sleep(0.05)
    return bool(done(list(receiver.deliveries)))


def _by_id(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    """Attempts grouped by the event id their body carries."""
    grouped: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        grouped[str(json.loads(delivery.body).get("id"))].append(delivery)
    return grouped


def _all_retried(deliveries: list[Delivery], wanted: int) -> bool:
    grouped = _by_id(deliveries)
    return len(grouped) >= wanted and all(len(group) >= 2 for group in grouped.values())


def _shown(delivery: Delivery) -> str:
    headers = ", ".join(
        f"{k}: {v}"
        for k, v in sorted(delivery.headers.items())
        if k.startswith("webhook-") or k == SEQUENCE
    )
    return f"\n  headers {headers}\n  body {delivery.body[:200]!r}"


def _signatures(client: KitClient, deliveries: list[Delivery], secret: str) -> None:
    from standardwebhooks import Webhook

    verifier = Webhook(secret)
    for number, delivery in enumerate(deliveries, 1):
        try:
            verifier.verify(delivery.body, delivery.headers)
        except Exception as error:  # the library raises its own verification errors
            client.fail(
                CHECK,
                f"signatures: attempt {number} does not verify with the "
                f"endpoint's secret: {error}{_shown(delivery)}",
                name="signatures",
            )
            return
    client.passed(CHECK, "signatures")


def _retries(client: KitClient, deliveries: list[Delivery], wanted: int) -> None:
    grouped = _by_id(deliveries)
    for event_id, attempts in grouped.items():
        if len(attempts) < 2:
            client.fail(
                CHECK,
                f"retries: event {event_id} was answered 500 and never came "
                f"again{_shown(attempts[0])}",
                name="retries",
            )
            return
        for attempt in attempts:
            kept = (attempt.headers.get("webhook-id"), attempt.body, attempt.headers.get(SEQUENCE))
            first = attempts[0]
            if attempt.headers.get("webhook-id") != event_id or kept != (
                first.headers.get("webhook-id"),
                first.body,
                first.headers.get(SEQUENCE),
            ):
                client.fail(
                    CHECK,
                    f"retries: a retry of event {event_id} changed its webhook-id, "
                    f"body or sequence{_shown(first)}\n  retried as{_shown(attempt)}",
                    name="retries",
                )
                return
    client.passed(CHECK, "retries")


def _sequence(client: KitClient, deliveries: list[Delivery]) -> None:
    firsts = {event_id: attempts[0] for event_id, attempts in _by_id(deliveries).items()}
    numbered: list[tuple[int, int, str]] = []  # (delivery sequence, event sequence, event id)
    for event_id, delivery in firsts.items():
        text = delivery.headers.get(SEQUENCE, "")
        if not text.isdigit():
            client.fail(
                CHECK,
                f"sequence: event {event_id} came without a numeric {SEQUENCE}{_shown(delivery)}",
                name="sequence",
            )
            return
        numbered.append((int(text), int(json.loads(delivery.body)["sequence"]), event_id))
    if len({number for number, _, _ in numbered}) != len(numbered):
        client.fail(
            CHECK, f"sequence: two events share one {SEQUENCE}: {sorted(numbered)}", name="sequence"
        )
        return
    restored = [event for _, event, _ in sorted(numbered)]
    if restored != sorted(restored):
        client.fail(
            CHECK,
            f"sequence: ordered by {SEQUENCE}, the events come in log order "
            f"{restored}, not {sorted(restored)}",
            name="sequence",
        )
        return
    client.passed(CHECK, "sequence")
