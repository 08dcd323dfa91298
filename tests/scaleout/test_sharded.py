"""Two shards behind the real HAProxy on loopback: every request, stream and WebSocket reaches
the shard its credential names, and tenants on different shards share nothing."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from websockets.sync.client import connect

from gledger_sandbox.api.settings import Settings, StreamSettings
from gledger_sandbox.contract import ContractOptions, run_contract
from gledger_sandbox.contract.spec import load_spec
from gledger_sandbox.domain.sandbox.credentials import shard_of
from gledger_sandbox.scaleout.workers import Running, ShardedSandbox

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy on PATH")

KEY = "gls_test_untagged_default_key"
SETTINGS = Settings(
    api_key=KEY, validate_responses=True, streams=StreamSettings(keepalive_seconds=0.5)
)


@pytest.fixture(scope="module")
def sharded() -> Iterator[Running]:
    with ShardedSandbox(SETTINGS, 2, "127.0.0.1", 0, "warning") as sandbox:
        yield sandbox.start()


def _tenants_on_both_shards(url: str) -> dict[int, dict[str, Any]]:
    """Tenants created through the proxy until one lives on each shard (round-robin: two)."""
    found: dict[int, dict[str, Any]] = {}
    for _ in range(6):
        created = httpx.post(f"{url}/v1/sandbox/tenants", json={"fixture": "merchant", "seed": 3})
        assert created.status_code == 201, created.text
        body = created.json()
        found.setdefault(shard_of(body["tenant_id"]) or 0, body)
        if len(found) == 2:
            return found
    raise AssertionError(f"every tenant landed on shards {sorted(found)}")


@pytest.fixture(scope="module")
def tenants(sharded: Running) -> dict[int, dict[str, Any]]:
    return _tenants_on_both_shards(sharded.url)


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_every_id_and_credential_names_its_shard_and_the_tenant_lives_only_there(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    for shard, tenant in tenants.items():
        for field in ("tenant_id", "api_key", "client_id", "client_secret"):
            assert shard_of(tenant[field]) == shard, (field, tenant[field])
        # Straight to each shard (no proxy): only its own shard knows the key.
        for other, shard_url in enumerate(sharded.shards):
            answer = httpx.get(f"{shard_url}/v1/sandbox/tenant", headers=_bearer(tenant["api_key"]))
            assert answer.status_code == (200 if other == shard else 401), answer.text
        # Through the proxy, many times over one keep-alive connection: always its shard.
        with httpx.Client(base_url=sharded.url, headers=_bearer(tenant["api_key"])) as client:
            for _ in range(5):
                answer = client.get("/v1/sandbox/tenant")
                assert answer.json()["tenant_id"] == tenant["tenant_id"]


def test_two_tenants_on_two_shards_are_isolated_though_their_seeded_ids_are_the_same(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    ledgers = {
        shard: httpx.get(f"{sharded.url}/v1/ledgers", headers=_bearer(t["api_key"])).json()
        for shard, t in tenants.items()
    }
    # Same fixture and seed: the same resource ids, on two shards.
    ledger_id = ledgers[0]["data"][0]["id"]
    assert ledgers[1]["data"][0]["id"] == ledger_id
    entry = {
        "ledger_id": ledger_id,
        "lines": [
            {"account_code": "cash", "direction": "debit", "amount": 777},
            {"account_code": "revenue", "direction": "credit", "amount": 777},
        ],
    }
    posted = httpx.post(
        f"{sharded.url}/v1/entries", json=entry, headers=_bearer(tenants[1]["api_key"])
    )
    assert posted.status_code == 201, posted.text
    entry_id = posted.json()["id"]
    mine = httpx.get(f"{sharded.url}/v1/entries/{entry_id}", headers=_bearer(tenants[1]["api_key"]))
    theirs = httpx.get(
        f"{sharded.url}/v1/entries/{entry_id}", headers=_bearer(tenants[0]["api_key"])
    )
    assert mine.status_code == 200 and mine.json()["lines"][0]["amount"] == 777
    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"


@pytest.mark.parametrize("client_auth", ["basic", "form"])
def test_the_token_endpoint_reaches_the_clients_shard_by_basic_or_form(
    sharded: Running, tenants: dict[int, dict[str, Any]], client_auth: str
) -> None:
    for shard, tenant in tenants.items():
        form = {"grant_type": "client_credentials"}
        if client_auth == "basic":
            auth: tuple[str, str] | None = (tenant["client_id"], tenant["client_secret"])
        else:
            auth = None
            form |= {"client_id": tenant["client_id"], "client_secret": tenant["client_secret"]}
        granted = httpx.post(f"{sharded.url}/oauth/token", data=form, auth=auth)
        assert granted.status_code == 200, granted.text
        token = granted.json()["access_token"]
        assert shard_of(token) == shard
        answer = httpx.get(f"{sharded.url}/v1/sandbox/tenant", headers=_bearer(token))
        assert answer.json()["tenant_id"] == tenant["tenant_id"]


def test_a_replayed_tenant_creation_reaches_the_shard_that_made_the_tenant(
    sharded: Running,
) -> None:
    def create(key: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{sharded.url}/v1/sandbox/tenants",
            json={"fixture": "empty"},
            headers={"Idempotency-Key": key},
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    keys = [f"replay-{os.getpid()}-{n}" for n in range(24)]
    first = {key: create(key) for key in keys}
    # Each replay answers the tenant the first call made (round-robin would alternate shards).
    for key in keys[:4]:
        for _ in range(3):
            assert create(key)["tenant_id"] == first[key]["tenant_id"], key
    # Keyed creations still spread over the shards (24 keys all on one: about 1 in 8 million).
    assert {shard_of(t["tenant_id"]) for t in first.values()} == {0, 1}


def test_an_untagged_key_reaches_shard_zero_where_the_default_tenant_lives(
    sharded: Running,
) -> None:
    for _ in range(3):
        answer = httpx.get(f"{sharded.url}/v1/sandbox/tenant", headers=_bearer(KEY))
        assert answer.status_code == 200, answer.text
        assert shard_of(answer.json()["tenant_id"]) == 0


def _post_entry(url: str, key: str, amount: int) -> str:
    ledger = httpx.get(f"{url}/v1/ledgers", headers=_bearer(key)).json()["data"][0]["id"]
    body = {
        "ledger_id": ledger,
        "lines": [
            {"account_code": "cash", "direction": "debit", "amount": amount},
            {"account_code": "revenue", "direction": "credit", "amount": amount},
        ],
    }
    posted = httpx.post(f"{url}/v1/entries", json=body, headers=_bearer(key))
    assert posted.status_code == 201, posted.text
    return str(posted.json()["id"])


def test_an_sse_stream_follows_its_tenant_through_the_proxy(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    for tenant in tenants.values():
        key = tenant["api_key"]
        with (
            httpx.Client(base_url=sharded.url, headers=_bearer(key), timeout=10) as client,
            connect_sse(
                client, "GET", "/v1/events/stream", params={"types": "entry.created", "timeout": 8}
            ) as source,
        ):
            assert source.response.status_code == 200
            # Written after the stream opened, by another connection: it must arrive live.
            writer = threading.Timer(0.5, _post_entry, (sharded.url, key, 4242))
            writer.start()
            for event in source.iter_sse():
                entry = json.loads(event.data)["data"]
                if entry["lines"][0]["amount"] == 4242:
                    break
            writer.join()


@pytest.mark.parametrize("carried", ["header", "query"])
def test_a_websocket_follows_its_tenant_through_the_proxy(
    sharded: Running, tenants: dict[int, dict[str, Any]], carried: str
) -> None:
    ws_url = sharded.url.replace("http", "ws") + "/v1/events/ws?types=entry.created"
    for tenant in tenants.values():
        key = tenant["api_key"]
        if carried == "header":
            socket = connect(ws_url, additional_headers=_bearer(key), open_timeout=10)
        else:
            socket = connect(f"{ws_url}&access_token={key}", open_timeout=10)
        with socket:
            assert json.loads(socket.recv(timeout=10))["kind"] == "ready"
            entry_id = _post_entry(sharded.url, key, 5151)
            while True:
                message = json.loads(socket.recv(timeout=10))
                assert message["kind"] == "event", message
                if message["event"]["data"]["id"] == entry_id:
                    break


CONTRACT_EXAMPLES = int(os.environ.get("GLEDGER_PROXY_FUZZ_EXAMPLES", "10"))
"""Examples per operation through the proxy: every operation, phase and check, with fewer
generated requests than the suite's full run against one server (test_kit.py, 25); 25 here
takes about 110 s on a shared 2-core machine, 10 about 45 s."""


@pytest.mark.slow
def test_the_contract_kit_passes_through_the_proxy(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    summary = io.StringIO()
    options = ContractOptions(
        base_url=sharded.url,
        api_key=tenants[1]["api_key"],
        examples=CONTRACT_EXAMPLES,
        seed=20240501,
        quiet=True,
        own_tenant=True,
    )

    report = run_contract(options, summary)

    assert report.ok, summary.getvalue()
    fuzzed = {o.name for o in report.outcomes if o.phase == "fuzz" and o.skipped is None}
    # Every operation: the self-destructive ones on throwaway tenants the kit creates (through
    # the proxy, so on whichever shard their creation landed).
    assert fuzzed == set(load_spec().operations)
    ran = {(o.phase, o.check) for o in report.outcomes if o.skipped is None}
    assert ("ledger", "auth_enforced") in ran and ("ledger", "webhook_signature") in ran


def test_a_websocket_credential_in_a_first_message_on_another_shard_is_told_where_it_lives(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    # The proxy cannot read a first message, so such a WebSocket may reach any shard.
    wrong = sharded.shards[0].replace("http", "ws") + "/v1/events/ws"
    with connect(wrong, open_timeout=10) as socket:
        socket.send(json.dumps({"access_token": tenants[1]["api_key"]}))
        message = json.loads(socket.recv(timeout=10))
    assert message["kind"] == "error" and message["problem"]["code"] == "unauthorized"
    assert "shard 1" in message["problem"]["detail"], message
    assert "Authorization: Bearer or ?access_token=" in message["problem"]["detail"]


def test_a_made_api_key_names_its_tenants_shard_and_the_proxy_routes_it_there(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    """Keys made with POST /v1/sandbox/api-keys (and their rotated secrets) carry the shard of
    the tenant that made them, so the proxy routes them without a table of keys."""
    for shard, tenant in tenants.items():
        with httpx.Client(base_url=sharded.url, headers=_bearer(tenant["api_key"])) as admin:
            made = admin.post("/v1/sandbox/api-keys", json={"name": "routed"}).json()
            rotated = admin.post(f"/v1/sandbox/api-keys/{made['id']}/rotate").json()
        for secret in (made["secret"], rotated["secret"]):
            assert shard_of(secret) == shard, secret
        through = httpx.get(f"{sharded.url}/v1/sandbox/tenant", headers=_bearer(rotated["secret"]))
        assert through.status_code == 200 and through.json()["tenant_id"] == tenant["tenant_id"]
        old = httpx.get(f"{sharded.url}/v1/sandbox/tenant", headers=_bearer(made["secret"]))
        assert old.json()["code"] == "api_key_rotated"  # reached its shard, which knows it


def _proxy_threads(config: str) -> list[int]:
    """The threads of the HAProxy started with ``config`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and b"-f" in argv and config.encode() in argv:
            found += [int(task.name) for task in (entry / "task").iterdir()]
    return found


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="no SCHED_BATCH (not Linux)")
def test_the_proxy_runs_as_a_batch_task_so_its_wake_ups_do_not_preempt_a_shard(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    threads = _proxy_threads(str(sharded.config))
    assert threads, "no HAProxy process runs with the sandbox's config"
    assert {os.sched_getscheduler(thread) for thread in threads} == {os.SCHED_BATCH}
    # And it routes as ever: each tenant's key to its own shard.
    for tenant in tenants.values():
        answer = httpx.get(f"{sharded.url}/v1/sandbox/tenant", headers=_bearer(tenant["api_key"]))
        assert answer.json()["tenant_id"] == tenant["tenant_id"]


def test_a_client_cannot_name_its_own_address_through_the_proxy(
    sharded: Running, tenants: dict[int, dict[str, Any]]
) -> None:
    # HAProxy is the edge: a forwarded address the client made up is dropped, and the shard
    # sees the client's real one (here loopback), as its allowed-networks list would.
    made_up = {"X-Forwarded-For": "9.9.9.9", "X-Forwarded-Proto": "https"}
    for tenant in tenants.values():
        headers = {**_bearer(tenant["api_key"]), **made_up}
        answer = httpx.get(f"{sharded.url}/v1/sandbox/allowed-networks", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["client_address"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("trusted", "front"),
    [
        (("127.0.0.1",), "127.0.0.1"),
        # uvicorn trusts any peer only for a list of "*" alone: the shards' list stays so (no
        # HAProxy loopback added), or a front proxy on another address is not believed.
        (("*",), "127.0.0.2"),
    ],
)
def test_a_front_proxy_named_trusted_still_forwards_its_clients_address(
    trusted: tuple[str, ...], front: str
) -> None:
    # `serve --workers --trust-proxy 127.0.0.1` (or '*'): a proxy in front of HAProxy (here on
    # loopback, at ``front``) is believed, so the address it forwards is the one the shard sees.
    connections = replace(SETTINGS.connections, trusted_proxies=trusted)
    with ShardedSandbox(
        replace(SETTINGS, connections=connections), 2, "127.0.0.1", 0, "warning"
    ) as sandbox:
        running = sandbox.start()
        headers = {**_bearer(KEY), "X-Forwarded-For": "203.0.113.7"}
        with httpx.Client(transport=httpx.HTTPTransport(local_address=front)) as client:
            answer = client.get(f"{running.url}/v1/sandbox/allowed-networks", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["client_address"] == "203.0.113.7"
