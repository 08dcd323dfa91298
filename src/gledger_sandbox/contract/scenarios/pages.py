"""``pages_complete``: pages of every list neither skip nor repeat items, with inserts between.

The lists come from the spec (a GET answering ``data``, ``has_more`` and ``next_cursor`` with
``limit`` and ``cursor`` parameters), so lists added later are covered too. Each is filled from
the kit's own resources (its ledger, accounts, a webhook endpoint, settlements and payouts on its
books, a reconciliation of its cash account), read whole once, then walked with a small
``limit`` in both orders while the kit inserts an item between pages (a reconciliation's items
never change: that list is walked without inserts). Every item there before the walk must come
back exactly once, in the same order, and the walk must end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx

from gledger_sandbox.contract.scenarios import Scenario, ScenarioBroken, ScenarioSkipped
from gledger_sandbox.contract.spec import Operation

CHECK = "pages_complete"
MIN_ITEMS = 5
WHOLE_LIST_PAGES = 20
"""A list longer than 20 pages of 500 is too long to walk within bounds: left out."""
DEAD_URL = "http://127.0.0.1:9/gledger-contract-kit"
"""Webhook endpoints the kit opens only to list them: the discard port refuses deliveries."""

Inserter = Callable[[], None]


def run(scenario: Scenario) -> None:
    lists = [op for op in scenario.target.spec.cursor_lists()]
    if not lists:
        raise ScenarioSkipped("the target's spec has no cursor-paged list")
    fill = _Filler(scenario)
    try:
        for operation in lists:
            if not scenario.target.options.selects(operation.id):
                continue
            if scenario.target.deadline.spent():
                scenario.target.results.skip("ledger", CHECK, operation.id, "time budget spent")
                continue
            try:
                path, params, insert = fill.prepare(operation)
            except ScenarioSkipped as skipped:
                scenario.target.results.skip("ledger", CHECK, operation.id, str(skipped))
                continue
            _check_list(scenario, operation, path, params, insert)
    finally:
        fill.close()


class _Filler:
    """Fills a list's path from the kit's resources and knows how to add one item to it."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.endpoints: list[str] = []

    def prepare(self, operation: Operation) -> tuple[str, dict[str, Any], Inserter | None]:
        values = self._values(operation)
        path = operation.path
        for name in operation.parameter_names("path"):
            if name not in values:
                raise ScenarioSkipped(f"the kit has no resource to fill {{{name}}} with")
            path = path.replace("{" + name + "}", values[name])
        params = {
            name: values[name]
            for name in operation.parameter_names("query")
            if name in values and name.endswith("_id")
        }
        return path, params, self._inserter(operation, values)

    def _values(self, operation: Operation) -> dict[str, str]:
        books = self.scenario.books()
        values = {"ledger_id": books.ledger_id, "account_id": books.accounts["kit_cash"]}
        if "endpoint_id" in operation.parameter_names("path") or operation.id.startswith(
            "listWebhookEndpoints"
        ):
            values["endpoint_id"] = self._endpoint()
        if "reconciliation_id" in operation.parameter_names("path"):
            values["reconciliation_id"] = self._reconciliation()
        return values

    def _endpoint(self) -> str:
        if not self.scenario.target.options.webhooks:
            raise ScenarioSkipped("webhook endpoints are off (--no-webhooks)")
        self.scenario.require("createWebhookEndpoint")
        answer = self.scenario.client.post(
            "/v1/webhook-endpoints",
            json={"url": DEAD_URL, "event_types": ["ledger.updated"],
                  "description": f"contract kit {self.scenario.tag}: lists only"},
        )  # fmt: skip
        if answer.status_code != 201:
            raise ScenarioSkipped(f"the target refused a webhook endpoint ({answer.status_code})")
        self.endpoints.append(answer.json()["id"])
        return self.endpoints[-1]

    def _inserter(self, operation: Operation, values: dict[str, str]) -> Inserter | None:
        scenario, client = self.scenario, self.scenario.client
        ledger = values["ledger_id"]
        by_list: dict[str, Inserter] = {
            "listLedgers": lambda: _ok(
                client.post("/v1/ledgers", json={"name": scenario.key("page")})
            ),
            "listAccounts": lambda: self._account(ledger),
            "listLedgerBalances": lambda: self._account(ledger),
            "listEntries": lambda: self._entry(),
            "listAccountLines": lambda: self._entry(),
            "listWebhookEndpoints": lambda: _ok(self._endpoint()),
            "listWebhookDeliveries": lambda: _ok(
                client.post(f"/v1/webhook-endpoints/{values.get('endpoint_id')}/test")
            ),
            "listSettlements": self._settlement,
            "listPayouts": self._payout,
        }
        return by_list.get(operation.id)

    def _settlement(self) -> None:
        """Settle the kit's cash (just credited, so never zero) into its bank account."""
        self._entry()
        books = self.scenario.books()
        body = {"ledger_id": books.ledger_id, "account_id": books.accounts["kit_cash"],
                "contra_account_id": books.accounts["kit_bank"]}  # fmt: skip
        _ok(self.scenario.client.post("/v1/settlements", json=body))

    def _payout(self) -> None:
        """Pay out the unit the kit's cash has just been credited with."""
        self._entry()
        books = self.scenario.books()
        body = {
            "ledger_id": books.ledger_id,
            "amount": 1,
            "currency": "USD",
            "source_account_id": books.accounts["kit_cash"],
            "transit_account_id": books.accounts["kit_transit"],
            "destination_account_id": books.accounts["kit_bank"],
        }
        _ok(self.scenario.client.post("/v1/payouts", json=body))

    def _reconciliation(self) -> str:
        """A run whose statement lines match nothing: one item per line, whatever the books."""
        self.scenario.require("createReconciliation")
        books = self.scenario.books()
        self._entry()
        records = [
            {"id": f"kit-{n}", "amount": 900_000_000 + n, "direction": "debit",
             "currency": "USD", "date": "2024-01-01", "reference": self.scenario.key("stmt")}
            for n in range(MIN_ITEMS + 3)
        ]  # fmt: skip
        body = {"ledger_id": books.ledger_id, "account_id": books.accounts["kit_cash"],
                "records": records, "rules": {"match_reference": "required"}}  # fmt: skip
        answer = self.scenario.client.post("/v1/reconciliations", json=body)
        return str(self.scenario.expect(answer, 201, doing="running a reconciliation")["id"])

    def _account(self, ledger_id: str) -> None:
        code = self.scenario.key("page").replace("-", "_")
        body = {"code": code, "name": code, "kind": "asset", "currency": "USD"}
        _ok(self.scenario.client.post(f"/v1/ledgers/{ledger_id}/accounts", json=body))

    def _entry(self) -> None:
        self.scenario.post_entry(("kit_cash", "debit", 1), ("kit_revenue", "credit", 1))

    def close(self) -> None:
        for endpoint in self.endpoints:
            self.scenario.client.delete(f"/v1/webhook-endpoints/{endpoint}")


