"""Quotas per tenant and per client address, through a real server with small bounds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from gledger_sandbox.api.public import public_settings
from gledger_sandbox.api.settings import ConnectionSettings
from gledger_sandbox.bootstrap import sandbox_app
from gledger_sandbox.domain.quotas import QuotaExceeded, TenantQuotas
from tests.conftest import TEST_SETTINGS, Sandbox, ServerThread, new_sandbox
from tests.receiver import Receiver

QUOTAS = {
    "entries": 3,
    "webhook_endpoints": 2,
    "events_kept": 5,
    "deliveries_kept": 3,
    "metadata_bytes": 100,
    "snapshots": 2,
}


@pytest.fixture(scope="module")
def bounded() -> Iterator[ServerThread]:
    """Local mode (webhooks may reach the loopback receiver), with small quotas of its own."""
    bounds = public_settings(False, quotas=QUOTAS)
    app, services = sandbox_app(replace(TEST_SETTINGS, fixture="empty", public=bounds))
    with ServerThread(app, services=services) as server:
        yield server


@pytest.fixture
def tenant(bounded: ServerThread) -> Iterator[Sandbox]:
    box = new_sandbox(bounded)
    yield box
    box.client.close()


def _quota_problem(answer: httpx.Response, status: int, code: str, limit: int) -> None:
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["code"] == code
    assert problem["limit"] == limit
    assert problem["request_id"] == answer.headers["X-GLedger-Request-Id"]


def _books(box: Sandbox) -> tuple[str, str, str]:
    ledger = box.client.post("/v1/ledgers", json={"name": "Quota"}).json()["id"]
    ids = []
    for code, kind in (("cash", "asset"), ("revenue", "revenue")):
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        ids.append(box.client.post(f"/v1/ledgers/{ledger}/accounts", json=body).json()["id"])
    return ledger, ids[0], ids[1]


def _entry(ledger: str, cash: str, revenue: str) -> dict[str, object]:
    return {
        "ledger_id": ledger,
        "lines": [
            {"account_id": cash, "direction": "debit", "amount": 100},
            {"account_id": revenue, "direction": "credit", "amount": 100},
        ],
    }


def test_snapshots_stop_at_the_quota_before_the_shelf_bound(tenant: Sandbox) -> None:
    made = [tenant.client.post("/v1/sandbox/snapshots", json={"name": f"s{n}"}) for n in range(3)]
    assert [a.status_code for a in made] == [201, 201, 422]
    _quota_problem(made[2], 422, "quota.snapshots", 2)
    assert made[2].json()["quota"] == "snapshots"
    assert len(tenant.client.get("/v1/sandbox/snapshots").json()["data"]) == 2  # none half-made
    deleted = tenant.client.delete(f"/v1/sandbox/snapshots/{made[0].json()['id']}")
    assert deleted.status_code == 204, deleted.text
    again = tenant.client.post("/v1/sandbox/snapshots", json={"name": "again"})
    assert again.status_code == 201, again.text


def test_entries_stop_at_the_quota_with_the_limit_in_the_answer(tenant: Sandbox) -> None:
    ledger, cash, revenue = _books(tenant)
    made = [tenant.client.post("/v1/entries", json=_entry(ledger, cash, revenue)) for _ in range(4)]
    assert [a.status_code for a in made] == [201, 201, 201, 422]
    _quota_problem(made[3], 422, "quota.entries", 3)
    assert made[3].json()["quota"] == "entries"
    batch = tenant.client.post(
        "/v1/entries/batch", json={"atomic": True, "entries": [_entry(ledger, cash, revenue)]}
    )
    assert batch.status_code == 422, batch.text
    assert tenant.client.get("/v1/sandbox/tenant").json()["counts"]["entries"] == 3


def test_webhook_endpoints_stop_at_the_quota(tenant: Sandbox) -> None:
    made = [
        tenant.client.post("/v1/webhook-endpoints", json={"url": f"http://127.0.0.1:9/{n}"})
        for n in range(3)
    ]
    assert [a.status_code for a in made] == [201, 201, 422]
    _quota_problem(made[2], 422, "webhook.endpoint_limit_reached", 2)


def test_metadata_bytes_count_against_the_tenant_until_a_reset(tenant: Sandbox) -> None:
    sixty = {"note": "x" * 49}  # {"note":"x...x"} is 60 bytes of JSON
    first = tenant.client.post("/v1/ledgers", json={"name": "A", "metadata": sixty})
    assert first.status_code == 201, first.text
    second = tenant.client.post("/v1/ledgers", json={"name": "B", "metadata": sixty})
    _quota_problem(second, 422, "quota.metadata_bytes", 100)
    assert len(tenant.client.get("/v1/ledgers").json()["data"]) == 1  # refused whole
    # A patch carries metadata too.
    patched = tenant.client.patch(f"/v1/ledgers/{first.json()['id']}", json={"metadata": sixty})
    assert patched.status_code == 422
    assert tenant.client.post("/v1/ledgers", json={"name": "C"}).status_code == 201
    assert tenant.client.post("/v1/sandbox/reset", json={}).status_code == 200
    again = tenant.client.post("/v1/ledgers", json={"name": "D", "metadata": sixty})
    assert again.status_code == 201, again.text


def test_only_the_newest_events_are_kept(tenant: Sandbox) -> None:
    for n in range(8):
        tenant.client.post("/v1/ledgers", json={"name": f"L{n}"})
    gone = tenant.client.get("/v1/events", params={"after": 2, "limit": 50})
    assert gone.status_code == 410, gone.text  # event 3 is no longer kept
    assert gone.json()["code"] == "events.cursor_expired"
    kept = tenant.client.get("/v1/events", params={"after": 3, "limit": 50})
    assert [e["sequence"] for e in kept.json()["data"]] == [4, 5, 6, 7, 8]


def test_only_the_newest_finished_deliveries_are_kept(tenant: Sandbox) -> None:
    receiver = Receiver().start()
    try:
        created = tenant.client.post("/v1/webhook-endpoints", json={"url": receiver.url})
        endpoint = created.json()["id"]
        for n in range(8):
            tenant.client.post("/v1/ledgers", json={"name": f"L{n}"})
            deadline = time.monotonic() + 5
            while len(receiver.received) <= n and time.monotonic() < deadline:
                time.sleep(0.02)
        assert len(receiver.received) == 8
        listed = tenant.client.get(f"/v1/webhook-endpoints/{endpoint}/deliveries").json()
        # Forgotten as new ones are made: at most the quota, plus the one made since.
        assert len(listed["data"]) <= 3 + 1
    finally:
        receiver.stop()


def test_tenant_creations_per_address_and_hour() -> None:
    """Three an hour from one address: the fourth is 429 with the limit and Retry-After; a
    refused creation (an unknown fixture) costs nothing; another address has its own."""
    bounds = public_settings(False, creations_per_hour=3)
    settings = replace(
        TEST_SETTINGS, public=bounds, connections=ConnectionSettings(trusted_proxies=("*",))
    )
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as server, httpx.Client(base_url=server.url) as c:
        bad = [c.post("/v1/sandbox/tenants", json={"fixture": "no-such-profile"}) for _ in "ab"]
        assert [a.status_code for a in bad] == [400, 400]
        answers = [c.post("/v1/sandbox/tenants", json={"fixture": "empty"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        _quota_problem(answers[3], 429, "quota.tenant_creations", 3)
        assert 0 < int(answers[3].headers["Retry-After"]) <= 3600
        elsewhere = {"X-Forwarded-For": "203.0.113.9"}  # through a trusted proxy
        assert c.post("/v1/sandbox/tenants", json={}, headers=elsewhere).status_code == 201


def test_a_quota_refusal_is_not_kept_under_its_idempotency_key() -> None:
    """A 429 is a limit of the moment: the key is left free, so a retry later can succeed."""
    bounds = public_settings(False, creations_per_hour=1)
    settings = replace(
        TEST_SETTINGS, public=bounds, connections=ConnectionSettings(trusted_proxies=("*",))
    )
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as server, httpx.Client(base_url=server.url) as c:
        key = {"Idempotency-Key": "try-again-later"}
        assert c.post("/v1/sandbox/tenants", json={}, headers=key).status_code == 201
        other = {"Idempotency-Key": "second-key"}
        assert c.post("/v1/sandbox/tenants", json={}, headers=other).status_code == 429
        services.creations.per_hour = 2  # the hour moved on, say
        retried = c.post("/v1/sandbox/tenants", json={}, headers=other)
        assert retried.status_code == 201, retried.text
        assert "Idempotent-Replayed" not in retried.headers


def test_the_snapshot_quota_is_a_hook_for_the_snapshots_feature() -> None:
    quotas = TenantQuotas(snapshots=2)
    quotas.check("snapshots", 1)
    with pytest.raises(QuotaExceeded) as refused:
        quotas.check("snapshots", 2)
    assert (refused.value.code, refused.value.limit) == ("quota.snapshots", 2)
    TenantQuotas().check("snapshots", 10**6)  # unbounded by default
