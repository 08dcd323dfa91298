"""``serve --state-dir``: a real server process killed (SIGKILL, SIGTERM) and started again on
the same directory keeps every write it answered, and sends the webhooks still due."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.receiver import Receiver

KEY = "gls_test_durable_default_key"
ROOT = Path(__file__).resolve().parents[2]


class Server:
    """``gledger-sandbox serve --state-dir`` as a subprocess on a loopback port of its own."""

    started: list[Server] = []

    def __init__(self, state: Path) -> None:
        Server.started.append(self)
        self.state = state
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        command = [sys.executable, "-m", "gledger_sandbox", "serve", "--port", str(self.port)]
        command += ["--state-dir", str(self.state), "--api-key", KEY, "--fixture", "empty"]
        command += ["--webhook-retry-scale", "0.0002", "--webhook-timeout", "1"]
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr and self.process.stderr.read()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def stop(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"
    for server in Server.started:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=30)
        if server.process is not None and server.process.stderr is not None:
            server.process.stderr.close()
    Server.started.clear()


def _client(server: Server, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _books(client: httpx.Client) -> tuple[str, dict[str, str]]:
    ledger = client.post("/v1/ledgers", json={"name": "Durable books"}).json()["id"]
    accounts = {}
    for code, kind in (("cash", "asset"), ("revenue", "revenue")):
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        made = client.post(f"/v1/ledgers/{ledger}/accounts", json=body)
        assert made.status_code == 201, made.text
        accounts[code] = made.json()["id"]
    return ledger, accounts


def _post_entries(server: Server, ledger: str, worker: int, acked: dict[str, Any]) -> None:
    """Post entries until the server goes away; record every one it answered."""
    with _client(server) as client:
        for n in range(10_000):
            key = f"w{worker}-{n}"
            lines = [
                {"account_code": "cash", "direction": "debit", "amount": 100 + n},
                {"account_code": "revenue", "direction": "credit", "amount": 100 + n},
            ]
            try:
                answer = client.post(
                    "/v1/entries",
                    json={"ledger_id": ledger, "lines": lines},
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError:
                return
            assert answer.status_code == 201, answer.text
            acked[key] = answer.json()


def _killed_mid_load(server: Server, ledger: str, workers: int, answered: int) -> dict[str, Any]:
    """Entries posted by ``workers`` threads, the server killed (SIGKILL) once ``answered`` were
    answered, mid-load: the entries it answered for."""
    acked: dict[str, Any] = {}
    threads = [
        threading.Thread(target=_post_entries, args=(server, ledger, n, acked))
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    while len(acked) < answered:
        time.sleep(0.01)
    server.stop(signal.SIGKILL)  # requests are under way
    for thread in threads:
        thread.join(timeout=30)
    assert len(acked) >= answered
    return acked


def _check_books(client: httpx.Client, ledger: str, accounts: dict[str, str]) -> None:
    """Each account's balance equals the sum of its statement lines."""
    for account_id in accounts.values():
        balance = client.get(f"/v1/accounts/{account_id}/balance").json()
        lines, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/v1/accounts/{account_id}/lines", params=params).json()
            lines += page["data"]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        debits = sum(line["amount"] for line in lines if line["direction"] == "debit")
        credits = sum(line["amount"] for line in lines if line["direction"] == "credit")
        assert balance["posted"]["debits"] == debits, balance
        assert balance["posted"]["credits"] == credits, balance


