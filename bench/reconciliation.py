"""Cost of a reconciliation run at its limits, in process: 1,000 records against 10,000 lines.

No server: the domain command alone (reading the window, matching, storing, events) and the
serialization of the answer, timed with ``time.perf_counter`` over a few rounds (median). Three
statements: every record named by reference, none named (amount and date only, many equal
amounts), and a dry run of the first. Then the cost of a page of the results at the start and at
the end of 11,000 items (it should not depend on the position).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from gledger_sandbox.api.serializers import dumps
from gledger_sandbox.api.serializers.reconciliations import reconciliation
from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger.models import AccountKind, AccountSpec, EntrySpec, LineSpec
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.pages import Order, PageRequest
from gledger_sandbox.domain.ledger.postings import create_entry
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.treasury.reconciliation import ExternalRecord
from gledger_sandbox.domain.treasury.reconciliation_runs import Reconciliations, ReconciliationSpec

START = datetime(2026, 1, 1, tzinfo=UTC)
D, C = Direction.DEBIT, Direction.CREDIT


def books(lines: int) -> tuple[Reconciliations, str]:
    store = LedgerStore(IdGenerator(1), SandboxClock(frozen_at=START + timedelta(days=40)))
    ledger = store.create_ledger("Bench", None, {})
    for code, kind in (("bank", AccountKind.ASSET), ("revenue", AccountKind.REVENUE)):
        store.create_account(ledger.id, AccountSpec(code, code, kind, "USD"))
    for n in range(lines):
        amount = 1000 + n % 50  # many equal amounts: the amount-only pass has choices to rank
        create_entry(
            store,
            EntrySpec(
                ledger.id,
                (
                    LineSpec(D, amount, account_code="bank"),
                    LineSpec(C, amount, account_code="revenue"),
                ),
                external_id=f"ref-{n}",
                effective_at=START + timedelta(minutes=4 * n),  # 10,000 lines over ~28 days
            ),
        )
    return Reconciliations(store), ledger.id


def statement(ledger_id: str, records: int, named: bool, dry_run: bool) -> ReconciliationSpec:
    step = 10  # every tenth line has a record
    rows = tuple(
        ExternalRecord(
            f"s{n}",
            1000 + (n * step) % 50,
            D,
            None,
            START + timedelta(minutes=4 * n * step),
            False,
            f"ref-{n * step}" if named else None,
        )
        for n in range(records)
    )
    return ReconciliationSpec(ledger_id, rows, account_code="bank", dry_run=dry_run)


def timed(label: str, rounds: int, records: int, lines: int, named: bool, dry: bool) -> None:
    runs_ms, answers_ms = [], []
    for _ in range(rounds):
        runs, ledger_id = books(lines)
        spec = statement(ledger_id, records, named, dry)
        began = time.perf_counter()
        found, items = runs.run(spec)
        ran = time.perf_counter()
        dumps(reconciliation(found, items if dry else None))
        runs_ms.append((ran - began) * 1000)
        answers_ms.append((time.perf_counter() - ran) * 1000)
    s = found.summary
    print(
        f"{label:<28} run {statistics.median(runs_ms):7.1f} ms  answer "
        f"{statistics.median(answers_ms):6.1f} ms  matched {s.matched_records}/{s.records}, "
        f"lines {s.ledger_lines}"
    )


def pages(lines: int) -> None:
    runs, ledger_id = books(lines)
    found, _ = runs.run(statement(ledger_id, 1000, True, False))
    assert found.id is not None
    for label, order in (("first page (asc)", Order.ASC), ("first page (desc)", Order.DESC)):
        began = time.perf_counter()
        for _ in range(200):
            runs.list_items(found.id, PageRequest(limit=50, order=order))
        print(f"{label:<28} {(time.perf_counter() - began) / 200 * 1e6:7.1f} us per page of 50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    for label, named, dry in (
        ("by reference", True, False),
        ("by amount and date", False, False),
        ("dry run, by reference", True, True),
    ):
        timed(label, args.rounds, args.records, args.lines, named, dry)
    pages(args.lines)


if __name__ == "__main__":
    main()
