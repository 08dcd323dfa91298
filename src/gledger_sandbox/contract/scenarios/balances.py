"""``balance_matches_lines``: an account's posted balance is the sum of its posted lines.

The kit posts a mix of entries on its own books (posted, pending, pending then posted, voided,
reversed, two currencies), then for each account compares the balance with its statement:
debit and credit totals, the signed amount by normal balance, and each line's running
``balance_after``. The ledger's per-account balances must agree too. A few accounts the
tenant already had are checked the same way when their statements are short.
"""

from __future__ import annotations

from typing import Any

from gledger_sandbox.contract.scenarios import Scenario, ScenarioBroken

CHECK = "balance_matches_lines"
MAX_LINES = 2000
"""Longer statements of pre-existing accounts are left out (the check must stay bounded)."""
EXISTING_ACCOUNTS = 5


def run(scenario: Scenario) -> None:
    scenario.require("getAccountBalance", "listAccountLines", "createEntry")
    _post_a_mix(scenario)
    books = scenario.books()
    for account_id in books.accounts.values():
        _compare(scenario, account_id)
    if scenario.target.spec.has("listLedgerBalances"):
        _compare_ledger(scenario, books.ledger_id)
    for account_id in _existing_accounts(scenario, books.ledger_id):
        try:
            _compare(scenario, account_id, cap=MAX_LINES)
        except ScenarioBroken:
            continue  # a statement too long to read within bounds: left out


def _post_a_mix(scenario: Scenario) -> None:
    scenario.post_entry(("kit_cash", "debit", 10_000), ("kit_revenue", "credit", 10_000))
    scenario.post_entry(
        ("kit_cash", "debit", 2_500), ("kit_fees", "debit", 500), ("kit_revenue", "credit", 3_000)
    )
    scenario.post_entry(("kit_cash_eur", "debit", 1_234), ("kit_revenue_eur", "credit", 1_234))
    scenario.post_entry(
        ("kit_cash", "debit", 700), ("kit_revenue", "credit", 700), status="pending"
    )
    later = scenario.post_entry(
        ("kit_fees", "debit", 40), ("kit_cash", "credit", 40), status="pending"
    )
    voided = scenario.post_entry(
        ("kit_fees", "debit", 90), ("kit_cash", "credit", 90), status="pending"
    )
    reversed_ = scenario.post_entry(("kit_cash", "debit", 333), ("kit_revenue", "credit", 333))
    for path, doing in (
        (f"/v1/entries/{later['id']}/post", "posting a pending entry"),
        (f"/v1/entries/{voided['id']}/void", "voiding a pending entry"),
        (f"/v1/entries/{reversed_['id']}/reverse", "reversing an entry"),
    ):
        scenario.expect(scenario.client.post(path), 200, 201, doing=doing)


def _balance(scenario: Scenario, account_id: str) -> tuple[Any, Any]:
    response = scenario.client.get(f"/v1/accounts/{account_id}/balance")
    return response, scenario.expect(response, 200, doing="reading a balance")


def _compare(scenario: Scenario, account_id: str, cap: int = 0) -> None:
    """Balance against statement; read again if the account moved while the lines were read."""
    client = scenario.client
    for _ in range(3):
        response, before = _balance(scenario, account_id)
        if cap and before["posted"]["debits"] + before["posted"]["credits"] == 0:
            return
        lines = scenario.walk(
            f"/v1/accounts/{account_id}/lines", {"limit": 200, "order": "asc"}, cap=cap // 200 or 50
        )
        _, after = _balance(scenario, account_id)
        if after["lock_version"] == before["lock_version"]:
            break
    else:
        raise ScenarioBroken(f"account {account_id} kept moving while its lines were read")
    problems = _disagreements(before, lines)
    if problems:
        client.fail(CHECK, f"account {account_id}: " + "; ".join(problems), response)
    else:
        client.passed(CHECK, "getAccountBalance")


def _disagreements(balance: dict[str, Any], lines: list[dict[str, Any]]) -> list[str]:
    debit_normal = balance["normal_balance"] == "debit"
    debits = credits = running = 0
    problems = []
    for line in lines:
        amount = line["amount"]
        if line["direction"] == "debit":
            debits += amount
        else:
            credits += amount
        running = debits - credits if debit_normal else credits - debits
        if "balance_after" in line and line["balance_after"] != running:
            problems.append(
                f"line {line['id']} has balance_after {line['balance_after']}, "
                f"the lines before it sum to {running}"
            )
            break
    posted = balance["posted"]
    if (posted["debits"], posted["credits"], posted["amount"]) != (debits, credits, running):
        problems.insert(
            0,
            f"posted balance debits {posted['debits']} credits {posted['credits']} amount "
            f"{posted['amount']}, but its {len(lines)} posted lines sum to debits {debits} "
            f"credits {credits} amount {running}",
        )
    return problems


def _compare_ledger(scenario: Scenario, ledger_id: str) -> None:
    client = scenario.client
    path = f"/v1/ledgers/{ledger_id}/balances"
    rows = scenario.walk(path, {"limit": 100})
    for row in rows:
        _, balance = _balance(scenario, row["account_id"])
        posted = balance["posted"]
        if (row["debits"], row["credits"], row["balance"]) != (
            posted["debits"],
            posted["credits"],
            posted["amount"],
        ):
            response = client.get(path, params={"limit": 100})
            client.fail(
                CHECK,
                f"ledger balance of {row['code']} is debits {row['debits']} credits "
                f"{row['credits']} balance {row['balance']}, the account's posted balance "
                f"{posted['debits']}/{posted['credits']}/{posted['amount']}",
                response,
            )
            return
    client.passed(CHECK, "listLedgerBalances")


def _existing_accounts(scenario: Scenario, own_ledger: str) -> list[str]:
    """A few accounts the tenant had before the kit came (its fixture data, say)."""
    if not scenario.target.spec.has("listLedgers") or not scenario.target.spec.has("listAccounts"):
        return []
    ledgers = scenario.client.get("/v1/ledgers", params={"limit": 5, "order": "asc"})
    if ledgers.status_code != 200:
        return []
    found: list[str] = []
    for ledger in ledgers.json()["data"]:
        if ledger["id"] == own_ledger:
            continue
        accounts = scenario.client.get(
            f"/v1/ledgers/{ledger['id']}/accounts", params={"limit": EXISTING_ACCOUNTS}
        )
        if accounts.status_code == 200:
            found += [account["id"] for account in accounts.json()["data"]]
        if len(found) >= EXISTING_ACCOUNTS:
            break
    return found[:EXISTING_ACCOUNTS]