def test_sigkill_mid_load_loses_no_answered_write(state: Path) -> None:
    receiver = Receiver()  # down for now: deliveries wait, pending, for it
    server = Server(state).start()
    with _client(server) as client:
        ledger, accounts = _books(client)
        hook = client.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
        visitor = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"})
        assert visitor.status_code == 201
    acked = _killed_mid_load(server, ledger, workers=4, answered=60)

    receiver.start()
    server.start()
    with _client(server) as client:
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
        _check_books(client, ledger, accounts)
        created = {e["data"]["id"] for e in _all_events(client) if e["type"] == "entry.created"}
        assert {entry["id"] for entry in acked.values()} <= created
    # The webhooks still due when the server died are delivered now.
    waiting = {entry["id"].encode() for entry in acked.values()}
    deadline = time.monotonic() + 90
    while waiting and time.monotonic() < deadline:
        bodies = [r.body for r in receiver.delivered()]
        waiting = {i for i in waiting if not any(i in body for body in bodies)}
        time.sleep(0.2)
    assert not waiting, f"{len(waiting)} entries' webhooks never came"
    with _client(server, visitor.json()["api_key"]) as other:
        assert other.get("/v1/sandbox/tenant").status_code == 200
    server.stop(signal.SIGTERM)
    receiver.stop()


def _all_events(client: httpx.Client) -> list[Any]:
    found: list[Any] = []
    after = 0
    while True:
        page = client.get("/v1/events", params={"after": after, "limit": 200}).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["data"][-1]["sequence"]


def test_sigterm_keeps_tenants_tokens_and_snapshots(state: Path) -> None:
    server = Server(state).start()
    visitor = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}).json()
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "ledger.read"},
        auth=(visitor["client_id"], visitor["client_secret"]),
    ).json()["access_token"]
    with _client(server, visitor["api_key"]) as client:
        ledger, accounts = _books(client)
        snapshot = client.post("/v1/sandbox/snapshots", json={"name": "kept"}).json()
        before = client.get("/v1/ledgers").content
    server.stop(signal.SIGTERM)
    # uvicorn ends by raising the signal again once it has shut down cleanly.
    assert server.process is not None and server.process.returncode in (0, -signal.SIGTERM)
    server.start()
    with _client(server, token) as reader:
        assert reader.get("/v1/ledgers").content == before
    with _client(server, visitor["api_key"]) as client:
        assert client.get("/v1/sandbox/tenant").json()["tenant_id"] == visitor["tenant_id"]
        assert client.get(f"/v1/sandbox/snapshots/{snapshot['id']}").json() == snapshot
        assert client.post("/v1/ledgers", json={"name": "after"}).status_code == 201
        restored = client.post(f"/v1/sandbox/snapshots/{snapshot['id']}/restore")
        assert restored.status_code == 200
        assert client.get("/v1/ledgers").content == before
        _check_books(client, ledger, accounts)
    # A tenant made after the restart gets an id of its own (ids never repeat).
    again = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": "empty"}).json()
    assert again["tenant_id"] != visitor["tenant_id"]
    server.stop(signal.SIGTERM)


def _journal_rows(state: Path) -> int:
    with sqlite3.connect(state / "sandbox.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM journal").fetchone()[0])


def _entries_come_back(server: Server, acked: dict[str, Any]) -> None:
    with _client(server) as client:
        for key, entry in acked.items():
            found = client.get(f"/v1/entries/{entry['id']}")
            assert found.status_code == 200, (key, found.text)
            assert found.json() == entry


def _lines(amount: int) -> list[dict[str, Any]]:
    return [
        {"account_code": "cash", "direction": "debit", "amount": amount},
        {"account_code": "revenue", "direction": "credit", "amount": amount},
    ]


