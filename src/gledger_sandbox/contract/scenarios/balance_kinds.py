"""``balances_in_time``: pending, posted and available follow from the lines, at any time.

The kit opens a debit-normal and a credit-normal account of its own, posts three entries
between them (two backdated, so that they take effect ten and five days ago) and leaves two
pending, one each way. Then:

- ``posted`` is the posted lines, ``pending`` adds every pending line, ``available`` adds only
  the pending lines that lower the balance (so a pending debit of a credit-normal account
  lowers available at once), each as debits, credits and the signed amount;
- a balance ``as_of`` a past instant (before the first line, between lines, exactly at one)
  equals the statement's lines effective up to that instant;
- the statement walked in small pages ascending and descending lists the same lines in
  opposite orders with the same running ``balance_after``, which follows line by line.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gledger_sandbox.contract.scenarios import Scenario

CHECK = "balances_in_time"
DAY = timedelta(days=1)


def run(scenario: Scenario) -> None:
    scenario.require("createAccount", "createEntry", "getAccountBalance", "listAccountLines")
    asset, liability = _open_pair(scenario)
    posted = [(1000, 10), (500, 5)]  # (amount, days ago)
    first = scenario.post_entry((asset, "debit", 1), (liability, "credit", 1), status="pending")
    now = _instant(first["created_at"])
    scenario.expect(scenario.client.post(f"/v1/entries/{first['id']}/void"), 200, doing="voiding")
    for amount, days in posted:
        effective = _text(now - days * DAY)
        scenario.post_entry(
            (asset, "debit", amount), (liability, "credit", amount), effective_at=effective
        )
    scenario.post_entry((liability, "debit", 300), (asset, "credit", 300))
    scenario.post_entry((asset, "credit", 200), (liability, "debit", 200), status="pending")
    scenario.post_entry((asset, "debit", 70), (liability, "credit", 70), status="pending")
    # (debits, credits) of the debit-normal account; the other's are the mirror image.
    expected = {"posted": (1500, 300), "pending": (1570, 500), "available": (1500, 500)}
    for code in (asset, liability):
        account_id = scenario.books().accounts[code]
        _kinds(scenario, account_id, expected)
        lines = _statement_both_ways(scenario, account_id)
        if lines is not None:
            _as_of(scenario, account_id, lines, now)


def _open_pair(scenario: Scenario) -> tuple[str, str]:
    books = scenario.books()
    codes = []
    for kind in ("asset", "liability"):
        code = scenario.key(kind[:4]).replace("-", "_")
        answer = scenario.client.post(
            f"/v1/ledgers/{books.ledger_id}/accounts",
            json={"code": code, "name": f"Balances {kind}", "kind": kind, "currency": "USD"},
        )
        books.accounts[code] = scenario.expect(answer, 201, doing=f"opening a {kind} account")["id"]
        codes.append(code)
    return codes[0], codes[1]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _text(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _signed(normal: str, debits: int, credits: int) -> int:
    return debits - credits if normal == "debit" else credits - debits


def _kinds(scenario: Scenario, account_id: str, expected: dict[str, tuple[int, int]]) -> None:
    """Each kind of balance against the lines the kit posted and left pending."""
    response = scenario.client.get(f"/v1/accounts/{account_id}/balance")
    balance = scenario.expect(response, 200, doing="reading a balance")
    normal = balance["normal_balance"]
    problems = []
    for kind in ("posted", "pending", "available"):
        debits, credits = expected[kind] if normal == "debit" else expected[kind][::-1]
        want = {"debits": debits, "credits": credits, "amount": _signed(normal, debits, credits)}
        got = {name: balance[kind][name] for name in want}
        if got != want:
            problems.append(f"{kind} is {got}, its lines make {want}")
    if problems:
        scenario.client.fail(
            CHECK,
            f"kinds: account {account_id} ({normal}-normal, two "
            "pending entries): " + "; ".join(problems),
            response,
        )
    else:
        scenario.client.passed(CHECK, "getAccountBalance")


def _statement_both_ways(scenario: Scenario, account_id: str) -> list[dict[str, Any]] | None:
    """The ascending statement, once it agrees with the descending one (None when not)."""
    path = f"/v1/accounts/{account_id}/lines"
    ascending = scenario.walk(path, {"limit": 2, "order": "asc"})
    descending = scenario.walk(path, {"limit": 2, "order": "desc"})
    response = scenario.client.get(path, params={"limit": 2, "order": "desc"})
    balance = scenario.client.get(f"/v1/accounts/{account_id}/balance").json()
    normal, current = balance["normal_balance"], balance["posted"]["amount"]
    problems = []
    if [line["id"] for line in descending] != [line["id"] for line in ascending[::-1]]:
        problems.append("the descending statement is not the ascending one reversed")
    after = {line["id"]: line.get("balance_after") for line in ascending}
    running = current
    for line in descending:
        if line.get("balance_after") != running or after.get(line["id"]) != running:
            problems.append(
                f"line {line['id']} shows balance_after {line.get('balance_after')} descending "
                f"and {after.get(line['id'])} ascending; the balance after it is {running}"
            )
            break
        debit = line["direction"] == "debit"
        running -= _signed(normal, line["amount"] if debit else 0, 0 if debit else line["amount"])
    if problems:
        scenario.client.fail(
            CHECK, f"statement: account {account_id}: " + "; ".join(problems), response
        )
        return None
    scenario.client.passed(CHECK, "listAccountLines")
    return ascending


def _as_of(scenario: Scenario, account_id: str, lines: list[dict[str, Any]], now: datetime) -> None:
    """Balances as of past instants against the statement lines effective up to them."""
    effective = sorted(_instant(line["effective_at"]) for line in lines)
    instants = [effective[0] - timedelta(seconds=1), effective[0] + timedelta(hours=1)]
    instants += [effective[1], now - DAY]
    for instant in instants:
        answer = scenario.client.get(
            f"/v1/accounts/{account_id}/balance", params={"as_of": _text(instant)}
        )
        balance = scenario.expect(answer, 200, doing="reading a balance as of a past time")
        counted = [line for line in lines if _instant(line["effective_at"]) <= instant]
        debits = sum(line["amount"] for line in counted if line["direction"] == "debit")
        credits = sum(line["amount"] for line in counted if line["direction"] == "credit")
        want = {
            "debits": debits,
            "credits": credits,
            "amount": _signed(balance["normal_balance"], debits, credits),
        }
        got = {name: balance["posted"][name] for name in want}
        if got != want:
            scenario.client.fail(
                CHECK,
                f"as_of: account {account_id} as of {_text(instant)} has posted {got}, the "
                f"{len(counted)} lines effective by then make {want}",
                answer,
            )
            return
    scenario.client.passed(CHECK, "getAccountBalance as_of")
