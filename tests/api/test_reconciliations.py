"""Reconciliation over real HTTP: a fixture bank statement against entries with known outcomes.

The statement (``tests/data/bank_statement.csv``) and the bank account's entries
(``tests/data/bank_ledger.csv``) are made for each other:
exact reference matches, a payout batch deposited as one line (one record, three ledger lines),
an amount within the tolerance without a reference, a mistyped reference matched on amount and
date, a record outside the date window, an amount just over the tolerance, a pending entry (no
candidate), ledger lines no record names, and a line outside the window (not read at all).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox, ServerThread, new_sandbox

DATA = Path(__file__).resolve().parent.parent / "data"
STATEMENT = DATA / "bank_statement.csv"
LEDGER = DATA / "bank_ledger.csv"
"""The entries on the bank account: one row each, the other line on ``contra``."""
CLOCK = "2026-03-10T12:00:00Z"
RULES = {"amount_tolerance": 50}

CHART = {
    "bank": "asset",
    "accounts_receivable": "asset",
    "payouts_in_transit": "asset",
    "revenue": "revenue",
    "bank_fees": "expense",
    "rent": "expense",
}

# (record, status, rule, ledger entries, amount difference, date difference) in item order.
EXPECTED: list[tuple[str | None, str, str | None, list[str], int | None, int | None]] = [
    ("S01", "matched", "reference", ["inv-1001"], 0, -1),
    ("S02", "matched", "reference", ["inv-1002"], 0, 0),
    ("S03", "matched", "reference_group", ["po_1", "po_2", "po_3"], 0, -1),
    ("S04", "matched", "amount_and_date", ["cs_77"], -1, 0),
    ("S05", "matched", "reference", ["fee"], 0, 1),
    ("S06", "unmatched_record", None, [], None, None),
    ("S07", "unmatched_record", None, [], None, None),
    ("S08", "matched", "reference", ["rent"], 0, 0),
    ("S09", "unmatched_record", None, [], None, None),
    ("S10", "matched", "amount_and_date", ["inv-1005"], 0, 1),
    ("S11", "matched", "amount_and_date", ["cs_91"], 0, 0),
    (None, "unmatched_ledger_line", None, ["inv-1003"], None, None),
    (None, "unmatched_ledger_line", None, ["cs_90"], None, None),
    (None, "unmatched_ledger_line", None, ["inv-1006"], None, None),
    (None, "unmatched_ledger_line", None, ["cs_88"], None, None),
]


@dataclass
class Statement:
    box: Sandbox
    ledger_id: str
    accounts: dict[str, str]
    entries: dict[str, dict[str, Any]]

    def bank_line(self, name: str) -> dict[str, Any]:
        """The entry's bank line as a reconciliation shows it."""
        entry = self.entries[name]
        (line,) = [line for line in entry["lines"] if line["account_code"] == "bank"]
        return {
            "entry_id": entry["id"],
            "line_id": line["id"],
            "amount": line["amount"],
            "direction": line["direction"],
            "effective_at": entry["effective_at"],
            "reference": entry["external_id"] or entry["source_id"],
            "external_id": entry["external_id"],
            "source_id": entry["source_id"],
        }

    def reconcile(self, records: list[dict[str, Any]], **extra: Any) -> Any:
        body = {"ledger_id": self.ledger_id, "account_code": "bank", "records": records, **extra}
        return self.box.client.post("/v1/reconciliations", json=body)


def _rows(path: Path) -> list[dict[str, Any]]:
    """A CSV fixture's rows, empty cells left out, amounts as integers."""
    with path.open(newline="") as rows:
        found = [{k: v for k, v in row.items() if v} for row in csv.DictReader(rows)]
    return [{**row, "amount": int(row["amount"])} for row in found]


def statement_records() -> list[dict[str, Any]]:
    """The fixture statement as request records."""
    return _rows(STATEMENT)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "amount": row["amount"],
        "direction": row["direction"],
        "currency": "USD",
        "date": row["date"],
        "reference": row.get("reference"),
        "description": row.get("description"),
    }