def _post(client: httpx.Client, ledger: str, key: str, acked: dict[str, Any]) -> httpx.Response:
    answer = client.post(
        "/v1/entries",
        json={"ledger_id": ledger, "lines": _lines(7)},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code in (200, 201), answer.text
    acked.setdefault(key, answer.json())
    return answer


def _post_some(client: httpx.Client, ledger: str, prefix: str, count: int, acked: Any) -> None:
    for n in range(count):
        _post(client, ledger, f"{prefix}-{n}", acked)


def _listings(client: httpx.Client, accounts: dict[str, str]) -> list[bytes]:
    paths = ["/v1/entries?limit=200", "/v1/events?limit=200"]
    for account_id in accounts.values():
        paths += [f"/v1/accounts/{account_id}/balance", f"/v1/accounts/{account_id}/lines"]
    return [client.get(path).content for path in paths]


def _start_books(state: Path) -> tuple[Server, str, dict[str, str]]:
    """A server on ``state`` with a ledger of two accounts (full documents: not journaled)."""
    server = Server(state).start()
    with _client(server) as client:
        ledger, accounts = _books(client)
    return server, ledger, accounts


def test_sigkill_with_only_a_journal_tail_since_start_up(state: Path) -> None:
    server, ledger, accounts = _start_books(state)
    acked = _killed_mid_load(server, ledger, workers=3, answered=40)
    assert _journal_rows(state) > 0  # the entries were written as journal records
    server.start()
    assert _journal_rows(state) == 0  # start-up wrote full documents, replacing the journal
    _entries_come_back(server, acked)
    with _client(server) as client:
        _check_books(client, ledger, accounts)
    server.stop(signal.SIGKILL)


def test_sigkill_after_a_full_document_and_a_tail(state: Path) -> None:
    server, ledger, accounts = _start_books(state)
    acked: dict[str, Any] = {}
    with _client(server) as client:
        _post_some(client, ledger, "before", 5, acked)
        renamed = client.patch(f"/v1/ledgers/{ledger}", json={"name": "Renamed"})
        assert renamed.status_code == 200  # not journaled: a full document, the journal cleared
        assert _journal_rows(state) == 0
        _post_some(client, ledger, "after", 5, acked)
        assert _journal_rows(state) == 5
        later = client.post(
            "/v1/entries",
            json={"ledger_id": ledger, "lines": _lines(9)},
            headers={"Prefer": "respond-async"},
        )
        assert later.status_code == 202, later.text
        assert _journal_rows(state) == 0  # its posting is scheduled: a full document
        deadline = time.monotonic() + 30
        while client.get(f"/v1/entries/{later.json()['id']}").json()["status"] != "posted":
            assert time.monotonic() < deadline, "the asynchronous posting never happened"
            time.sleep(0.1)
        _post_some(client, ledger, "last", 2, acked)
        # The first may be a full document still: the posting ran outside any request.
        assert _journal_rows(state) >= 1
        before = _listings(client, accounts)
    server.stop(signal.SIGKILL)
    server.start()
    _entries_come_back(server, acked)
    with _client(server) as client:
        assert _listings(client, accounts) == before  # the same bytes, journal replayed
        assert client.get(f"/v1/ledgers/{ledger}").json()["name"] == "Renamed"
        _check_books(client, ledger, accounts)
        retry = _post(client, ledger, "after-4", acked)
        assert retry.headers.get("Idempotent-Replayed") == "true", retry.text
        assert retry.json() == acked["after-4"]
    server.stop(signal.SIGKILL)


def test_a_cut_last_journal_record_is_dropped_and_said(state: Path) -> None:
    server, ledger, accounts = _start_books(state)
    acked: dict[str, Any] = {}
    with _client(server) as client:
        _post_some(client, ledger, "entry", 4, acked)
    server.stop(signal.SIGKILL)
    with sqlite3.connect(state / "sandbox.sqlite3") as db:  # as if its write was cut short
        seq, record = db.execute("SELECT seq, record FROM journal ORDER BY seq DESC").fetchone()
        db.execute("UPDATE journal SET record = ? WHERE seq = ?", (record[: len(record) // 2], seq))
    server.start()
    last = acked.pop("entry-3")
    _entries_come_back(server, acked)
    with _client(server) as client:
        assert client.get(f"/v1/entries/{last['id']}").status_code == 404
        _check_books(client, ledger, accounts)
    server.stop(signal.SIGTERM)
    assert server.process is not None and server.process.stderr is not None
    said = server.process.stderr.read().decode()
    assert "journal record 4 of 4 cannot be read" in said, said
