"""A real ``serve --state-dir`` server process for the durability tests, and the writes and
checks they share (real HTTP on loopback, a real SQLite file)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gledger_sandbox.api import state_dir
from tests.conftest import free_port

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


def api_client(server: Server, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def books(client: httpx.Client) -> tuple[str, dict[str, str]]:
    ledger = client.post("/v1/ledgers", json={"name": "Durable books"}).json()["id"]
    accounts = {}
    for code, kind in (("cash", "asset"), ("revenue", "revenue")):
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        made = client.post(f"/v1/ledgers/{ledger}/accounts", json=body)
        assert made.status_code == 201, made.text
        accounts[code] = made.json()["id"]
    return ledger, accounts


def post_entries(server: Server, ledger: str, worker: int, acked: dict[str, Any]) -> None:
    """Post entries until the server goes away; record every one it answered."""
    with api_client(server) as client:
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


def killed_mid_load(server: Server, ledger: str, workers: int, answered: int) -> dict[str, Any]:
    """Entries posted by ``workers`` threads, the server killed (SIGKILL) once ``answered`` were
    answered, mid-load: the entries it answered for."""
    acked: dict[str, Any] = {}
    threads = [
        threading.Thread(target=post_entries, args=(server, ledger, n, acked))
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


def check_books(client: httpx.Client, ledger: str, accounts: dict[str, str]) -> None:
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


def all_events(client: httpx.Client) -> list[Any]:
    found: list[Any] = []
    after = 0
    while True:
        page = client.get("/v1/events", params={"after": after, "limit": 200}).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["data"][-1]["sequence"]


def journal_rows(state: Path) -> int:
    """The live journal records: each tenant's since its full document (read as at start-up)."""
    connection = state_dir.connect(state)
    try:
        stored, _ = state_dir.read_all(connection, state)
    finally:
        connection.close()
    return sum(len(tenant.journal) for tenant in stored)


def entries_come_back(server: Server, acked: dict[str, Any]) -> None:
    with api_client(server) as client:
        for key, entry in acked.items():
            found = client.get(f"/v1/entries/{entry['id']}")
            assert found.status_code == 200, (key, found.text)
            assert found.json() == entry


def webhooks_arrive(receiver: Any, acked: dict[str, Any], seconds: float = 90) -> None:
    """Every acknowledged entry's webhook reaches the loopback receiver within ``seconds``."""
    waiting = {entry["id"].encode() for entry in acked.values()}
    deadline = time.monotonic() + seconds
    while waiting and time.monotonic() < deadline:
        bodies = [r.body for r in receiver.delivered()]
        waiting = {i for i in waiting if not any(i in body for body in bodies)}
        time.sleep(0.2)
    assert not waiting, f"{len(waiting)} entries' webhooks never came"


def entry_lines(amount: int) -> list[dict[str, Any]]:
    return [
        {"account_code": "cash", "direction": "debit", "amount": amount},
        {"account_code": "revenue", "direction": "credit", "amount": amount},
    ]


def post(client: httpx.Client, ledger: str, key: str, acked: dict[str, Any]) -> httpx.Response:
    answer = client.post(
        "/v1/entries",
        json={"ledger_id": ledger, "lines": entry_lines(7)},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code in (200, 201), answer.text
    acked.setdefault(key, answer.json())
    return answer


def post_some(client: httpx.Client, ledger: str, prefix: str, count: int, acked: Any) -> None:
    for n in range(count):
        post(client, ledger, f"{prefix}-{n}", acked)


def listings(client: httpx.Client, accounts: dict[str, str]) -> list[bytes]:
    paths = ["/v1/entries?limit=200", "/v1/events?limit=200"]
    for account_id in accounts.values():
        paths += [f"/v1/accounts/{account_id}/balance", f"/v1/accounts/{account_id}/lines"]
    return [client.get(path).content for path in paths]


def start_books(state: Path) -> tuple[Server, str, dict[str, str]]:
    """A server on ``state`` with a ledger of two accounts (journal records)."""
    server = Server(state).start()
    with api_client(server) as client:
        ledger, accounts = books(client)
    return server, ledger, accounts