def books(server: ServerThread, seed: int = 11) -> Statement:
    box = new_sandbox(server, fixture="empty", seed=seed, clock_start=CLOCK)
    ledger = box.client.post("/v1/ledgers", json={"name": "Merchant books"}).json()
    accounts = {}
    for code, kind in CHART.items():
        body = {"code": code, "name": code, "kind": kind, "currency": "USD"}
        created = box.client.post(f"/v1/ledgers/{ledger['id']}/accounts", json=body)
        assert created.status_code == 201, created.text
        accounts[code] = created.json()["id"]
    entries = {}
    for row in _rows(LEDGER):
        other = "credit" if row["direction"] == "debit" else "debit"
        body = {
            "ledger_id": ledger["id"],
            "status": row["status"],
            "effective_at": f"{row['effective_day']}T10:00:00Z",
            "lines": [
                {"account_code": "bank", "direction": row["direction"], "amount": row["amount"]},
                {"account_code": row["contra"], "direction": other, "amount": row["amount"]},
            ],
            **{k: row[k] for k in ("external_id", "source_type", "source_id") if k in row},
        }
        created = box.client.post("/v1/entries", json=body)
        assert created.status_code == 201, created.text
        entries[row["name"]] = created.json()
    return Statement(box, ledger["id"], accounts, entries)


@pytest.fixture
def make_books(server: ServerThread) -> Iterator[Callable[[int], Statement]]:
    """Books with the fixture entries on a fresh tenant per call, its client closed after."""
    made: list[Statement] = []

    def make(seed: int = 11) -> Statement:
        made.append(books(server, seed))
        return made[-1]

    yield make
    for statement in made:
        statement.box.client.close()


def expected_items(books_: Statement, run_id: str | None) -> list[dict[str, Any]]:
    rows = {row["id"]: row for row in statement_records()}
    return [
        {
            "status": status,
            "rule": rule,
            "record_ids": [record] if record else [],
            "records": [_record(rows[record])] if record else [],
            "ledger_lines": [books_.bank_line(name) for name in names],
            "amount_difference": amount,
            "date_difference_days": days,
            "reconciliation_id": run_id,
        }
        for record, status, rule, names, amount, days in EXPECTED
    ]


def _without_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


