"""``gledger-sandbox trigger EVENT_TYPE``: cause one event of a type in the caller's tenant.

Like ``stripe trigger``: each event type has a recipe of API calls that makes the fewest
preconditions (a fresh ledger of its own, the accounts the event needs) and then causes the
event, with the sandbox's simulations (a charge, a payout returned by the bank, a bank
statement) and its clock (a scheduled settlement failing, a payout arriving). The run then
reads the tenant's events of that type from the log's head before the recipe and insists on
exactly one: the event it prints is the one it caused.

It knows the sandbox only through HTTP, like the rest of the kit. Some recipes move the
tenant's clock forward (``settlement.failed`` 61 s, ``payout.in_transit`` 1 h, ``payout.paid``
2 days), which runs whatever else of the tenant falls due meanwhile.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

CHART = {
    "cash": "asset",
    "platform_fee": "expense",
    "revenue": "revenue",
    "tax": "liability",
    "refunds": "expense",
    "bank": "asset",
    "payouts_in_transit": "asset",
}
"""The merchant fixture's codes the simulations post to (a ledger of each trigger's own)."""
CHARGE = {"amount": 10800, "tax": 800, "fee": 343}
PAYOUT_AMOUNT = 5000
LOG_PAGE = 500


class TriggerFailed(Exception):
    """A step of the recipe was refused, or the event did not appear exactly once."""


@dataclass(slots=True)
class Run:
    """One trigger: the client, the steps taken (for the user to read), the ledger made."""

    client: httpx.Client
    event_type: str
    steps: list[str] = field(default_factory=list)
    ledger_id: str = ""
    echo: Callable[[str], None] | None = None
    """Told each step as it is taken (the CLI prints them as they happen)."""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.client.request(method, path, json=body)
        step = f"{method} {path} -> {answer.status_code}"
        self.steps.append(step)
        if self.echo is not None:
            self.echo(step)
        if answer.status_code >= 300:
            raise TriggerFailed(f"{method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    def ledger(self) -> str:
        made = self.call("POST", "/v1/ledgers", {"name": f"trigger {self.event_type}"})
        self.ledger_id = str(made["id"])
        return self.ledger_id

    def account(self, code: str) -> str:
        body = {"code": code, "name": code.replace("_", " ").title(), "kind": CHART[code]}
        made = self.call(
            "POST", f"/v1/ledgers/{self.ledger_id}/accounts", body | {"currency": "USD"}
        )
        return str(made["id"])

    def chart(self) -> None:
        self.ledger()
        for code in CHART:
            self.account(code)

    def charge(self, status: str = "posted") -> dict[str, Any]:
        body = {"ledger_id": self.ledger_id, **CHARGE, "status": status}
        made = self.call("POST", "/v1/sandbox/simulations/charges", body)
        entry: dict[str, Any] = made["entries"][-1]
        return entry

    def now(self) -> datetime:
        clock = self.call("GET", "/v1/sandbox/clock")
        return datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))

    def advance(self, seconds: float) -> None:
        self.call("POST", "/v1/sandbox/clock/advance", {"seconds": seconds})

    def settle_tax(self, up_to: datetime | None = None) -> None:
        body = {"ledger_id": self.ledger_id, "account_code": "tax", "contra_account_code": "bank"}
        if up_to is not None:
            body["up_to"] = up_to.isoformat().replace("+00:00", "Z")
        self.call("POST", "/v1/settlements", body)

    def payout(self) -> str:
        self.chart()
        self.charge()
        body = {
            "ledger_id": self.ledger_id,
            "amount": PAYOUT_AMOUNT,
            "currency": "USD",
            "source_account_code": "cash",
            "transit_account_code": "payouts_in_transit",
            "destination_account_code": "bank",
        }
        return str(self.call("POST", "/v1/payouts", body)["id"])

    def reconcile(self) -> None:
        self.chart()
        self.charge()
        asked = {"ledger_id": self.ledger_id, "account_code": "cash"}
        statement = self.call("POST", "/v1/sandbox/simulations/bank-statements", asked)
        self.call("POST", "/v1/reconciliations", asked | {"records": statement["records"]})


def _ledger_created(run: Run) -> None:
    run.ledger()


def _ledger_updated(run: Run) -> None:
    run.call("PATCH", f"/v1/ledgers/{run.ledger()}", {"description": "Updated by trigger"})


def _account_created(run: Run) -> None:
    run.ledger()
    run.account("cash")


def _entry_created(run: Run) -> None:
    run.chart()
    run.charge("pending")  # a posted charge would also post: pending creates, only


def _account_updated(run: Run) -> None:
    run.ledger()
    account_id = run.account("cash")
    run.call("PATCH", f"/v1/accounts/{account_id}", {"name": "Cash (renamed by trigger)"})


def _entry_action(action: str, status: str) -> Callable[[Run], None]:
    def recipe(run: Run) -> None:
        run.chart()
        entry = run.charge(status)
        if action == "update":
            run.call("PATCH", f"/v1/entries/{entry['id']}", {"metadata": {"trigger": "yes"}})
        else:
            run.call("POST", f"/v1/entries/{entry['id']}/{action}", {})

    return recipe


def _settlement_failed(run: Run) -> None:
    run.chart()  # nothing posted to tax: at up_to there is nothing to settle
    run.settle_tax(run.now() + timedelta(seconds=60))
    run.advance(61)


def _settlement(ahead: bool) -> Callable[[Run], None]:
    def recipe(run: Run) -> None:
        run.chart()
        run.charge()
        run.settle_tax(run.now() + timedelta(hours=1) if ahead else None)

    return recipe


def _payout_then(step: Callable[[Run, str], None] | None) -> Callable[[Run], None]:
    def recipe(run: Run) -> None:
        payout_id = run.payout()
        if step is not None:
            step(run, payout_id)

    return recipe


RECIPES: dict[str, Callable[[Run], None]] = {
    "ledger.created": _ledger_created,
    "ledger.updated": _ledger_updated,
    "account.created": _account_created,
    "account.updated": _account_updated,
    "entry.created": _entry_created,
    "entry.updated": _entry_action("update", "posted"),
    "entry.posted": _entry_action("post", "pending"),
    "entry.voided": _entry_action("void", "pending"),
    "entry.reversed": _entry_action("reverse", "posted"),
    "settlement.scheduled": _settlement(ahead=True),
    "settlement.completed": _settlement(ahead=False),
    "settlement.failed": _settlement_failed,
    "payout.created": _payout_then(None),
    "payout.in_transit": _payout_then(lambda run, _: run.advance(3601)),
    "payout.paid": _payout_then(lambda run, _: run.advance(2 * 86400 + 1)),
    "payout.failed": _payout_then(
        lambda run, payout_id: run.call(
            "POST",
            "/v1/sandbox/simulations/payout-returns",
            {"payout_id": payout_id, "failure_code": "account_closed"},
        )
    ),
    "payout.canceled": _payout_then(
        lambda run, payout_id: run.call("POST", f"/v1/payouts/{payout_id}/cancel", {})
    ),
    "reconciliation.matched": Run.reconcile,
    "reconciliation.completed": Run.reconcile,
}


def _events(client: httpx.Client, event_type: str, after: int) -> tuple[list[dict[str, Any]], int]:
    """The events of ``event_type`` after ``after``, up to the log's head, and that head."""
    found: list[dict[str, Any]] = []
    while True:
        page = client.get(
            "/v1/events", params={"after": after, "types": event_type, "limit": LOG_PAGE}
        )
        if page.status_code != 200:
            raise TriggerFailed(f"GET /v1/events answered {page.status_code}: {page.text}")
        body = page.json()
        found += body["data"]
        after = int(body["next_after"])
        if not body["has_more"]:
            return found, after


