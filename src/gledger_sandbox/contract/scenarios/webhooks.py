"""``webhook_signature``: deliveries to a receiver the kit runs verify and match the spec.

The kit serves a receiver (``--webhook-host``, reachable by the target at
``--webhook-public-url``), registers it as an endpoint for every event type, writes (a ledger,
an entry) and pings it, then waits for the deliveries. Each must verify under the Standard
Webhooks scheme with the endpoint's secret, checked by the independent ``standardwebhooks``
library, carry its event id as ``webhook-id``, and match the payload schema the spec gives
its event type. The endpoint is deleted afterwards. A target that refuses the endpoint, or
cannot reach the receiver (its delivery log says so), makes the check skipped, not passed.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gledger_sandbox.contract.scenarios import Scenario, ScenarioSkipped

CHECK = "webhook_signature"
WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Receiver:
    """A standard-library HTTP server in a thread: records each POST and answers 204."""

    host: str
    deliveries: list[Delivery] = field(default_factory=list)
    fail_first: bool = False
    """Answer 500 to the first attempt of each ``webhook-id`` (so that the target retries)."""
    _server: ThreadingHTTPServer | None = None
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> int:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.send_response(500 if receiver.refuses(headers) else 204)
                self.send_header("content-length", "0")
                self.end_headers()
                with receiver._arrived:
                    receiver.deliveries.append(Delivery(headers, body))
                    receiver._arrived.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def refuses(self, headers: dict[str, str]) -> bool:
        """Whether this attempt is to be refused: the first of its ``webhook-id``, if asked."""
        if not self.fail_first:
            return False
        with self._arrived:
            return all(
                d.headers.get("webhook-id") != headers.get("webhook-id") for d in self.deliveries
            )

    def wait_for(self, wanted: set[tuple[str, str]], seconds: float) -> set[tuple[str, str]]:
        """Wait until deliveries of every (type, resource id) wanted came; those still missing."""
        deadline = time.monotonic() + seconds
        with self._arrived:
            while True:
                missing = wanted - {_identity(d) for d in self.deliveries}
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                self._arrived.wait(left)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _identity(delivery: Delivery) -> tuple[str, str]:
    try:
        event = json.loads(delivery.body)
        return str(event.get("type")), str((event.get("data") or {}).get("id"))
    except (ValueError, AttributeError):
        return "", ""


def run(scenario: Scenario) -> None:
    options = scenario.target.options
    if not options.webhooks:
        raise ScenarioSkipped("webhooks are off (--no-webhooks)")
    scenario.require("createWebhookEndpoint")
    receiver = Receiver(options.webhook_host)
    port = receiver.start()
    shown_host = "127.0.0.1" if options.webhook_host in ("0.0.0.0", "") else options.webhook_host
    url = options.webhook_public_url or f"http://{shown_host}:{port}/gledger-contract-kit"
    try:
        _deliver_and_verify(scenario, receiver, url)
    finally:
        receiver.stop()


def _deliver_and_verify(scenario: Scenario, receiver: Receiver, url: str) -> None:
    client = scenario.client
    created = client.post(
        "/v1/webhook-endpoints", json={"url": url, "description": f"contract kit {scenario.tag}"}
    )
    if created.status_code != 201:
        raise ScenarioSkipped(
            f"the target refused an endpoint at {url} ({created.status_code}): give "
            "--webhook-public-url the target can reach, or --no-webhooks"
        )
    endpoint = created.json()
    try:
        wanted = _make_events(scenario, endpoint["id"])
        wait = scenario.target.deadline.remaining(WAIT_SECONDS)
        missing = receiver.wait_for(wanted, wait)
        if missing:
            _explain_missing(scenario, endpoint["id"], missing, url, wait)
        _verify_all(scenario, receiver.deliveries, endpoint["secret"])
    finally:
        client.delete(f"/v1/webhook-endpoints/{endpoint['id']}")


def _make_events(scenario: Scenario, endpoint_id: str) -> set[tuple[str, str]]:
    client = scenario.client
    ledger = scenario.expect(
        client.post("/v1/ledgers", json={"name": scenario.key("hook")}), 201, doing="a ledger"
    )
    entry = scenario.post_entry(("kit_cash", "debit", 77), ("kit_revenue", "credit", 77))
    wanted = {
        ("ledger.created", ledger["id"]),
        ("entry.created", entry["id"]),
        ("entry.posted", entry["id"]),
    }
    if scenario.target.spec.has("testWebhookEndpoint"):
        ping = client.post(f"/v1/webhook-endpoints/{endpoint_id}/test")
        if ping.is_success:
            wanted.add(("webhook.test", endpoint_id))
    return wanted


def _explain_missing(
    scenario: Scenario, endpoint_id: str, missing: set[tuple[str, str]], url: str, wait: float
) -> None:
    shown = ", ".join(f"{kind} {rid}" for kind, rid in sorted(missing))
    log = scenario.client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries")
    attempted = log.status_code == 200 and any(
        d.get("attempt_count", 0) > 0 and d.get("status") != "succeeded" for d in log.json()["data"]
    )
    if attempted:
        raise ScenarioSkipped(
            f"the target could not deliver to the kit's receiver at {url} (its delivery log "
            "shows failed attempts): give --webhook-host/--webhook-public-url it can reach"
        )
    scenario.client.fail(
        CHECK, f"no delivery of {shown} reached the receiver within {wait:.0f} s", log
    )


def _verify_all(scenario: Scenario, deliveries: list[Delivery], secret: str) -> None:
    from standardwebhooks import Webhook

    verifier = Webhook(secret)
    failed = False
    for delivery in list(deliveries):
        kind, resource = _identity(delivery)
        label = f"delivery of {kind} {resource}"
        try:
            verifier.verify(delivery.body, delivery.headers)
        except Exception as error:  # the library raises its own verification errors
            _fail(
                scenario, f"{label} does not verify with the endpoint's secret: {error}", delivery
            )
            failed = True
            continue
        problems = _payload_problems(scenario, kind, delivery)
        if problems:
            _fail(scenario, f"{label}: " + "; ".join(problems), delivery)
            failed = True
    if not failed:
        scenario.client.passed(CHECK, "deliveries")


def _payload_problems(scenario: Scenario, kind: str, delivery: Delivery) -> list[str]:
    from openapi_schema_validator import OAS30Validator

    event = json.loads(delivery.body)
    problems = []
    if delivery.headers.get("webhook-id") != event.get("id"):
        problems.append(f"webhook-id {delivery.headers.get('webhook-id')!r} is not the event id")
    schema = scenario.target.spec.webhook_payload_schema(kind)
    if schema is None:
        problems.append(f"the spec describes no webhook payload for {kind!r}")
    else:
        validator = OAS30Validator(_null_in_nullable_enums(schema))
        errors = sorted(validator.iter_errors(event), key=lambda e: list(e.path))
        problems += [f"at /{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:3]]
    return problems


def _null_in_nullable_enums(schema: Any) -> Any:
    """The schema with ``null`` allowed in each nullable enum, as OpenAPI 3.0 means it.

    (The validator reads ``nullable`` and ``enum`` separately, so a null void_reason fails.)
    """
    if isinstance(schema, list):
        return [_null_in_nullable_enums(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copied = {key: _null_in_nullable_enums(value) for key, value in schema.items()}
    if copied.get("nullable") is True and "enum" in copied and None not in copied["enum"]:
        copied["enum"] = [*copied["enum"], None]
    return copied


def _fail(scenario: Scenario, message: str, delivery: Delivery) -> None:
    headers = ", ".join(
        f"{k}: {v}" for k, v in sorted(delivery.headers.items()) if k.startswith("webhook-")
    )
    scenario.client.fail(
        CHECK, f"{message}\n  headers {headers}\n  body {delivery.body[:300]!r}", name="deliveries"
    )