def _pages(box: Sandbox, run_id: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of the run's items, checking each page's size on the way."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = box.client.get(f"/v1/reconciliations/{run_id}/matches", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["data"]) <= limit
        seen += body["data"]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return seen
        cursor = body["next_cursor"]


def _events(box: Sandbox, after: int) -> list[dict[str, Any]]:
    page = box.client.get("/v1/events", params={"after": after, "limit": 500})
    assert page.status_code == 200, page.text
    found: list[dict[str, Any]] = page.json()["data"]
    return found


def _head(box: Sandbox) -> int:
    head: int = box.client.get("/v1/events", params={"limit": 500}).json()["next_after"]
    while True:
        page = box.client.get("/v1/events", params={"after": head, "limit": 500}).json()
        if not page["data"]:
            return head
        head = page["next_after"]


SUMMARY = {
    "records": 11,
    "matched_records": 8,
    "unmatched_records": 3,
    "ledger_lines": 14,
    "matched_ledger_lines": 10,
    "unmatched_ledger_lines": 4,
    "matched_amount": 10800 + 25000 + 30000 + 4999 + 1500 + 3200 + 2500 + 6000,
    "unmatched_record_amount": 7000 + 20051 + 9900,
    "unmatched_ledger_amount": 7000 + 6000 + 11000 + 20000,
}


def test_the_fixture_statement_reconciles_to_its_known_matches_and_misses(
    make_books: Callable[[int], Statement],
) -> None:
    books_ = make_books(11)
    box = books_.box
    head = _head(box)
    done = box.client.post(
        "/v1/reconciliations",
        json={
            "ledger_id": books_.ledger_id,
            "account_code": "bank",
            "records": statement_records(),
            "rules": RULES,
            "metadata": {"statement": "2026-03"},
        },
        headers={"X-Correlation-Id": "statement-2026-03"},
    )
    assert done.status_code == 201, done.text
    run = done.json()
    assert run["id"].startswith("rcn_")
    assert {k: v for k, v in run.items() if k != "id"} == {
        "ledger_id": books_.ledger_id,
        "account_id": books_.accounts["bank"],
        "account_code": "bank",
        "currency": "USD",
        "status": "completed",
        "dry_run": False,
        "rules": {
            "match_reference": "preferred",
            "amount_tolerance": 50,
            "date_window_days": 3,
            "one_to_many": True,
        },
        "window": {"from": "2026-02-21T00:00:00Z", "to": "2026-03-12T00:00:00Z"},
        "summary": SUMMARY,
        "created_at": CLOCK,
        "metadata": {"statement": "2026-03"},
    }
    assert box.client.get(f"/v1/reconciliations/{run['id']}").json() == run

    items = _pages(box, run["id"], limit=4, order="asc")
    assert _without_ids(items) == expected_items(books_, run["id"])
    ids = [item["id"] for item in items]
    assert len(set(ids)) == len(ids) and all(i.startswith("rcm_") for i in ids)
    assert _pages(box, run["id"], limit=3) == items[::-1]  # desc, the default
    for status in ("matched", "unmatched_record", "unmatched_ledger_line"):
        wanted = [item for item in items if item["status"] == status]
        assert _pages(box, run["id"], limit=2, order="asc", status=status) == wanted

    # One reconciliation.matched per match, in item order, then reconciliation.completed,
    # each with the request's correlation id.
    emitted = _events(box, head)
    assert [e["type"] for e in emitted] == ["reconciliation.matched"] * 8 + [
        "reconciliation.completed"
    ]
    assert [e["data"] for e in emitted[:-1]] == [i for i in items if i["status"] == "matched"]
    assert emitted[-1]["data"] == run
    assert {e["correlation_id"] for e in emitted} == {"statement-2026-03"}
    assert {e["request_id"] for e in emitted} == {done.headers["x-gledger-request-id"]}

    # A second run sees only the lines the first left unreconciled: S11 now takes cs_90.
    again = books_.reconcile(statement_records(), rules=RULES)
    assert again.status_code == 201, again.text
    assert again.json()["summary"] == {
        "records": 11,
        "matched_records": 1,
        "unmatched_records": 10,
        "ledger_lines": 4,
        "matched_ledger_lines": 1,
        "unmatched_ledger_lines": 3,
        "matched_amount": 6000,
        "unmatched_record_amount": sum(r["amount"] for r in statement_records()) - 6000,
        "unmatched_ledger_amount": 7000 + 11000 + 20000,
    }
    (second,) = _pages(box, again.json()["id"], limit=50, status="matched")
    assert second["record_ids"] == ["S11"] and second["date_difference_days"] == -2
    assert second["ledger_lines"] == [books_.bank_line("cs_90")]


def test_a_dry_run_changes_nothing_and_previews_the_same_result(
    make_books: Callable[[int], Statement],
) -> None:
    dry_first, twin = make_books(5), make_books(5)
    box = dry_first.box
    head = _head(box)
    preview = dry_first.reconcile(statement_records(), rules=RULES, dry_run=True)
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert shown["id"] is None and shown["dry_run"] is True
    assert shown["summary"] == SUMMARY
    assert [item["id"] for item in shown["matches"]] == [None] * len(EXPECTED)
    assert _without_ids(shown["matches"]) == expected_items(dry_first, None)
    assert _head(box) == head  # no event

    # The twin tenant (same seed, same books) never ran the dry run: the stored runs that
    # follow draw the same ids and event sequences, so the dry run consumed none.
    stored = dry_first.reconcile(statement_records(), rules=RULES)
    twin_stored = twin.reconcile(statement_records(), rules=RULES)
    assert stored.status_code == twin_stored.status_code == 201
    assert stored.json() == twin_stored.json()
    assert stored.json()["summary"] == SUMMARY  # and it marked nothing reconciled
    items = _pages(box, stored.json()["id"], limit=500, order="asc")
    assert items == _pages(twin.box, twin_stored.json()["id"], limit=500, order="asc")
    assert [i["id"] for i in items] != [None] * len(items)
    assert _without_ids(items) == [
        {**item, "reconciliation_id": stored.json()["id"]}
        for item in _without_ids(shown["matches"])
    ]
    after = [(e["sequence"], e["id"], e["type"]) for e in _events(box, head)]
    assert after == [(e["sequence"], e["id"], e["type"]) for e in _events(twin.box, head)]
    assert box.client.get("/v1/reconciliations/rcn_unknown").status_code == 404


def test_an_idempotent_replay_runs_once(make_books: Callable[[int], Statement]) -> None:
    books_ = make_books(11)
    head = _head(books_.box)
    key = {"Idempotency-Key": "statement-2026-03"}
    body = {"ledger_id": books_.ledger_id, "account_code": "bank", "records": statement_records()}
    first = books_.box.client.post("/v1/reconciliations", json=body, headers=key)
    replay = books_.box.client.post("/v1/reconciliations", json=body, headers=key)
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content and replay.headers["Idempotent-Replayed"] == "true"
    # Default rules (no amount tolerance): S04 is a cent off, so seven matches.
    types = [e["type"] for e in _events(books_.box, head)]
    assert types == ["reconciliation.matched"] * 7 + ["reconciliation.completed"]


def test_refusals_point_at_the_offending_fields(
    server: ServerThread, make_books: Callable[[int], Statement]
) -> None:
    books_ = make_books(11)
    box = books_.box
    head = _head(box)
    records = statement_records()

    def refused(body: dict[str, Any], status: int) -> dict[str, Any]:
        answer = box.client.post("/v1/reconciliations", json=body)
        assert answer.status_code == status, answer.text
        problem: dict[str, Any] = answer.json()
        return problem

    base = {"ledger_id": books_.ledger_id, "account_code": "bank"}
    unknown = refused({**base, "ledger_id": "ldg_nope", "records": records}, 404)
    assert unknown["code"] == "not_found" and unknown["errors"][0]["pointer"] == "/ledger_id"
    no_account = refused({**base, "account_code": "safe", "records": records}, 404)
    assert no_account["errors"][0]["pointer"] == "/account_code"
    both = refused({**base, "account_id": books_.accounts["bank"], "records": records}, 422)
    assert both["code"] == "validation.required_field_missing"

    foreign = [records[0], {**records[1], "currency": "EUR"}, {**records[2], "currency": "GBP"}]
    mismatch = refused({**base, "records": foreign}, 422)
    assert mismatch["code"] == "reconciliation.currency_mismatch"
    assert [e["pointer"] for e in mismatch["errors"]] == [
        "/records/1/currency",
        "/records/2/currency",
    ]

    twice = [records[0], records[1], {**records[2], "id": "S01"}, {**records[3], "id": "S02"}]
    duplicate = refused({**base, "records": twice}, 422)
    assert duplicate["code"] == "reconciliation.duplicate_record_id"
    assert [e["pointer"] for e in duplicate["errors"]] == ["/records/2/id", "/records/3/id"]

    window = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    backwards = refused({**base, "records": records, "window": window}, 422)
    assert backwards["code"] == "validation.invalid_range"

    assert refused({**base, "records": []}, 400)["errors"][0]["pointer"] == "/records"
    bad_date = refused({**base, "records": [{**records[0], "date": "2026-02-30"}]}, 400)
    assert bad_date["errors"][0]["pointer"] == "/records/0/date"
    many = [
        {"id": str(i), "amount": 1, "direction": "debit", "date": "2026-03-01"} for i in range(1001)
    ]
    too_many = box.client.post(
        "/v1/reconciliations",
        content=json.dumps({**base, "records": many}, separators=(",", ":")),
        headers={"Content-Type": "application/json"},
    )
    assert too_many.status_code == 400, too_many.text
    assert too_many.json()["errors"][0]["pointer"] == "/records"

    assert _head(box) == head  # nothing refused left an event
    other = new_sandbox(server)
    assert other.client.get("/v1/reconciliations/rcn_unknown").status_code == 404
    other.client.close()


def test_an_explicit_window_bounds_the_ledger_side(
    make_books: Callable[[int], Statement],
) -> None:
    books_ = make_books(11)
    window = {"from": "2026-03-05T00:00:00Z", "to": "2026-03-06T00:00:00Z"}
    records = [r for r in statement_records() if r["id"] == "S04"]
    done = books_.reconcile(records, rules=RULES, window=window, dry_run=True)
    assert done.status_code == 200, done.text
    shown = done.json()
    assert shown["window"] == window
    assert [
        (i["status"], [l["entry_id"] for l in i["ledger_lines"]]) for i in shown["matches"]
    ] == [
        ("matched", [books_.entries["cs_77"]["id"]]),
        ("unmatched_ledger_line", [books_.entries["inv-1006"]["id"]]),
    ]
