"""Reports over real HTTP, each figure checked against one computed by hand from what was posted.

The test books a small business on a frozen clock: entries before the range, at its first
midnight (counts), at its end midnight (does not), a pending entry (counts once posted), a
voided one, a reversal, and a second currency. It keeps its own journal of the bodies it posted
and sums them itself; the reports must agree to the unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox, ServerThread, new_sandbox

CLOCK = "2026-05-10T12:00:00Z"
FROM, TO = "2026-05-01", "2026-05-08"

CHART = {  # code: (kind, currency)
    "cash": ("asset", "USD"),
    "bank": ("asset", "USD"),
    "cash_reserve": ("asset", "USD"),
    "cashier_float": ("asset", "USD"),  # not cash: the prefix is cash_, not cash
    "accounts_receivable": ("asset", "USD"),
    "revenue": ("revenue", "USD"),
    "services_revenue": ("revenue", "USD"),
    "refunds": ("expense", "USD"),
    "platform_fee": ("expense", "USD"),
    "hosting": ("expense", "USD"),
    "tax": ("liability", "USD"),
    "sales_tax": ("liability", "USD"),
    "payable": ("liability", "USD"),
    "owner_equity": ("equity", "USD"),
    "cash_eur": ("asset", "EUR"),
    "revenue_eur": ("revenue", "EUR"),
}
# The P&L mapping, written out for this chart: which accounts count, where, on which side.
CATEGORY = {
    "revenue": "revenue",
    "services_revenue": "revenue",
    "revenue_eur": "revenue",
    "refunds": "refunds",
    "platform_fee": "platform_fees",
    "hosting": "other_expenses",
    "tax": "tax",
    "sales_tax": "tax",
}
CREDIT_SIDE = {"revenue", "tax"}
CASH = {"cash", "bank", "cash_reserve", "cash_eur"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Journal:
    """What the test posted, as the test itself knows it: never read back from the API."""

    ledger_id: str
    accounts: dict[str, str]
    posted: list[tuple[datetime, list[tuple[str, str, int]]]] = field(default_factory=list)

    def sums(self, start: datetime, end: datetime, currency: str) -> dict[str, list[int]]:
        """Debits and credits per account code of the posted lines effective in [start, end)."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for effective, lines in self.posted:
            if start <= effective < end:
                for code, direction, amount in lines:
                    if CHART[code][1] == currency:
                        sums[code][0 if direction == "debit" else 1] += amount
        return sums


