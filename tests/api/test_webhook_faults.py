"""Webhook fault rules, seen by a real receiver: dropped, delayed, duplicated, reordered.

Every request the receiver gets is checked with the ``standardwebhooks`` library, so a
duplicate is a true copy (same id, valid signature) and not a new event.
"""

from __future__ import annotations

import json
import time
from typing import Any

from standardwebhooks import Webhook

from tests.api.conftest import START
from tests.api.test_faults import add_fault, injections
from tests.conftest import Sandbox, ServerThread, new_sandbox
from tests.receiver import Received, Receiver


def subscribe(box: Sandbox, receiver: Receiver) -> tuple[str, Webhook]:
    created = box.client.post("/v1/webhook-endpoints", json={"url": receiver.url})
    assert created.status_code == 201, created.text
    return created.json()["id"], Webhook(created.json()["secret"])


def verified(hook: Webhook, received: Received) -> dict[str, Any]:
    event: dict[str, Any] = hook.verify(received.body, received.headers)
    return event


def new_ledger(box: Sandbox, name: str = "Hooks") -> str:
    created = box.client.post("/v1/ledgers", json={"name": name})
    assert created.status_code == 201
    return str(created.json()["id"])


def deliveries(box: Sandbox, endpoint_id: str) -> list[dict[str, Any]]:
    page = box.client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries")
    return list(page.json()["data"])


def test_a_dropped_delivery_is_not_sent_and_its_retry_arrives(
    frozen: Sandbox, receiver: Receiver
) -> None:
    endpoint_id, hook = subscribe(frozen, receiver)
    rule = add_fault(
        frozen, match={"webhook_endpoint_id": endpoint_id}, effect={"type": "webhook_drop"}, times=1
    )
    new_ledger(frozen)
    time.sleep(0.3)
    assert receiver.received == []  # the first attempt was never sent
    [delivery] = deliveries(frozen, endpoint_id)
    assert delivery["status"] == "pending" and delivery["attempt_count"] == 1
    assert rule["id"] in delivery["attempts"][0]["error"]
    frozen.client.post("/v1/sandbox/clock/advance", json={"seconds": 10})
    [arrived] = receiver.wait_for(1)
    assert verified(hook, arrived)["type"] == "ledger.created"
    assert arrived.headers["x-gledger-attempt"] == "2"
    [record] = injections(frozen, fault_id=rule["id"])
    assert record["effect"] == "webhook_drop" and record["delivery_id"] == delivery["id"]


def test_a_duplicated_delivery_arrives_twice_with_one_id(
    frozen: Sandbox, receiver: Receiver
) -> None:
    _, hook = subscribe(frozen, receiver)
    add_fault(
        frozen,
        match={"event_types": ["ledger.created"]},
        effect={"type": "webhook_duplicate", "copies": 3},
    )
    new_ledger(frozen)
    copies = receiver.wait_for(3)
    time.sleep(0.2)
    assert len(receiver.received) == 3
    events = [verified(hook, copy) for copy in copies]
    assert len({copy.headers["webhook-id"] for copy in copies}) == 1
    assert {event["id"] for event in events} == {copies[0].headers["webhook-id"]}


def test_a_delayed_delivery_arrives_later(frozen: Sandbox, receiver: Receiver) -> None:
    subscribe(frozen, receiver)
    add_fault(frozen, match={}, effect={"type": "webhook_delay", "latency_ms": 600})
    began = time.monotonic()
    new_ledger(frozen)
    time.sleep(0.3)
    assert receiver.received == []
    receiver.wait_for(1)
    assert time.monotonic() - began >= 0.6


def test_a_reordered_delivery_arrives_after_the_next_one(
    frozen: Sandbox, receiver: Receiver
) -> None:
    _, hook = subscribe(frozen, receiver)
    add_fault(
        frozen,
        match={"event_types": ["ledger.created"]},
        effect={"type": "webhook_reorder", "latency_ms": 5000},
        times=1,
    )
    ledger_id = new_ledger(frozen)
    time.sleep(0.2)
    assert receiver.received == []  # held until the next one is sent
    body = {"code": "cash", "name": "Cash", "kind": "asset", "currency": "USD"}
    assert frozen.client.post(f"/v1/ledgers/{ledger_id}/accounts", json=body).status_code == 201
    arrived = receiver.wait_for(2)
    types = [verified(hook, r)["type"] for r in arrived]
    assert types == ["account.created", "ledger.created"]
    sequences = [int(r.headers["x-gledger-sequence"]) for r in arrived]
    assert sequences == [2, 1]  # the receiver can put them back in order


def test_webhook_rules_leave_other_endpoints_alone(frozen: Sandbox, receiver: Receiver) -> None:
    other = Receiver().start()
    try:
        dropped_id, _ = subscribe(frozen, receiver)
        subscribe(frozen, other)
        add_fault(
            frozen, match={"webhook_endpoint_id": dropped_id}, effect={"type": "webhook_drop"}
        )
        new_ledger(frozen)
        [arrived] = other.wait_for(1)
        assert json.loads(arrived.body)["type"] == "ledger.created"
        time.sleep(0.2)
        assert receiver.received == []
    finally:
        other.stop()


def _dropped_pattern(server: ServerThread, receiver: Receiver, seed: int) -> list[int]:
    box = new_sandbox(server, clock_start=START)
    try:
        endpoint_id, _ = subscribe(box, receiver)
        effect = {"type": "webhook_drop"}
        add_fault(box, match={}, effect=effect, probability=0.5, seed=seed)
        for n in range(12):
            new_ledger(box, f"Ledger {n}")
        deadline = time.monotonic() + 10
        listed = deliveries(box, endpoint_id)
        while not all(d["attempts"] for d in listed):
            assert time.monotonic() < deadline, "attempts still under way"
            time.sleep(0.05)
            listed = deliveries(box, endpoint_id)
        assert len(listed) == 12
        return sorted(d["sequence"] for d in listed if d["attempts"][0]["error"])
    finally:
        box.client.close()


def test_seeded_webhook_faults_drop_the_same_deliveries(
    server: ServerThread, receiver: Receiver
) -> None:
    first = _dropped_pattern(server, receiver, 9)
    assert 0 < len(first) < 12
    assert _dropped_pattern(server, receiver, 9) == first


def test_a_deleted_tenants_held_back_deliveries_are_never_sent(
    server: ServerThread, receiver: Receiver
) -> None:
    kept, gone = new_sandbox(server, clock_start=START), new_sandbox(server, clock_start=START)
    ledgers = []
    for box in (kept, gone):
        subscribe(box, receiver)
        add_fault(box, match={}, effect={"type": "webhook_delay", "latency_ms": 500})
        ledgers.append(new_ledger(box))  # its ledger.created webhook waits 0.5 s
    assert gone.client.delete("/v1/sandbox/tenant").status_code == 204
    arrived = receiver.wait_for(1)
    time.sleep(0.8)  # well past the delay: a webhook of the deleted tenant would be here
    assert len(receiver.received) == 1
    assert json.loads(arrived[0].body)["data"]["id"] == ledgers[0]
    kept.client.close()
    gone.client.close()


def test_a_reset_tenants_held_back_deliveries_of_before_the_reset_are_never_sent(
    frozen: Sandbox, receiver: Receiver
) -> None:
    subscribe(frozen, receiver)
    add_fault(frozen, match={}, effect={"type": "webhook_delay", "latency_ms": 500})
    new_ledger(frozen, "Before the reset")
    assert frozen.client.post("/v1/sandbox/reset", json={}).status_code == 200
    time.sleep(1.0)
    assert receiver.received == []  # the reset took the endpoint and its deliveries with it
