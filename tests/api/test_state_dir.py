"""``serve --state-dir``: a real server process killed (SIGKILL, SIGTERM) and started again on
the same directory keeps every write it answered, and sends the webhooks still due."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from gledger_sandbox.api import journal_file
from tests.api.durable import (
    Server,
    all_events,
    api_client,
    books,
    check_books,
    entries_come_back,
    entry_lines,
    journal_rows,
    killed_mid_load,
    listings,
    post,
    post_some,
    start_books,
    state,
    webhooks_arrive,
)
from tests.receiver import Receiver

__all__ = ["state"]  # the fixture


def test_sigkill_mid_load_loses_no_answered_write(state: Path) -> None:
    receiver = Receiver()  # down for now: deliveries wait, pending, for it
    server = Server(state).start()
    with api_client(server) as client:
        ledger, accounts = books(client)
        hook = client.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
        visitor = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"})
        assert visitor.status_code == 201
    acked = killed_mid_load(server, ledger, workers=4, answered=60)

    receiver.start()
    server.start()
    with api_client(server) as client:
        for key, entry in acked.items():
            found = client.get(f"/v1/entries/{entry['id']}")
            assert found.status_code == 200, (key, found.text)
            assert found.json()["lines"] == entry["lines"]
        # Idempotency keys came back too: a retry replays the stored answer.
        key, entry = next(iter(acked.items()))
        lines = [
            {"account_code": "cash", "direction": "debit", "amount": entry["lines"][0]["amount"]},
            {
                "account_code": "revenue",
                "direction": "credit",
                "amount": entry["lines"][0]["amount"],
            },
        ]
        replay = client.post(
            "/v1/entries",
            json={"ledger_id": ledger, "lines": lines},
            headers={"Idempotency-Key": key},
        )
        assert replay.headers.get("Idempotent-Replayed") == "true", replay.text
        assert replay.json()["id"] == entry["id"]
        check_books(client, ledger, accounts)
        created = {e["data"]["id"] for e in all_events(client) if e["type"] == "entry.created"}
        assert {entry["id"] for entry in acked.values()} <= created
    # The webhooks still due when the server died are delivered now.
    webhooks_arrive(receiver, acked)
    with api_client(server, visitor.json()["api_key"]) as other:
        assert other.get("/v1/sandbox/tenant").status_code == 200
    server.stop(signal.SIGTERM)
    receiver.stop()


def test_sigterm_keeps_tenants_tokens_and_snapshots(state: Path) -> None:
    server = Server(state).start()
    visitor = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}).json()
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "ledger.read"},
        auth=(visitor["client_id"], visitor["client_secret"]),
    ).json()["access_token"]
    with api_client(server, visitor["api_key"]) as client:
        ledger, accounts = books(client)
        snapshot = client.post("/v1/sandbox/snapshots", json={"name": "kept"}).json()
        before = client.get("/v1/ledgers").content
    server.stop(signal.SIGTERM)
    # uvicorn ends by raising the signal again once it has shut down cleanly.
    assert server.process is not None and server.process.returncode in (0, -signal.SIGTERM)
    server.start()
    with api_client(server, token) as reader:
        assert reader.get("/v1/ledgers").content == before
    with api_client(server, visitor["api_key"]) as client:
        assert client.get("/v1/sandbox/tenant").json()["tenant_id"] == visitor["tenant_id"]
        assert client.get(f"/v1/sandbox/snapshots/{snapshot['id']}").json() == snapshot
        assert client.post("/v1/ledgers", json={"name": "after"}).status_code == 201
        restored = client.post(f"/v1/sandbox/snapshots/{snapshot['id']}/restore")
        assert restored.status_code == 200
        assert client.get("/v1/ledgers").content == before
        check_books(client, ledger, accounts)
    # A tenant made after the restart gets an id of its own (ids never repeat).
    again = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}).json()
    assert again["tenant_id"] != visitor["tenant_id"]
    server.stop(signal.SIGTERM)


def test_sigkill_with_only_a_journal_tail_since_start_up(state: Path) -> None:
    server, ledger, accounts = start_books(state)
    acked = killed_mid_load(server, ledger, workers=3, answered=40)
    assert journal_rows(state) > 0  # the entries were written as journal records
    server.start()
    assert journal_rows(state) == 0  # start-up wrote full documents, replacing the journal
    entries_come_back(server, acked)
    with api_client(server) as client:
        check_books(client, ledger, accounts)
    server.stop(signal.SIGKILL)


def test_sigkill_after_a_full_document_and_a_tail(state: Path) -> None:
    server, ledger, accounts = start_books(state)
    acked: dict[str, Any] = {}
    with api_client(server) as client:
        post_some(client, ledger, "before", 5, acked)
        renamed = client.patch(f"/v1/ledgers/{ledger}", json={"name": "Renamed"})
        assert renamed.status_code == 200
        snapshot = client.post("/v1/sandbox/snapshots", json={"name": "kept"})
        assert snapshot.status_code == 201  # not journaled: a full document, the journal cleared
        assert journal_rows(state) == 0
        post_some(client, ledger, "after", 5, acked)
        assert journal_rows(state) == 5
        later = client.post(
            "/v1/entries",
            json={"ledger_id": ledger, "lines": entry_lines(9)},
            headers={"Prefer": "respond-async"},
        )
        assert later.status_code == 202, later.text
        assert journal_rows(state) == 0  # its posting is scheduled: a full document
        deadline = time.monotonic() + 30
        while client.get(f"/v1/entries/{later.json()['id']}").json()["status"] != "posted":
            assert time.monotonic() < deadline, "the asynchronous posting never happened"
            time.sleep(0.1)
        post_some(client, ledger, "last", 2, acked)
        # The first may be a full document still: the posting ran outside any request.
        assert journal_rows(state) >= 1
        before = listings(client, accounts)
    server.stop(signal.SIGKILL)
    server.start()
    entries_come_back(server, acked)
    with api_client(server) as client:
        assert listings(client, accounts) == before  # the same bytes, journal replayed
        assert client.get(f"/v1/ledgers/{ledger}").json()["name"] == "Renamed"
        check_books(client, ledger, accounts)
        retry = post(client, ledger, "after-4", acked)
        assert retry.headers.get("Idempotent-Replayed") == "true", retry.text
        assert retry.json() == acked["after-4"]
    server.stop(signal.SIGKILL)


def test_a_cut_last_journal_record_is_dropped_and_said(state: Path) -> None:
    server, ledger, accounts = start_books(state)
    acked: dict[str, Any] = {}
    with api_client(server) as client:
        post_some(client, ledger, "entry", 4, acked)
    server.stop(signal.SIGKILL)
    records = journal_rows(state)  # the ledger, its accounts and the entries
    last = [*journal_file.frames(journal_file.segments(state)[-1])][-1]
    with last.segment.open("r+b") as segment:  # as if its write was cut short
        segment.truncate((last.offset + last.end) // 2)
    server.start()
    last = acked.pop("entry-3")
    entries_come_back(server, acked)
    with api_client(server) as client:
        assert client.get(f"/v1/entries/{last['id']}").status_code == 404
        check_books(client, ledger, accounts)
    server.stop(signal.SIGTERM)
    assert server.process is not None and server.process.stderr is not None
    said = server.process.stderr.read().decode()
    assert f"journal record {records} of {records} cannot be read" in said, said


def test_a_deletion_that_cannot_be_written_is_written_later(state: Path) -> None:
    server = Server(state).start()
    visitor = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}).json()
    with api_client(server, visitor["api_key"]) as client:
        books(client)
        with sqlite3.connect(state / "sandbox.sqlite3") as db:  # the database refuses it
            db.execute(
                "CREATE TRIGGER refuse BEFORE DELETE ON tenants "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        refused = client.delete("/v1/sandbox/tenant")
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "state.write_failed"
        with sqlite3.connect(state / "sandbox.sqlite3") as db:
            db.execute("DROP TRIGGER refuse")
        # The background writer tries again (every 0.5 s) until the row is gone.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _stored(state, visitor["tenant_id"]):
            time.sleep(0.1)
        assert not _stored(state, visitor["tenant_id"])
    server.stop(signal.SIGKILL)
    server.start()
    with api_client(server, visitor["api_key"]) as client:
        assert client.get("/v1/sandbox/tenant").status_code == 401  # deleted for good


def _stored(state: Path, tenant_id: str) -> bool:
    with sqlite3.connect(state / "sandbox.sqlite3") as db:
        found = db.execute("SELECT count(*) FROM tenants WHERE id = ?", (tenant_id,))
        return bool(found.fetchone()[0])
