"""The ledger phase: scripted scenarios, one per ledger check, on books the kit opens itself.

Each scenario is a function of a ``Scenario`` context. It records what it finds through the
context's client (``fail`` / ``passed``), raises ``ScenarioSkipped`` when the target cannot run
it (and says why), and ``ScenarioBroken`` when a step it depends on was refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.target import Target


class ScenarioSkipped(Exception):
    """The target cannot run this scenario (an operation it lacks, a capability it refuses)."""


class ScenarioBroken(Exception):
    """A step the scenario depends on was refused: the scenario fails with this message."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


ACCOUNTS: dict[str, tuple[str, str]] = {
    "kit_cash": ("asset", "USD"),
    "kit_revenue": ("revenue", "USD"),
    "kit_fees": ("expense", "USD"),
    "kit_transit": ("asset", "USD"),
    "kit_bank": ("asset", "USD"),
    "kit_cash_eur": ("asset", "EUR"),
    "kit_revenue_eur": ("revenue", "EUR"),
}
"""The chart of the kit's own books: two currencies, both normal balances."""


@dataclass(slots=True)
class Books:
    """A ledger of the kit's own and its accounts (by code), created over the API."""

    ledger_id: str
    accounts: dict[str, str]


@dataclass(slots=True)
class Scenario:
    """What a scenario works with: the target, a checking client, the kit's books."""

    target: Target
    client: KitClient
    tag: str
    """Unique to the run: names the kit's resources and idempotency keys."""
    _books: Books | None = None
    _counter: list[int] = field(default_factory=lambda: [0])

    def key(self, purpose: str) -> str:
        """A fresh idempotency key, external id or name, unique to this run."""
        self._counter[0] += 1
        return f"{self.tag}-{purpose}-{self._counter[0]}"

    def require(self, *operation_ids: str) -> None:
        missing = [op for op in operation_ids if not self.target.spec.has(op)]
        if missing:
            raise ScenarioSkipped(f"the target's spec has no {', '.join(missing)}")

    def expect(self, response: httpx.Response, *statuses: int, doing: str) -> Any:
        """The JSON of a response that must have one of ``statuses``, else the scenario breaks."""
        if response.status_code not in statuses:
            raise ScenarioBroken(f"{doing} was refused", response)
        return response.json() if response.content else None

    def books(self) -> Books:
        """The kit's own ledger and accounts, opened on first use."""
        if self._books is None:
            self.require("createLedger", "createAccount")
            self._books = self.open_books()
        return self._books

    def open_books(self) -> Books:
        created = self.client.post(
            "/v1/ledgers",
            json={"name": f"Contract kit {self.tag}", "metadata": {"gledger_contract": self.tag}},
        )
        ledger_id = self.expect(created, 201, doing="creating the kit's ledger")["id"]
        accounts = {}
        for code, (kind, currency) in ACCOUNTS.items():
            answer = self.client.post(
                f"/v1/ledgers/{ledger_id}/accounts",
                json={"code": code, "name": code.replace("_", " "), "kind": kind,
                      "currency": currency},
            )  # fmt: skip
            accounts[code] = self.expect(answer, 201, doing=f"opening account {code}")["id"]
        return Books(ledger_id, accounts)

    def entry(self, *lines: tuple[str, str, int], **extra: Any) -> dict[str, Any]:
        """An entry request on the kit's books from (account code, direction, amount) triples."""
        books = self.books()
        return {
            "ledger_id": books.ledger_id,
            "lines": [
                {"account_id": books.accounts[code], "direction": direction, "amount": amount}
                for code, direction, amount in lines
            ],
            **extra,
        }

    def post_entry(self, *lines: tuple[str, str, int], **extra: Any) -> dict[str, Any]:
        """Create an entry on the kit's books (posted unless ``status`` says otherwise)."""
        answer = self.client.post("/v1/entries", json=self.entry(*lines, **extra))
        result: dict[str, Any] = self.expect(answer, 201, doing="posting an entry")
        return result

    def walk(self, path: str, params: dict[str, Any] | None = None, cap: int = 200) -> list[Any]:
        """Every item of a cursor list (at most ``cap`` pages), following ``next_cursor``."""
        items: list[Any] = []
        query = dict(params or {})
        for _ in range(cap):
            page = self.expect(self.client.get(path, params=query), 200, doing=f"listing {path}")
            items.extend(page["data"])
            if not page.get("has_more"):
                return items
            query["cursor"] = page["next_cursor"]
        raise ScenarioBroken(f"{path} still had more after {cap} pages")