class Books:
    def __init__(self, sandbox: Sandbox) -> None:
        self.client = sandbox.client
        ledger = self.client.post("/v1/ledgers", json={"name": "Reports"})
        assert ledger.status_code == 201, ledger.text
        accounts = {}
        for code, (kind, currency) in CHART.items():
            body = {
                "code": code,
                "name": code.replace("_", " "),
                "kind": kind,
                "currency": currency,
            }
            created = self.client.post(f"/v1/ledgers/{ledger.json()['id']}/accounts", json=body)
            assert created.status_code == 201, created.text
            accounts[code] = created.json()["id"]
        self.journal = Journal(ledger.json()["id"], accounts)

    def entry(self, effective_at: str, *lines: tuple[str, str, int], **extra: Any) -> str:
        body = {
            "ledger_id": self.journal.ledger_id,
            "effective_at": effective_at,
            "lines": [
                {"account_code": code, "direction": direction, "amount": amount}
                for code, direction, amount in lines
            ],
            **extra,
        }
        created = self.client.post("/v1/entries", json=body)
        assert created.status_code == 201, created.text
        if created.json()["status"] == "posted":
            self.journal.posted.append((at(effective_at), list(lines)))
        return str(created.json()["id"])

    def report(self, name: str, **params: str) -> dict[str, Any]:
        answer = self.client.get(
            f"/v1/ledgers/{self.journal.ledger_id}/reports/{name}", params=params
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def books(server: ServerThread) -> Iterator[Books]:
    box = new_sandbox(server, fixture="empty", clock_start=CLOCK)
    with box.client:
        yield booked(Books(box))


def booked(books: Books) -> Books:
    """A week of business around the range FROM..TO, and a little outside it."""
    e = books.entry
    e("2026-04-30T23:59:59Z", ("cash", "debit", 100000), ("owner_equity", "credit", 100000))
    e(
        "2026-05-01T00:00:00Z",
        ("cash", "debit", 10500),
        ("platform_fee", "debit", 300),
        ("revenue", "credit", 10000),
        ("tax", "credit", 800),
    )
    e(
        "2026-05-02T10:00:00Z",
        ("accounts_receivable", "debit", 5400),
        ("services_revenue", "credit", 5000),
        ("sales_tax", "credit", 400),
    )
    e("2026-05-02T11:00:00Z", ("cash_eur", "debit", 700), ("revenue_eur", "credit", 700))
    e(
        "2026-05-03T09:00:00Z",
        ("refunds", "debit", 2000),
        ("tax", "debit", 160),
        ("cash", "credit", 2160),
    )
    e("2026-05-03T15:00:00Z", ("hosting", "debit", 1200), ("cash", "credit", 1200))
    e("2026-05-03T16:00:00Z", ("hosting", "debit", 450), ("payable", "credit", 450))
    e("2026-05-04T08:00:00Z", ("bank", "debit", 5000), ("cash", "credit", 5000))
    e("2026-05-04T09:00:00Z", ("cashier_float", "debit", 250), ("cash", "credit", 250))
    sale = e("2026-05-06T08:00:00Z", ("cash_reserve", "debit", 3000), ("revenue", "credit", 3000))
    reversal = books.client.post(
        f"/v1/entries/{sale}/reverse", json={"effective_at": "2026-05-07T08:00:00Z"}
    )
    assert reversal.status_code == 201, reversal.text
    books.journal.posted.append(
        (at("2026-05-07T08:00:00Z"), [("cash_reserve", "credit", 3000), ("revenue", "debit", 3000)])
    )
    voided = e(
        "2026-05-05T12:00:00Z", ("cash", "debit", 999), ("revenue", "credit", 999), status="pending"
    )
    assert books.client.post(f"/v1/entries/{voided}/void").status_code == 200
    e("2026-05-08T00:00:00Z", ("cash", "debit", 4000), ("revenue", "credit", 4000))
    e("2026-05-09T10:00:00Z", ("cash", "debit", 600), ("services_revenue", "credit", 600))
    return books


def pnl_by_hand(journal: Journal, start: str, end: str, currency: str) -> dict[str, Any]:
    sums = journal.sums(at(start + "T00:00:00Z"), at(end + "T00:00:00Z"), currency)
    figures = dict.fromkeys(["revenue", "refunds", "platform_fees", "tax", "other_expenses"], 0)
    accounts = []
    for code, where in CATEGORY.items():
        if CHART[code][1] != currency:
            continue
        debits, credits = sums[code]
        amount = credits - debits if where in CREDIT_SIDE else debits - credits
        figures[where] += amount
        accounts.append((code, where, debits, credits, amount))
    net = (
        figures["revenue"]
        - figures["refunds"]
        - figures["platform_fees"]
        - figures["other_expenses"]
    )
    return {**figures, "net": net, "accounts": sorted(accounts)}


def pnl_figures(report: dict[str, Any]) -> dict[str, Any]:
    names = ["revenue", "refunds", "platform_fees", "tax", "other_expenses", "net"]
    rows = sorted(
        (a["code"], a["category"], a["debits"], a["credits"], a["amount"])
        for a in report["accounts"]
    )
    return {**{n: report[n] for n in names}, "accounts": rows}


def test_profit_and_loss_equals_the_sums_of_the_posted_lines(books: Books) -> None:
    report = books.report("pnl", **{"from": FROM, "to": TO, "currency": "USD"})
    assert pnl_figures(report) == pnl_by_hand(books.journal, FROM, TO, "USD")
    # The same figures spelled out: the from-midnight entry counts, the to-midnight one does
    # not; the voided entry never; the sale and its reversal cancel.
    assert (report["revenue"], report["refunds"], report["platform_fees"]) == (
        10000 + 5000,
        2000,
        300,
    )
    assert (report["tax"], report["other_expenses"]) == (800 + 400 - 160, 1200 + 450)
    assert report["net"] == 15000 - 2000 - 300 - 1650
    assert (report["ledger_id"], report["currency"], report["from"], report["to"]) == (
        books.journal.ledger_id,
        "USD",
        FROM,
        TO,
    )
    assert report["generated_at"] == CLOCK
    assert {a["account_id"] for a in report["accounts"]} == {
        books.journal.accounts[c] for c in CATEGORY if CHART[c][1] == "USD"
    }

    euros = books.report("pnl", **{"from": FROM, "to": TO, "currency": "EUR"})
    assert pnl_figures(euros) == pnl_by_hand(books.journal, FROM, TO, "EUR")
    assert euros["net"] == 700


def test_a_pending_entry_counts_once_posted_on_its_effective_day(books: Books) -> None:
    pending = books.entry(
        "2026-05-05T10:00:00Z", ("cash", "debit", 777), ("revenue", "credit", 777), status="pending"
    )
    params = {"from": FROM, "to": TO, "currency": "USD"}
    before = books.report("pnl", **params)
    assert pnl_figures(before) == pnl_by_hand(books.journal, FROM, TO, "USD")
    assert books.client.post(f"/v1/entries/{pending}/post").status_code == 200
    books.journal.posted.append(
        (at("2026-05-05T10:00:00Z"), [("cash", "debit", 777), ("revenue", "credit", 777)])
    )
    after = books.report("pnl", **params)
    assert pnl_figures(after) == pnl_by_hand(books.journal, FROM, TO, "USD")
    assert after["revenue"] - before["revenue"] == 777
    flow = books.report("cash-flow", **params)
    assert [b["inflow"] for b in flow["buckets"] if b["day"] == "2026-05-05"] == [777]


def test_cash_flow_buckets_every_day_of_the_range(books: Books) -> None:
    report = books.report("cash-flow", **{"from": FROM, "to": TO, "currency": "USD"})
    first = date.fromisoformat(FROM)
    expected = []
    for n in range(7):
        day = first + timedelta(days=n)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        sums = books.journal.sums(start, start + timedelta(days=1), "USD")
        inflow = sum(sums[code][0] for code in CASH if code in sums)
        outflow = sum(sums[code][1] for code in CASH if code in sums)
        expected.append(
            {"day": day.isoformat(), "inflow": inflow, "outflow": outflow, "net": inflow - outflow}
        )
    assert report["buckets"] == expected
    assert [b["day"] for b in report["buckets"]][-1] == "2026-05-07"
    # By hand: 10500 in on the 1st; out 2160 + 1200 on the 3rd; cash -> bank both ways on the
    # 4th, and 250 out to the float (not a cash account); the reserve in and out again.
    assert [(b["inflow"], b["outflow"]) for b in report["buckets"]] == [
        (10500, 0),
        (0, 0),
        (0, 3360),
        (5000, 5250),
        (0, 0),
        (3000, 0),
        (0, 3000),
    ]
    assert (report["inflow"], report["outflow"], report["net"]) == (18500, 11610, 6890)
    assert sorted(a["code"] for a in report["accounts"]) == ["bank", "cash", "cash_reserve"]
    cash = next(a for a in report["accounts"] if a["code"] == "cash")
    assert (cash["debits"], cash["credits"], cash["amount"]) == (10500, 8610, 1890)

    euros = books.report("cash-flow", **{"from": FROM, "to": TO, "currency": "EUR"})
    assert [b["inflow"] for b in euros["buckets"]] == [0, 700, 0, 0, 0, 0, 0]


def trial_balance_by_hand(
    journal: Journal, as_of: datetime
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    rows: dict[str, tuple[int, ...]] = {}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for currency in ("EUR", "USD"):
        sums = journal.sums(
            datetime.min.replace(tzinfo=UTC), as_of + timedelta(microseconds=1), currency
        )
        for code, (kind, account_currency) in CHART.items():
            if account_currency != currency:
                continue
            debits, credits = sums[code]
            balance = debits - credits if kind in ("asset", "expense") else credits - debits
            row = (debits, credits, balance, max(debits - credits, 0), max(credits - debits, 0))
            rows[code] = row
            for i, value in enumerate((debits, credits, row[3], row[4])):
                totals[currency][i] += value
    return rows, {c: tuple(t) for c, t in totals.items()}


@pytest.mark.parametrize(
    "as_of",
    [
        "2026-05-03T12:00:00Z",
        "2026-05-03T09:00:00Z",
        "2026-05-01T00:00:00Z",
        "2026-05-07T23:59:59Z",
        CLOCK,
    ],
)
def test_trial_balance_as_of_an_instant(books: Books, as_of: str) -> None:
    params = {"as_of": as_of} if as_of != CLOCK else {}
    report = books.report("trial-balance", **params)
    rows, totals = trial_balance_by_hand(books.journal, at(as_of))
    got = {
        r["code"]: (
            r["debits"],
            r["credits"],
            r["balance"],
            r["debit_balance"],
            r["credit_balance"],
        )
        for r in report["accounts"]
    }
    assert got == rows
    assert [r["account_id"] for r in report["accounts"]] == list(books.journal.accounts.values())
    assert report["totals"] == [
        {
            "currency": c,
            "debits": t[0],
            "credits": t[1],
            "debit_balances": t[2],
            "credit_balances": t[3],
            "balanced": True,
        }
        for c, t in sorted(totals.items())
    ]
    for _currency, (debits, credits, left, right) in totals.items():
        assert debits == credits and left == right  # by hand: the books balance
    assert report["as_of"] == as_of and report["currency"] is None


def test_trial_balance_mid_range_by_hand(books: Books) -> None:
    report = books.report("trial-balance", as_of="2026-05-03T12:00:00Z", currency="USD")
    rows = {r["code"]: (r["debits"], r["credits"], r["balance"]) for r in report["accounts"]}
    # Entries up to the refund at 09:00 on the 3rd; not the hosting bill at 15:00.
    assert rows["cash"] == (110500, 2160, 108340)
    assert rows["tax"] == (160, 800, 640)
    assert rows["hosting"] == (0, 0, 0)
    assert "cash_eur" not in rows and report["currency"] == "USD"
    assert report["totals"] == [
        {
            "currency": "USD",
            "debits": 118360,
            "credits": 118360,
            "debit_balances": 116040,
            "credit_balances": 116040,
            "balanced": True,
        }
    ]


def test_currency_defaults_to_the_ledgers_only_one(sandbox: Sandbox) -> None:
    client = sandbox.client
    ledger = client.post("/v1/ledgers", json={"name": "One currency"}).json()["id"]
    path = f"/v1/ledgers/{ledger}/reports"
    empty = client.get(f"{path}/pnl", params={"from": FROM, "to": TO})
    assert empty.status_code == 200, empty.text
    assert (empty.json()["currency"], empty.json()["net"], empty.json()["accounts"]) == (
        None,
        0,
        [],
    )
    for code, kind in [("cash", "asset"), ("revenue", "revenue")]:
        body = {"code": code, "name": code, "kind": kind, "currency": "GBP"}
        assert client.post(f"/v1/ledgers/{ledger}/accounts", json=body).status_code == 201
    lines = [
        {"account_code": "cash", "direction": "debit", "amount": 42},
        {"account_code": "revenue", "direction": "credit", "amount": 42},
    ]
    posted = client.post(
        "/v1/entries",
        json={"ledger_id": ledger, "lines": lines, "effective_at": "2026-05-02T00:00:00Z"},
    )
    assert posted.status_code == 201, posted.text
    report = client.get(f"{path}/pnl", params={"from": FROM, "to": TO}).json()
    assert (report["currency"], report["revenue"], report["net"]) == ("GBP", 42, 42)
    flow = client.get(f"{path}/cash-flow", params={"from": FROM, "to": TO}).json()
    assert (flow["currency"], flow["inflow"]) == ("GBP", 42)
    other = client.get(f"{path}/pnl", params={"from": FROM, "to": TO, "currency": "USD"}).json()
    assert (other["currency"], other["net"], other["accounts"]) == ("USD", 0, [])


def _problem(books: Books, name: str, **params: str) -> tuple[int, str, list[str]]:
    answer = books.client.get(
        f"/v1/ledgers/{books.journal.ledger_id}/reports/{name}", params=params
    )
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    return answer.status_code, problem["code"], [e["pointer"] for e in problem["errors"]]


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        (
            "pnl",
            {"from": TO, "to": FROM, "currency": "USD"},
            (400, "validation.invalid_range", ["/query/from", "/query/to"]),
        ),
        (
            "cash-flow",
            {"from": FROM, "to": FROM, "currency": "USD"},
            (400, "validation.invalid_range", ["/query/from", "/query/to"]),
        ),
        (
            "pnl",
            {"from": "2026-5-1", "to": TO, "currency": "USD"},
            (400, "validation.invalid_value", ["/query/from"]),
        ),
        (
            "pnl",
            {"from": FROM, "to": "2026-02-30", "currency": "USD"},
            (400, "validation.invalid_value", ["/query/to"]),
        ),
        (
            "cash-flow",
            {"from": "2026-05-01T00:00:00Z", "to": TO, "currency": "USD"},
            (400, "validation.invalid_value", ["/query/from"]),
        ),
        (
            "pnl",
            {"from": FROM, "currency": "USD"},
            (400, "validation.required_field_missing", ["/query/to"]),
        ),
        (
            "cash-flow",
            {"to": TO, "currency": "USD"},
            (400, "validation.required_field_missing", ["/query/from"]),
        ),
        (
            "pnl",
            {"from": FROM, "to": TO},
            (400, "validation.currency_required", ["/query/currency"]),
        ),
        (
            "cash-flow",
            {"from": FROM, "to": TO},
            (400, "validation.currency_required", ["/query/currency"]),
        ),
        (
            "pnl",
            {"from": FROM, "to": TO, "currency": "ZZZ"},
            (400, "validation.unknown_currency", ["/query/currency"]),
        ),
        (
            "trial-balance",
            {"currency": "ZZZ"},
            (400, "validation.unknown_currency", ["/query/currency"]),
        ),
        (
            "pnl",
            {"from": FROM, "to": TO, "currency": "usd"},
            (400, "validation.invalid_value", ["/query/currency"]),
        ),
        (
            "cash-flow",
            {"from": "2024-01-01", "to": "2025-01-02", "currency": "USD"},
            (400, "validation.range_too_long", ["/query/from", "/query/to"]),
        ),
        (
            "trial-balance",
            {"as_of": "yesterday"},
            (400, "validation.invalid_value", ["/query/as_of"]),
        ),
    ],
)
def test_bad_ranges_dates_and_currencies_are_400(
    books: Books, name: str, params: dict[str, str], expected: tuple[int, str, list[str]]
) -> None:
    assert _problem(books, name, **params) == expected


