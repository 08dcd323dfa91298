"""Snapshots: restore puts a tenant back byte for byte; export and import carry it to another.

Everything goes through real HTTP against the loopback server; listings are compared as the
bytes the server answered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import Sandbox, ServerThread, new_sandbox

START = "2024-05-01T09:00:00Z"


@pytest.fixture
def merchant(server: ServerThread) -> Any:
    box = new_sandbox(server, "merchant", seed=7, clock_start=START)
    yield box
    box.client.close()


def _listings(client: httpx.Client) -> dict[str, bytes]:
    """Every listing a partner would compare, as the bytes answered."""
    ledgers = client.get("/v1/ledgers", params={"limit": 100})
    assert ledgers.status_code == 200, ledgers.text
    found = {"ledgers": ledgers.content}
    for ledger in ledgers.json()["data"]:
        lid = ledger["id"]
        found[f"accounts {lid}"] = client.get(f"/v1/ledgers/{lid}/accounts?limit=100").content
        found[f"balances {lid}"] = client.get(f"/v1/ledgers/{lid}/balances").content
    paths = [
        "/v1/entries?limit=100",
        "/v1/entries?limit=100&order=desc",
        "/v1/events?limit=100",
        "/v1/settlements?limit=100",
        "/v1/payouts?limit=100",
        "/v1/webhook-endpoints",
        "/v1/sandbox/clock",
    ]
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        found[path] = answer.content
    for endpoint in json.loads(found["/v1/webhook-endpoints"])["data"]:
        path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries?limit=100"
        found[path] = client.get(path).content
    return found


def _entry(client: httpx.Client, ledger_id: str, amount: int, key: str | None = None) -> Any:
    lines = [
        {"account_code": "cash", "direction": "debit", "amount": amount},
        {"account_code": "revenue", "direction": "credit", "amount": amount},
    ]
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/v1/entries", json={"ledger_id": ledger_id, "lines": lines}, headers=headers
    )


def _ledger_id(client: httpx.Client) -> str:
    return str(client.get("/v1/ledgers").json()["data"][0]["id"])


def test_restore_gives_back_every_listing_byte_for_byte(merchant: Sandbox) -> None:
    client = merchant.client
    hook = client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201, hook.text
    ledger_id = _ledger_id(client)
    assert _entry(client, ledger_id, 500, key="before").status_code == 201
    before = _listings(client)
    taken = client.post("/v1/sandbox/snapshots", json={"name": "known state"})
    assert taken.status_code == 201, taken.text
    snapshot = taken.json()
    assert taken.headers["Location"] == f"/v1/sandbox/snapshots/{snapshot['id']}"
    point = snapshot["event_sequence"]
    assert client.get("/v1/events", params={"after": point}).json()["data"] == []
    assert len(client.get("/v1/events", params={"after": point - 1}).json()["data"]) == 1

    # Change everything a restore must take back.
    assert _entry(client, ledger_id, 900, key="after").status_code == 201
    assert client.post("/v1/ledgers", json={"name": "Second books"}).status_code == 201
    assert client.post("/v1/sandbox/clock/advance", json={"seconds": 7200}).status_code == 200
    assert client.delete(f"/v1/webhook-endpoints/{hook.json()['id']}").status_code == 204
    assert _listings(client) != before

    restored = client.post(f"/v1/sandbox/snapshots/{snapshot['id']}/restore")
    assert restored.status_code == 200, restored.text
    after = _listings(client)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    # A key used after the snapshot is unknown again; one used before still replays.
    again = _entry(client, ledger_id, 901, key="after")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    replay = _entry(client, ledger_id, 500, key="before")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    # The snapshot is still there, to restore again.
    listed = client.get("/v1/sandbox/snapshots").json()["data"]
    assert [s["id"] for s in listed] == [snapshot["id"]]


def test_a_cursor_past_the_snapshot_answers_410_on_every_door(
    merchant: Sandbox, server: ServerThread
) -> None:
    client = merchant.client
    snapshot = client.post("/v1/sandbox/snapshots", json={"name": "s"}).json()
    point = snapshot["event_sequence"]
    assert client.post("/v1/ledgers", json={"name": "after the snapshot"}).status_code == 201
    head = client.get("/v1/events", params={"after": point}).json()["data"][-1]["sequence"]
    assert head > point
    assert client.post(f"/v1/sandbox/snapshots/{snapshot['id']}/restore").status_code == 200

    gone = client.get("/v1/events", params={"after": head})
    assert gone.status_code == 410, gone.text
    assert gone.json()["code"] == "events.cursor_restored"
    assert gone.json()["errors"][0]["pointer"] == "/query/after"
    stream = client.get(
        "/v1/events/stream", headers={"Last-Event-ID": str(head)}, params={"timeout": 1}
    )
    assert stream.status_code == 410 and stream.json()["code"] == "events.cursor_restored"
    key = merchant.credentials["api_key"]
    url = server.url.replace("http", "ws") + "/v1/events/ws"
    with connect(f"{url}?access_token={key}&after={head}") as socket:
        message = json.loads(socket.recv(timeout=5))
        assert message["kind"] == "error", message
        assert message["problem"]["code"] == "events.cursor_restored", message
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
    # The snapshot's own point reads on, into events made after the restore (no reuse).
    assert client.get("/v1/events", params={"after": point}).json()["data"] == []
    made = client.post("/v1/ledgers", json={"name": "after the restore"})
    assert made.status_code == 201
    fresh = client.get("/v1/events", params={"after": point}).json()["data"]
    assert [e["sequence"] > head for e in fresh] == [True]


def test_export_and_import_give_a_new_tenant_the_same_books(
    merchant: Sandbox, server: ServerThread
) -> None:
    client = merchant.client
    assert _entry(client, _ledger_id(client), 1234).status_code == 201
    snapshot = client.post("/v1/sandbox/snapshots", json={"name": "ship me"}).json()
    exported = client.get(f"/v1/sandbox/snapshots/{snapshot['id']}/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    document = exported.json()
    assert document["format"] == "gledger-sandbox/tenant-state" and document["version"] == 3
    assert merchant.credentials["api_key"] not in exported.text
    assert merchant.credentials["client_secret"] not in exported.text

    imported = httpx.post(
        f"{server.url}/v1/sandbox/tenants/import",
        content=exported.content,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert imported.status_code == 201, imported.text
    credentials = imported.json()
    assert credentials["tenant_id"] != merchant.id
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {credentials['api_key']}"}
    ) as other:
        assert _listings(other) == _listings(client)


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_document_imports_into_the_same_books(server: ServerThread, version: int) -> None:
    """A document of an older format (tenant_state_v1.json, tenant_state_v2.json: exported by
    the release before the next version, with the listings it answered then) imports into books
    that answer the same. The version-2 one has lines posted out of effective order (back-dated
    entries) and lists balances and trial balances as of times between them."""
    name = f"tenant_state_v{version}.json"
    written = json.loads((Path(__file__).parents[1] / "data" / name).read_text())
    assert written["document"]["version"] == version
    imported = _import(server, written["document"])
    assert imported.status_code == 201, imported.text
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {imported.json()['api_key']}"}
    ) as client:
        for path, then in written["listings"].items():
            if path.startswith(("accounts ", "balances ", "ledgers")):
                continue  # the listings of _listings, compared below
            assert client.get(path).text == then, path
        now = {path: body.decode() for path, body in _listings(client).items()}
        assert now == {path: written["listings"][path] for path in now}
        lid = _ledger_id(client)
        assert _entry(client, lid, 700).status_code == 201  # and the books go on from there
        accounts = json.loads(now[f"accounts {lid}"])["data"]
        cash = next(account["id"] for account in accounts if account["code"] == "cash")
        lines = client.get(f"/v1/accounts/{cash}/lines", params={"limit": 2}).json()["data"]
        assert [line["amount"] for line in lines] == [700, 500]


def _import(server: ServerThread, document: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/sandbox/tenants/import", json=document, timeout=30)


def test_a_bad_file_is_refused_whole(sandbox: Sandbox, server: ServerThread) -> None:
    snapshot = sandbox.client.post("/v1/sandbox/snapshots", json={"name": "x"}).json()
    exported = sandbox.client.get(f"/v1/sandbox/snapshots/{snapshot['id']}/export")
    document = exported.json()
    tenants = len(server.server.services.registry.tenants)  # type: ignore[attr-defined]

    truncated = httpx.post(
        f"{server.url}/v1/sandbox/tenants/import",
        content=exported.content[:-40],
        headers={"Content-Type": "application/json"},
    )
    assert truncated.status_code == 400, truncated.text
    assert truncated.headers["content-type"] == "application/problem+json"

    tampered = json.loads(exported.content)
    tampered["state"]["tenant"]["seed"] += 1
    answer = _import(server, tampered)
    assert answer.status_code == 422 and answer.json()["code"] == "import.checksum_mismatch"
    assert answer.json()["errors"][0]["pointer"] == "/checksum"

    foreign = {**document, "format": "someone-else/backup"}
    answer = _import(server, foreign)
    assert answer.status_code == 422 and answer.json()["code"] == "import.foreign_document"

    newer = {**document, "version": 4}
    answer = _import(server, newer)
    assert answer.status_code == 422 and answer.json()["code"] == "import.unsupported_version"

    # A checksum made to fit does not let a document name code to run.
    from gledger_sandbox.domain.sandbox.tenant_state import canonical

    forged = json.loads(exported.content)
    forged["state"]["graph"]["objects"][0]["t"] = "os.system"
    forged["checksum"] = (
        "sha256:" + __import__("hashlib").sha256(canonical(forged["state"])).hexdigest()
    )
    answer = _import(server, forged)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "import.invalid_document"
    assert answer.json()["errors"][0]["pointer"] == "/state/graph/objects/0/t"
    assert len(server.server.services.registry.tenants) == tenants  # type: ignore[attr-defined]


def test_snapshots_are_bounded_and_can_be_deleted(sandbox: Sandbox) -> None:
    client = sandbox.client
    ids = []
    for n in range(10):
        taken = client.post("/v1/sandbox/snapshots", json={"name": f"s{n}"})
        assert taken.status_code == 201, taken.text
        ids.append(taken.json()["id"])
    refused = client.post("/v1/sandbox/snapshots", json={"name": "one too many"})
    assert refused.status_code == 409 and refused.json()["code"] == "snapshot.limit_reached"
    assert client.get(f"/v1/sandbox/snapshots/{ids[0]}").json()["name"] == "s0"
    assert client.delete(f"/v1/sandbox/snapshots/{ids[0]}").status_code == 204
    assert client.get(f"/v1/sandbox/snapshots/{ids[0]}").status_code == 404
    assert client.post(f"/v1/sandbox/snapshots/{ids[0]}/restore").status_code == 404
    assert client.post("/v1/sandbox/snapshots", json={"name": "room again"}).status_code == 201


def _fault_listings(client: httpx.Client) -> tuple[bytes, bytes]:
    rules = client.get("/v1/sandbox/faults", params={"limit": 100})
    injected = client.get("/v1/sandbox/fault-injections", params={"limit": 200})
    assert rules.status_code == 200 and injected.status_code == 200
    return rules.content, injected.content


def _pattern(client: httpx.Client, calls: int = 12) -> list[int]:
    return [client.get("/v1/ledgers").status_code for _ in range(calls)]


def test_restore_brings_back_the_fault_rules_where_their_generators_stood(
    sandbox: Sandbox,
) -> None:
    client = sandbox.client
    rule = {
        "match": {"operation_id": "listLedgers"},
        "effect": {"type": "error", "status": 503},
        "probability": 0.5,
        "seed": 11,
    }
    made = client.post("/v1/sandbox/faults", json=rule)
    assert made.status_code == 201, made.text
    assert 503 in _pattern(client, 4)  # the rule has drawn and fired before the snapshot
    snapshot = client.post("/v1/sandbox/snapshots", json={"name": "with faults"}).json()
    listed = _fault_listings(client)
    expected = _pattern(client)  # what the rule does from the snapshot point on
    assert client.delete(f"/v1/sandbox/faults/{made.json()['id']}").status_code == 204
    other = {**rule, "match": {"operation_id": "getTenant"}, "seed": 3}
    assert client.post("/v1/sandbox/faults", json=other).status_code == 201

    restored = client.post(f"/v1/sandbox/snapshots/{snapshot['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert _fault_listings(client) == listed
    assert _pattern(client) == expected