def _ok(outcome: object) -> None:
    if isinstance(outcome, httpx.Response) and not outcome.is_success:
        raise ScenarioBroken("inserting an item between pages was refused", outcome)


def _identity(item: Any) -> str:
    if isinstance(item, dict):
        for key in ("id", "account_id"):
            if key in item:
                return str(item[key])
    return json.dumps(item, sort_keys=True)


def _check_list(
    scenario: Scenario,
    operation: Operation,
    path: str,
    params: dict[str, Any],
    insert: Inserter | None,
) -> None:
    client = scenario.client
    for _ in range(MIN_ITEMS):
        if insert is None or len(scenario.walk(path, {**params, "limit": 500}, cap=2)) >= MIN_ITEMS:
            break
        insert()
    for order in ("asc", "desc"):
        try:
            whole = scenario.walk(path, {**params, "limit": 500, "order": order}, WHOLE_LIST_PAGES)
        except ScenarioBroken as broken:
            scenario.target.results.skip("ledger", CHECK, operation.id, str(broken))
            return
        problem = _walk_in_pages(scenario, path, {**params, "order": order}, whole, insert)
        if problem is not None:
            message, response = problem
            client.fail(CHECK, f"{operation.id} (order={order}): {message}", response)
            return
    client.passed(CHECK, operation.id)


def _walk_in_pages(
    scenario: Scenario,
    path: str,
    params: dict[str, Any],
    whole: list[Any],
    insert: Inserter | None,
) -> tuple[str, httpx.Response] | None:
    """Walk with a small limit, inserting between pages; the first problem found, if any."""
    before = [_identity(item) for item in whole]
    limit = max(2, math.ceil(len(before) / 8))
    seen: dict[str, int] = {}
    order: list[str] = []
    query: dict[str, Any] = {**params, "limit": limit}
    most_pages = len(before) + 2 * MIN_ITEMS + 10
    for number in range(1, most_pages + 1):
        response = scenario.client.get(path, params=query)
        page = scenario.expect(response, 200, doing=f"reading page {number} of {path}")
        if len(page["data"]) > limit:
            return f"page {number} holds {len(page['data'])} items, over limit={limit}", response
        for item in page["data"]:
            identity = _identity(item)
            if identity in seen:
                return (f"item {identity} is on page {seen[identity]} and again on page {number}",
                        response)  # fmt: skip
            seen[identity] = number
            order.append(identity)
        if not page["has_more"]:
            if page.get("next_cursor") is not None:
                return "the last page (has_more false) still has a next_cursor", response
            missing = [identity for identity in before if identity not in seen]
            if missing:
                return (f"{len(missing)} of the {len(before)} items listed before the walk never "
                        f"came, e.g. {missing[:3]} (limit={limit})", response)  # fmt: skip
            kept = [identity for identity in order if identity in set(before)]
            if kept != before:
                return "the pages list the items in another order than one whole page", response
            return None
        if not page.get("next_cursor"):
            return "a page with has_more true has no next_cursor", response
        query["cursor"] = page["next_cursor"]
        if insert is not None:
            insert()
    return f"the list did not end after {most_pages} pages of {limit}", response