def test_a_leap_year_of_buckets_is_the_longest_cash_flow(books: Books) -> None:
    report = books.report(
        "cash-flow", **{"from": "2024-01-01", "to": "2025-01-01", "currency": "USD"}
    )
    assert len(report["buckets"]) == 366 and report["net"] == 0


def test_unknown_and_foreign_ledgers_are_404(server: ServerThread, books: Books) -> None:
    mine = books.journal.ledger_id
    with new_sandbox(server).client as stranger:
        for name, params in [
            ("pnl", {"from": FROM, "to": TO}),
            ("cash-flow", {"from": FROM, "to": TO}),
            ("trial-balance", {}),
        ]:
            for client, ledger in [(books.client, "ldg_nope"), (stranger, mine)]:
                answer = client.get(f"/v1/ledgers/{ledger}/reports/{name}", params=params)
                assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


def test_merchant_fixture_balances_and_its_net_is_the_sum_of_its_entries(
    server: ServerThread,
) -> None:
    with new_sandbox(
        server, fixture="merchant", seed=11, clock_start="2026-06-01T12:00:00Z"
    ).client as client:
        check_merchant(client)


def check_merchant(client: httpx.Client) -> None:
    ledger = client.get("/v1/ledgers").json()["data"][0]["id"]
    accounts = {
        a["id"]: a
        for a in client.get(f"/v1/ledgers/{ledger}/accounts", params={"limit": 500}).json()["data"]
    }
    start, end = "2026-05-10", "2026-05-24"
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    entries, cursor = 0, None
    while True:
        params = {
            "ledger_id": ledger,
            "status": "posted",
            "limit": 500,
            "effective_from": start + "T00:00:00Z",
            "effective_to": end + "T00:00:00Z",
        }
        page = client.get(
            "/v1/entries", params={**params, **({"cursor": cursor} if cursor else {})}
        ).json()
        for entry in page["data"]:
            entries += 1
            for line in entry["lines"]:
                sums[line["account_id"]][0 if line["direction"] == "debit" else 1] += line["amount"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert entries > 50
    figures = dict.fromkeys(["revenue", "refunds", "platform_fees", "tax", "other_expenses"], 0)
    merchant_category = {"refunds": "refunds", "platform_fee": "platform_fees", "tax": "tax"}
    for account_id, (debits, credits) in sums.items():
        account = accounts[account_id]
        where = merchant_category.get(account["code"]) or {
            "revenue": "revenue",
            "expense": "other_expenses",
        }.get(account["kind"])
        if where is not None:
            figures[where] += credits - debits if where in CREDIT_SIDE else debits - credits
    pnl = client.get(f"/v1/ledgers/{ledger}/reports/pnl", params={"from": start, "to": end}).json()
    assert {k: pnl[k] for k in figures} == figures
    assert (
        pnl["net"]
        == figures["revenue"]
        - figures["refunds"]
        - figures["platform_fees"]
        - figures["other_expenses"]
    )
    assert pnl["revenue"] > 0 and pnl["platform_fees"] > 0

    trial = client.get(f"/v1/ledgers/{ledger}/reports/trial-balance").json()
    balances = {
        b["account_id"]: b
        for b in client.get(f"/v1/ledgers/{ledger}/balances", params={"limit": 500}).json()["data"]
    }
    debits = sum(row["debits"] for row in trial["accounts"])
    credits = sum(row["credits"] for row in trial["accounts"])
    assert debits == credits > 0
    for row in trial["accounts"]:
        assert (row["debits"], row["credits"], row["balance"]) == tuple(
            balances[row["account_id"]][k] for k in ("debits", "credits", "balance")
        )
    assert trial["totals"] == [
        {
            "currency": "USD",
            "debits": debits,
            "credits": credits,
            "debit_balances": sum(max(r["debits"] - r["credits"], 0) for r in trial["accounts"]),
            "credit_balances": sum(max(r["credits"] - r["debits"], 0) for r in trial["accounts"]),
            "balanced": True,
        }
    ]