def trigger(
    client: httpx.Client, event_type: str, echo: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Cause one ``event_type`` event through ``client``'s tenant: the event, and the steps."""
    recipe = RECIPES.get(event_type)
    if recipe is None:
        raise TriggerFailed(f"no recipe for {event_type!r}; known: {', '.join(RECIPES)}")
    correlation = f"trigger-{uuid.uuid4().hex[:12]}"
    client.headers["X-Correlation-Id"] = correlation
    _, head = _events(client, event_type, 0)
    run = Run(client, event_type, echo=echo)
    recipe(run)
    caused = [e for e in _events(client, event_type, head)[0] if e["correlation_id"] == correlation]
    if len(caused) != 1:
        raise TriggerFailed(f"expected one {event_type} event, the recipe caused {len(caused)}")
    return caused[0], run.steps


def event_types() -> list[str]:
    """Every event type of the shipped spec, each of which has a recipe here."""
    from gledger_sandbox.contract.spec import load_spec

    return sorted(load_spec().event_types())


def trigger_command(base_url: str, api_key: str | None, event_type: str, as_json: bool) -> int:
    """The CLI's ``trigger``: 0 caused, 1 the sandbox refused a step, 2 usage or unreachable."""
    if event_type not in RECIPES:
        print(
            f"gledger-sandbox trigger: unknown event type {event_type!r} (see --list)",
            file=sys.stderr,
        )
        return 2
    if not api_key:
        print("gledger-sandbox trigger: give --api-key (or set GLEDGER_API_KEY)", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        try:
            echo = None if as_json else lambda step: print(f"  {step}", flush=True)
            event, _ = trigger(client, event_type, echo)
        except TriggerFailed as failure:
            print(f"gledger-sandbox trigger: {failure}", file=sys.stderr)
            return 1
        except httpx.HTTPError as failure:
            print(f"gledger-sandbox trigger: cannot reach {base_url}: {failure}", file=sys.stderr)
            return 2
    if as_json:
        print(json.dumps(event, indent=2))
    else:
        print(f"{event['type']} {event['id']} (sequence {event['sequence']})")
    return 0
