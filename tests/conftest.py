"""Shared fixtures: a real sandbox server on loopback, and a fresh tenant per test."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gledger_sandbox.api import compiled
from gledger_sandbox.api.settings import Settings, StreamSettings, WebhookSettings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app

DEFAULT_KEY = "gls_test_default_tenant_key"

# Every request a test sends confirms the compiled schemas' "valid" with jsonschema (a
# disagreement answers 500), in process and in the servers tests start as commands.
compiled.CROSS_CHECK = True
os.environ["GLEDGER_SANDBOX_CROSS_CHECK_VALIDATION"] = "1"

# tests/contract/test_plugin.py runs partner-style pytest sessions.
pytest_plugins = ["pytester"]


def free_port() -> int:
    """A port free right now (for a server that must come back on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ServerThread = LoopbackServer
"""The name the tests know the shared loopback server helper by."""


TEST_SETTINGS = Settings(
    api_key=DEFAULT_KEY,
    validate_responses=True,
    async_post_delay=0.2,
    max_body_bytes=64 * 1024,
    streams=StreamSettings(keepalive_seconds=0.3, send_timeout=1.0),
    webhooks=WebhookSettings(timeout_seconds=1.0),
)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    app, services = sandbox_app(TEST_SETTINGS)
    with ServerThread(app, services=services) as running:
        yield running


@pytest.fixture(scope="session")
def anonymous(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@dataclass
class Sandbox:
    """A fresh tenant: its credentials and a client that sends its API key."""

    credentials: dict[str, Any]
    client: httpx.Client

    @property
    def id(self) -> str:
        return str(self.credentials["tenant_id"])


def new_sandbox(server: ServerThread, fixture: str = "empty", **extra: Any) -> Sandbox:
    created = httpx.post(f"{server.url}/v1/sandbox/tenants", json={"fixture": fixture, **extra})
    assert created.status_code == 201, created.text
    credentials = created.json()
    client = httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {credentials['api_key']}"},
        timeout=30,
    )
    return Sandbox(credentials, client)


@pytest.fixture
def sandbox(server: ServerThread) -> Iterator[Sandbox]:
    """An empty tenant of its own for each test."""
    box = new_sandbox(server)
    yield box
    box.client.close()


@dataclass
class Books:
    """A ledger with a few USD accounts, and one EUR account, created over HTTP."""

    ledger_id: str
    accounts: dict[str, str]


@pytest.fixture
def books(sandbox: Sandbox) -> Books:
    ledger = sandbox.client.post("/v1/ledgers", json={"name": "Test books"})
    assert ledger.status_code == 201, ledger.text
    ledger_id = ledger.json()["id"]
    chart = {
        "cash": ("asset", "USD", {}),
        "revenue": ("revenue", "USD", {}),
        "tax": ("liability", "USD", {}),
        "wallet": ("liability", "USD", {"debits_must_not_exceed_credits": True}),
        "cash_eur": ("asset", "EUR", {}),
        "revenue_eur": ("revenue", "EUR", {}),
    }
    accounts = {}
    for code, (kind, currency, flags) in chart.items():
        body = {
            "code": code,
            "name": code.title(),
            "kind": kind,
            "currency": currency,
            "flags": flags,
        }
        created = sandbox.client.post(f"/v1/ledgers/{ledger_id}/accounts", json=body)
        assert created.status_code == 201, created.text
        accounts[code] = created.json()["id"]
    return Books(ledger_id, accounts)


def entry_body(books: Books, *lines: tuple[str, str, int], **extra: Any) -> dict[str, Any]:
    """An entry request from (account code, direction, amount) triples."""
    return {
        "ledger_id": books.ledger_id,
        "lines": [
            {"account_id": books.accounts[code], "direction": direction, "amount": amount}
            for code, direction, amount in lines
        ],
        **extra,
    }
