"""The reliability suite: a served sandbox (its own process) under concurrency and abuse.

Each test is bounded in time (well under a minute on two busy cores); the figures it measures
are printed (``pytest -s``) for the closing note. The server runs as ``gledger-sandbox serve``
in a process of its own, so the load the test makes does not share the server's interpreter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.served import ServedProcess


@dataclass
class Tenant:
    """A fresh tenant of the served sandbox: its credentials and its Authorization header."""

    credentials: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['api_key']}"}


@pytest.fixture(scope="package")
def served() -> Iterator[ServedProcess]:
    options = ("--fixture", "empty", "--header-timeout", "2", "--body-timeout", "3")
    with ServedProcess(*options, "--max-body-bytes", str(1024 * 1024)) as running:
        yield running
    running.close()


def new_tenant(base_url: str, fixture: str = "empty") -> Tenant:
    made = httpx.post(f"{base_url}/v1/sandbox/tenants", json={"fixture": fixture}, timeout=60)
    assert made.status_code == 201, made.text
    return Tenant(made.json())


@dataclass
class Chart:
    """A ledger with accounts in two currencies, created over HTTP."""

    ledger_id: str
    accounts: dict[str, list[str]]
    """Account ids by currency."""


def open_books(client: httpx.Client, currencies: tuple[str, ...] = ("USD", "EUR")) -> Chart:
    ledger = client.post("/v1/ledgers", json={"name": "Reliability"})
    assert ledger.status_code == 201, ledger.text
    ledger_id = ledger.json()["id"]
    accounts: dict[str, list[str]] = {}
    kinds = ("asset", "revenue", "liability", "expense")
    for currency in currencies:
        for kind in kinds:
            body = {
                "code": f"{kind}_{currency.lower()}",
                "name": kind,
                "kind": kind,
                "currency": currency,
            }
            made = client.post(f"/v1/ledgers/{ledger_id}/accounts", json=body)
            assert made.status_code == 201, made.text
            accounts.setdefault(currency, []).append(made.json()["id"])
    return Chart(ledger_id, accounts)
