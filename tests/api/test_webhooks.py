"""Webhooks end to end: a real receiver on loopback, signatures checked with `standardwebhooks`.

Tenants here run on a frozen clock (deterministic mode: no jitter), and the tests move it with
``POST /v1/sandbox/clock/advance``, which runs each retry at its moment and waits for it.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import Books, Sandbox, ServerThread, entry_body, new_sandbox
from tests.receiver import Behaviour, Received, Receiver

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def make_books(box: Sandbox) -> Books:
    ledger = box.client.post("/v1/ledgers", json={"name": "Hooks"}).json()["id"]
    accounts = {}
    for code, kind in [("cash", "asset"), ("revenue", "revenue")]:
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        created = box.client.post(f"/v1/ledgers/{ledger}/accounts", json=body)
        accounts[code] = created.json()["id"]
    return Books(ledger, accounts)


def subscribe(box: Sandbox, url: str, **extra: Any) -> dict[str, Any]:
    created = box.client.post("/v1/webhook-endpoints", json={"url": url, **extra})
    assert created.status_code == 201, created.text
    endpoint: dict[str, Any] = created.json()
    assert endpoint["secret"].startswith("whsec_")
    return endpoint


def advance(box: Sandbox, seconds: float) -> dict[str, Any]:
    moved = box.client.post("/v1/sandbox/clock/advance", json={"seconds": seconds})
    assert moved.status_code == 200, moved.text
    report: dict[str, Any] = moved.json()
    return report


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The payload, once the independent library has verified its signature."""
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


def post_entries(box: Sandbox, books: Books, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = entry_body(books, ("cash", "debit", 100 + n), ("revenue", "credit", 100 + n))
        created = box.client.post("/v1/entries", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def test_every_event_arrives_signed_in_recoverable_order_despite_failures_and_downtime(
    frozen: Sandbox, receiver: Receiver
) -> None:
    books = make_books(frozen)
    endpoint = subscribe(frozen, receiver.url, event_types=["entry.created"])
    receiver.behaviour = Behaviour(fail_every=3)  # one attempt in three answers 500
    first = post_entries(frozen, books, 6)
    receiver.wait_for(4)
    receiver.stop()  # down: every attempt now is refused
    second = post_entries(frozen, books, 6)
    report = advance(frozen, 10)  # the first retries run while it is down
    assert report["webhook_attempts"] >= 6 and report["webhook_attempts_succeeded"] == 0
    receiver.start()  # back up, on the same port
    advance(frozen, sum(SCHEDULE))
    deliveries = frozen.client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"limit": 100}
    ).json()["data"]
    assert {d["status"] for d in deliveries} == {"succeeded"}, deliveries

    arrived = [verified(endpoint["secret"], r) for r in receiver.delivered()]
    by_sequence: dict[int, dict[str, Any]] = {}
    for request, payload in zip(receiver.delivered(), arrived, strict=True):
        assert request.headers["webhook-id"] == payload["id"]
        by_sequence.setdefault(int(request.headers["x-gledger-sequence"]), payload)
    # Every entry's event arrived at least once; sorting by sequence restores commit order.
    assert sorted(by_sequence) == list(range(1, 13))
    in_order = [by_sequence[n] for n in sorted(by_sequence)]
    assert [p["data"]["id"] for p in in_order] == first + second
    assert [p["sequence"] for p in in_order] == sorted(p["sequence"] for p in in_order)
    assert {p["type"] for p in in_order} == {"entry.created"}


