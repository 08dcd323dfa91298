"""A tenant's allowed client networks: set through the API, enforced at every door with 403.

The server trusts its loopback proxy (``--trust-proxy 127.0.0.1``), so a request says where its
client is with ``X-Forwarded-For``, as a reverse proxy in front of the sandbox would.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from gledger_sandbox.api.settings import ConnectionSettings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app
from tests.conftest import DEFAULT_KEY, TEST_SETTINGS, Sandbox, new_sandbox

PARTNER = {"X-Forwarded-For": "203.0.113.7"}
ELSEWHERE = {"X-Forwarded-For": "198.51.100.20"}


@pytest.fixture(scope="module")
def proxied() -> Iterator[LoopbackServer]:
    settings = dataclasses.replace(
        TEST_SETTINGS, connections=ConnectionSettings(trusted_proxies=("127.0.0.1",))
    )
    app, services = sandbox_app(settings)
    with LoopbackServer(app, services=services) as running:
        yield running


@pytest.fixture
def box(proxied: LoopbackServer) -> Iterator[Sandbox]:
    made = new_sandbox(proxied)
    yield made
    made.client.close()


def restrict(box: Sandbox, *networks: str, headers: dict[str, str] = PARTNER) -> httpx.Response:
    return box.client.put(
        "/v1/sandbox/allowed-networks", json={"networks": list(networks)}, headers=headers
    )


def assert_refused(answer: httpx.Response, address: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "client_network_not_allowed"
    assert address in problem["detail"]
    assert problem["request_id"] == answer.headers["x-gledger-request-id"]


def test_requests_from_outside_the_listed_networks_are_refused_at_every_door(
    proxied: LoopbackServer, box: Sandbox
) -> None:
    assert box.client.get("/v1/sandbox/allowed-networks").json() == {
        "networks": [],
        "client_address": "127.0.0.1",
    }
    made = restrict(box, "203.0.113.0/24", "2001:db8::/32")
    assert made.status_code == 200, made.text
    assert made.json() == {
        "networks": ["203.0.113.0/24", "2001:db8::/32"],
        "client_address": "203.0.113.7",
    }
    assert box.client.get("/v1/ledgers", headers=PARTNER).status_code == 200
    assert box.client.get("/v1/ledgers", headers={"X-Forwarded-For": "2001:db8::5"}).is_success
    assert_refused(box.client.get("/v1/ledgers", headers=ELSEWHERE), "198.51.100.20")
    assert_refused(box.client.get("/v1/ledgers"), "127.0.0.1")  # the proxy itself: no
    assert_refused(box.client.post("/v1/ledgers", json={"name": "x"}), "127.0.0.1")
    assert_refused(box.client.get("/v1/events/stream", headers=ELSEWHERE), "198.51.100.20")

    # An access token of the tenant is held to the same list.
    client = box.credentials["client_id"], box.credentials["client_secret"]
    token = httpx.post(
        f"{proxied.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=client,
        headers=PARTNER,
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert httpx.get(f"{proxied.url}/v1/ledgers", headers={**bearer, **PARTNER}).is_success
    assert_refused(httpx.get(f"{proxied.url}/v1/ledgers", headers=bearer), "127.0.0.1")

    # Every way the WebSocket feed takes a credential.
    ws = proxied.url.replace("http://", "ws://") + "/v1/events/ws"
    key = box.credentials["api_key"]
    for url, first in ((f"{ws}?access_token={key}", None), (ws, {"access_token": key})):
        with connect(url) as socket:
            if first is not None:
                socket.send(json.dumps(first))
            closing = json.loads(socket.recv(timeout=5))
            assert closing["kind"] == "error", closing
            assert closing["problem"]["code"] == "client_network_not_allowed"

    # Other tenants are not affected; an empty list lifts the restriction.
    other = {"Authorization": f"Bearer {DEFAULT_KEY}", **ELSEWHERE}
    assert httpx.get(f"{proxied.url}/v1/ledgers", headers=other).status_code == 200
    assert restrict(box, headers=PARTNER).json()["networks"] == []
    assert box.client.get("/v1/ledgers").status_code == 200


def test_a_list_that_would_lock_the_caller_out_or_is_no_network_is_refused(box: Sandbox) -> None:
    locked = restrict(box, "198.51.100.0/24")
    assert locked.status_code == 422
    assert locked.json()["code"] == "allowlist.excludes_caller"
    assert locked.json()["errors"][0]["pointer"] == "/networks"
    wrong = restrict(box, "203.0.113.0/24", "10.0.0.300/8")
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["pointer"] == "/networks/1"
    assert box.client.get("/v1/sandbox/allowed-networks").json()["networks"] == []
    assert box.client.get("/v1/ledgers", headers=ELSEWHERE).status_code == 200


def test_the_list_survives_a_reset_and_matches_ipv4_mapped_addresses(box: Sandbox) -> None:
    assert restrict(box, "203.0.113.7").json()["networks"] == ["203.0.113.7/32"]
    reset = box.client.post("/v1/sandbox/reset", json={}, headers=PARTNER)
    assert reset.status_code == 200, reset.text
    assert_refused(box.client.get("/v1/ledgers", headers=ELSEWHERE), "198.51.100.20")
    mapped = {"X-Forwarded-For": "::ffff:203.0.113.7"}
    assert box.client.get("/v1/ledgers", headers=mapped).status_code == 200
