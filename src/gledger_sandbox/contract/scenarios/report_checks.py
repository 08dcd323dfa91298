"""``report_arithmetic``: the reports are sums of the posted lines, as the spec defines them.

The kit opens a ledger of its own whose accounts cover every P&L category and two cash
accounts, posts a few days of business in a range (a checkout with tax, a refund, fees, a
move between the cash accounts, a revenue correction, an owner's funding), one entry before
the range and one left pending, then compares:

- the P&L: each account's debits and credits with the posted lines of the range, each
  category with the spec's definition (by code, then kind), ``net = revenue - refunds -
  platform_fees - other_expenses``, and the report's own fields with its account rows;
- the trial balance: each row with the posted lines up to now, each total with the sum of its
  rows, and ``balanced`` true exactly when debits equal credits and debit balances equal
  credit balances;
- the cash flow: one bucket per day, each bucket with that day's lines of the cash accounts,
  the buckets with the totals, and the net with the cash accounts' movement over the range
  (their balances as of its end less as of its start).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gledger_sandbox.contract.scenarios import Scenario

CHECK = "report_arithmetic"
CHART = {
    "cash": "asset",
    "bank": "asset",
    "revenue": "revenue",
    "refunds": "expense",
    "platform_fee": "expense",
    "tax": "liability",
    "hosting": "expense",
    "owner_equity": "equity",
}
CATEGORY_BY_CODE = {
    "refunds": "refunds",
    "platform_fee": "platform_fees",
    "platform_fees": "platform_fees",
    "tax": "tax",
    "sales_tax": "tax",
}
CREDIT_CATEGORIES = frozenset({"revenue", "tax"})
CASH = ("cash", "bank")
TOTALS = ("debits", "credits", "debit_balances", "credit_balances")
# (days before today, status, lines): what the kit posts; days 3 and 2 are in the range.
STORY: tuple[tuple[int, str, tuple[tuple[str, str, int], ...]], ...] = (
    (6, "posted", (("cash", "debit", 999), ("revenue", "credit", 999))),
    (
        3,
        "posted",
        (("cash", "debit", 10_800), ("revenue", "credit", 10_000), ("tax", "credit", 800)),
    ),
    (3, "posted", (("refunds", "debit", 1_200), ("cash", "credit", 1_200))),
    (3, "pending", (("cash", "debit", 777), ("revenue", "credit", 777))),
    (
        2,
        "posted",
        (("platform_fee", "debit", 300), ("hosting", "debit", 150), ("cash", "credit", 450)),
    ),
    (2, "posted", (("bank", "debit", 5_000), ("cash", "credit", 5_000))),
    (2, "posted", (("revenue", "debit", 500), ("cash", "credit", 500))),
    (2, "posted", (("cash", "debit", 100), ("owner_equity", "credit", 100))),
)


@dataclass(frozen=True, slots=True)
class Line:
    code: str
    direction: str
    amount: int
    day: date


def run(scenario: Scenario) -> None:
    scenario.require("createLedger", "createAccount", "createEntry")
    ledger_id, accounts, today = _open_ledger(scenario)
    lines = _post_story(scenario, ledger_id, accounts, today)
    start, end = today - timedelta(days=4), today - timedelta(days=1)
    in_range = [line for line in lines if start <= line.day < end]
    report_range = {"from": start.isoformat(), "to": end.isoformat(), "currency": "USD"}
    base = f"/v1/ledgers/{ledger_id}/reports"
    if scenario.target.spec.has("getProfitAndLoss"):
        _pnl(scenario, f"{base}/pnl", report_range, in_range)
    if scenario.target.spec.has("getTrialBalance"):
        _trial_balance(scenario, f"{base}/trial-balance", lines)
    if scenario.target.spec.has("getCashFlow"):
        _cash_flow(scenario, f"{base}/cash-flow", report_range, in_range, accounts)


def _open_ledger(scenario: Scenario) -> tuple[str, dict[str, str], date]:
    client = scenario.client
    answer = client.post("/v1/ledgers", json={"name": f"Contract kit reports {scenario.tag}"})
    ledger = scenario.expect(answer, 201, doing="creating the reports' ledger")
    accounts = {}
    for code, kind in CHART.items():
        opened = client.post(
            f"/v1/ledgers/{ledger['id']}/accounts",
            json={"code": code, "name": code, "kind": kind, "currency": "USD"},
        )
        accounts[code] = scenario.expect(opened, 201, doing=f"opening account {code}")["id"]
    today = datetime.fromisoformat(ledger["created_at"].replace("Z", "+00:00")).date()
    return ledger["id"], accounts, today


def _post_story(
    scenario: Scenario, ledger_id: str, accounts: dict[str, str], today: date
) -> list[Line]:
    posted = []
    for days_ago, status, story_lines in STORY:
        day = today - timedelta(days=days_ago)
        body = {
            "ledger_id": ledger_id,
            "status": status,
            "effective_at": f"{day.isoformat()}T12:00:00Z",
            "lines": [
                {"account_id": accounts[code], "direction": direction, "amount": amount}
                for code, direction, amount in story_lines
            ],
        }
        scenario.expect(scenario.client.post("/v1/entries", json=body), 201, doing="posting")
        if status == "posted":
            posted += [
                Line(code, direction, amount, day) for code, direction, amount in story_lines
            ]
    return posted


def _sides(lines: list[Line], code: str) -> tuple[int, int]:
    debits = sum(line.amount for line in lines if line.code == code and line.direction == "debit")
    credits = sum(line.amount for line in lines if line.code == code and line.direction == "credit")
    return debits, credits


def _category(code: str, kind: str) -> str | None:
    found = CATEGORY_BY_CODE.get(code)
    if found:
        return found
    return {"revenue": "revenue", "expense": "other_expenses"}.get(kind)


def _pnl(scenario: Scenario, path: str, params: dict[str, str], lines: list[Line]) -> None:
    answer = scenario.client.get(path, params=params)
    report = scenario.expect(answer, 200, doing="reading the P&L")
    expected: dict[str, int] = defaultdict(int)
    problems = []
    for code, kind in CHART.items():
        category = _category(code, kind)
        if category is None:
            continue
        debits, credits = _sides(lines, code)
        expected[category] += (
            credits - debits if category in CREDIT_CATEGORIES else debits - credits
        )
    expected["net"] = (
        expected["revenue"]
        - expected["refunds"]
        - expected["platform_fees"]
        - expected["other_expenses"]
    )
    for name in ("revenue", "refunds", "platform_fees", "tax", "other_expenses", "net"):
        if report[name] != expected[name]:
            problems.append(
                f"{name} is {report[name]}, the posted lines of the range make {expected[name]}"
            )
    own_net = (
        report["revenue"] - report["refunds"] - report["platform_fees"] - report["other_expenses"]
    )
    if report["net"] != own_net:
        problems.append(
            f"net {report['net']} is not revenue - refunds - platform_fees - "
            f"other_expenses = {own_net}"
        )
    for row in report["accounts"]:
        debits, credits = _sides(lines, row["code"])
        if (row["debits"], row["credits"]) != (debits, credits):
            problems.append(
                f"account {row['code']} shows debits {row['debits']} credits "
                f"{row['credits']}, its lines {debits}/{credits}"
            )
    _report(scenario, "pnl", problems, answer, "getProfitAndLoss")


def _trial_balance(scenario: Scenario, path: str, lines: list[Line]) -> None:
    answer = scenario.client.get(path)
    report = scenario.expect(answer, 200, doing="reading the trial balance")
    problems = []
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in report["accounts"]:
        debits, credits = _sides(lines, row["code"])
        net = debits - credits
        want = (debits, credits, max(net, 0), max(-net, 0))
        got = (row["debits"], row["credits"], row["debit_balance"], row["credit_balance"])
        if got != want:
            problems.append(
                f"row {row['code']} is debits/credits/debit_balance/credit_balance "
                f"{got}, its lines make {want}"
            )
        for name, value in zip(TOTALS, got, strict=True):
            sums[row["currency"]][name] += value
    for total in report["totals"]:
        summed = sums.get(total["currency"], {})
        for name in TOTALS:
            if total[name] != summed.get(name, 0):
                problems.append(
                    f"total {name} of {total['currency']} is {total[name]}, its "
                    f"rows sum to {summed.get(name, 0)}"
                )
        agree = (
            total["debits"] == total["credits"]
            and total["debit_balances"] == total["credit_balances"]
        )
        if total["balanced"] != agree:
            problems.append(
                f"{total['currency']} says balanced={total['balanced']} with debits "
                f"{total['debits']} credits {total['credits']} debit_balances "
                f"{total['debit_balances']} credit_balances "
                f"{total['credit_balances']}"
            )
    _report(scenario, "trial balance", problems, answer, "getTrialBalance")


def _cash_flow(
    scenario: Scenario,
    path: str,
    params: dict[str, str],
    lines: list[Line],
    accounts: dict[str, str],
) -> None:
    answer = scenario.client.get(path, params=params)
    report = scenario.expect(answer, 200, doing="reading the cash flow")
    problems = []
    cash_lines = [line for line in lines if line.code in CASH]
    buckets = report["buckets"]
    day = date.fromisoformat(params["from"])
    for bucket in buckets:
        that_day = [line for line in cash_lines if line.day == day]
        want = (
            sum(x.amount for x in that_day if x.direction == "debit"),
            sum(x.amount for x in that_day if x.direction == "credit"),
        )
        got = (bucket["inflow"], bucket["outflow"])
        if bucket["day"] != day.isoformat() or got != want:
            problems.append(
                f"bucket {bucket['day']} has inflow/outflow {got}, the cash lines "
                f"of {day.isoformat()} make {want}"
            )
        if bucket["net"] != bucket["inflow"] - bucket["outflow"]:
            problems.append(f"bucket {bucket['day']} net {bucket['net']} is not inflow - outflow")
        day += timedelta(days=1)
    if day != date.fromisoformat(params["to"]):
        problems.append(f"{len(buckets)} buckets for the range {params['from']}..{params['to']}")
    for name in ("inflow", "outflow", "net"):
        summed = sum(bucket[name] for bucket in buckets)
        if report[name] != summed:
            problems.append(f"{name} is {report[name]}, its buckets sum to {summed}")
    movement = _movement(scenario, [accounts[code] for code in CASH], params)
    if movement is not None and report["net"] != movement:
        problems.append(
            f"net {report['net']}, but the cash accounts moved by {movement} "
            "over the range (their balances as of its end less as of its start)"
        )
    _report(scenario, "cash flow", problems, answer, "getCashFlow")


def _movement(scenario: Scenario, account_ids: list[str], params: dict[str, str]) -> int | None:
    """The cash accounts' posted balances as of the range's end less as of its start."""
    if not scenario.target.spec.has("getAccountBalance"):
        return None
    moved = 0
    for account_id in account_ids:
        for day, sign in ((params["to"], 1), (params["from"], -1)):
            # Just before the day's midnight: ``as_of`` counts lines at or before it.
            instant = f"{(date.fromisoformat(day) - timedelta(days=1)).isoformat()}T23:59:59.999Z"
            answer = scenario.client.get(
                f"/v1/accounts/{account_id}/balance", params={"as_of": instant}
            )
            moved += sign * scenario.expect(answer, 200, doing="a balance")["posted"]["amount"]
    return moved


def _report(
    scenario: Scenario, report: str, problems: list[str], answer: Any, operation: str
) -> None:
    if problems:
        scenario.client.fail(CHECK, f"{report}: " + "; ".join(problems[:4]), answer)
    else:
        scenario.client.passed(CHECK, operation)