def test_retries_follow_the_schedule_on_the_sandbox_clock_and_keep_their_webhook_id(
    frozen: Sandbox, receiver: Receiver
) -> None:
    make_books(frozen)
    receiver.behaviour = Behaviour(status=503)
    endpoint = subscribe(frozen, receiver.url)
    frozen.client.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"description": "x"})
    frozen.client.post("/v1/ledgers", json={"name": "one more"})
    advance(frozen, 0.001)  # settles the first attempt
    (delivery,) = frozen.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()[
        "data"
    ]
    assert delivery["status"] == "pending" and delivery["attempt_count"] == 1
    assert delivery["last_response_status"] == 503
    clock = frozen.client.get("/v1/sandbox/clock").json()
    assert clock["next_due_at"] == delivery["next_attempt_at"]
    report = advance(frozen, sum(SCHEDULE))
    assert report["steps"] == len(SCHEDULE) and report["webhook_attempts"] == len(SCHEDULE)
    delivery = frozen.client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"status": "failed"}
    ).json()["data"][0]
    assert delivery["attempt_count"] == 8 and delivery["next_attempt_at"] is None
    starts = [a["started_at"] for a in delivery["attempts"]]
    gaps = [(_seconds(later) - _seconds(earlier)) for earlier, later in itertools.pairwise(starts)]
    assert [round(g) for g in gaps] == SCHEDULE
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {delivery["event_id"]}
    assert [int(r.headers["x-gledger-attempt"]) for r in receiver.received] == list(range(1, 9))


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_410_disables_the_endpoint_and_replay_delivers_the_failed_ones_later(
    frozen: Sandbox, receiver: Receiver
) -> None:
    receiver.behaviour = Behaviour(status=410)
    endpoint = subscribe(frozen, receiver.url)
    frozen.client.post("/v1/ledgers", json={"name": "gone"})
    advance(frozen, 0.001)
    found = frozen.client.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert found["status"] == "disabled" and "410" in found["disabled_reason"]
    refused = frozen.client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/replay", json={"failed_only": True}
    )
    assert refused.status_code == 409 and refused.json()["code"] == "webhook.endpoint_disabled"
    frozen.client.post("/v1/ledgers", json={"name": "while disabled"})
    receiver.behaviour = Behaviour(status=200)
    enabled = frozen.client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", json={"status": "enabled"}
    )
    assert enabled.json()["status"] == "enabled" and enabled.json()["disabled_reason"] is None
    replayed = frozen.client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/replay", json={"failed_only": True}
    )
    assert replayed.status_code == 202 and replayed.json() == {"replayed": 1}
    advance(frozen, 0.001)
    names = [json.loads(r.body)["data"]["name"] for r in receiver.delivered()]
    assert names == ["gone"]
    # A range replay makes new deliveries for every retained event in it, of the wanted types.
    everything = frozen.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/replay", json={})
    assert everything.json()["replayed"] == 2
    advance(frozen, 0.001)
    # Attempts run concurrently, so arrival order is free: the sequence header restores it.
    delivered = sorted(receiver.delivered(), key=lambda r: int(r.headers["x-gledger-sequence"]))
    assert [json.loads(r.body)["data"]["name"] for r in delivered] == [
        "gone",
        "gone",
        "while disabled",
    ]


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    frozen: Sandbox, receiver: Receiver
) -> None:
    endpoint = subscribe(frozen, receiver.url)
    rotated = frozen.client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret",
        json={"expire_previous_after_seconds": 3600},
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"] and rotated.json()["secrets_in_use"] == 2
    assert "secret" not in frozen.client.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    ping = frozen.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert ping.status_code == 200, ping.text
    assert ping.json()["status"] == "succeeded" and ping.json()["event_type"] == "webhook.test"
    (request,) = receiver.delivered()
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(endpoint["secret"], request)["type"] == "webhook.test"
    assert verified(new_secret, request)["data"]["id"] == endpoint["id"]
    advance(frozen, 3600)
    frozen.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    last = receiver.delivered()[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    verified(new_secret, last)
    with pytest.raises(Exception, match="signature"):
        verified(endpoint["secret"], last)


def test_an_attempt_that_outlasts_the_timeout_fails_and_a_manual_retry_reports_its_outcome(
    frozen: Sandbox, receiver: Receiver
) -> None:
    receiver.behaviour = Behaviour(hang_seconds=1.5)
    endpoint = subscribe(frozen, receiver.url)
    ping = frozen.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test").json()
    assert ping["status"] == "failed"  # a ping is tried once
    assert "no answer within 1 s" in ping["attempts"][0]["error"]
    receiver.behaviour = Behaviour()
    retried = frozen.client.post(f"/v1/webhook-deliveries/{ping['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "succeeded" and retried.json()["attempt_count"] == 2
    assert retried.json()["attempts"][1]["response_status"] == 204


def test_endpoints_are_listed_filtered_and_deleted_within_their_tenant(
    frozen: Sandbox, server: ServerThread, receiver: Receiver
) -> None:
    first = subscribe(frozen, receiver.url, event_types=["ledger.created"], metadata={"a": "1"})
    second = subscribe(frozen, receiver.url + "/two")
    listed = frozen.client.get("/v1/webhook-endpoints", params={"order": "asc"}).json()
    assert [e["id"] for e in listed["data"]] == [first["id"], second["id"]]
    other = new_sandbox(server)
    try:
        assert other.client.get(f"/v1/webhook-endpoints/{first['id']}").status_code == 404
    finally:
        other.client.close()
    for url in ["ftp://nope", "http://[::1/", "https://a\tb/", "http:///no-host"]:
        bad = frozen.client.post("/v1/webhook-endpoints", json={"url": url})
        assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/url", url
    bad = frozen.client.patch(f"/v1/webhook-endpoints/{first['id']}", json={"url": "http://[::1/"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/url"
    assert frozen.client.delete(f"/v1/webhook-endpoints/{first['id']}").status_code == 204
    assert frozen.client.get(f"/v1/webhook-endpoints/{first['id']}").status_code == 404
