"""The P&L over 100k entries: how fast, whether it grows with the entries, and against a scan.

One process builds a sandbox in-process (``bootstrap.sandbox_app``) with two ``empty`` tenants
of the same chart, filled through the domain commands (``postings.create_entry``, no HTTP):
100,000 and 1,000 posted entries spread evenly over the 365 days of 2025 (checkouts, invoices,
refunds, payouts, expenses). It then serves the app with uvicorn on a loopback port, in a
forked child, and times ``GET /v1/ledgers/{id}/reports/pnl`` for the whole year and for June,
on both tenants in turns (one call each, the order swapping every time), through the whole HTTP
stack (uvicorn, connexion routing, security, parameter validation, handler, serializer).

Beside it, in the same run: the domain call alone (``reports.profit_and_loss``), and a naive
reference that scans every posted line of the ledger for the range (what a report costs
without the per-day totals). Both must give the same figures; the bench checks they do.
Cash flow and trial balance are timed too, for information.

    python bench/reports.py                     # 100k vs 1k, 50 timed requests per case
    python bench/reports.py --large 20000 --repeat 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import uvicorn

import harness
from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import sandbox_app, tune_garbage_collector
from gledger_sandbox.domain.ledger import postings, reports
from gledger_sandbox.domain.ledger.day_totals import midnight
from gledger_sandbox.domain.ledger.models import (
    AccountKind,
    AccountSpec,
    EntrySpec,
    LineSpec,
    StatementLine,
)
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.reports import Category, Period
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

D, C = Direction.DEBIT, Direction.CREDIT
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = Period(date(2025, 1, 1), date(2026, 1, 1))
JUNE = Period(date(2025, 6, 1), date(2025, 7, 1))
CHART = {
    "cash": AccountKind.ASSET,
    "bank": AccountKind.ASSET,
    "accounts_receivable": AccountKind.ASSET,
    "revenue": AccountKind.REVENUE,
    "refunds": AccountKind.EXPENSE,
    "platform_fee": AccountKind.EXPENSE,
    "hosting": AccountKind.EXPENSE,
    "tax": AccountKind.LIABILITY,
    "owner_equity": AccountKind.EQUITY,
}
GOAL_MS = 200.0


@dataclass
class Books:
    label: str
    api_key: str
    store: LedgerStore
    ledger_id: str
    entries: int
    load_seconds: float = 0.0


def lines_of(kind: int, rng: random.Random) -> list[tuple[str, Direction, int]]:
    gross = rng.randint(1500, 48000)
    tax, fee = gross * 8 // 108, gross * 29 // 1000 + 30
    if kind < 60:  # card checkout
        return [
            ("cash", D, gross - fee),
            ("platform_fee", D, fee),
            ("revenue", C, gross - tax),
            ("tax", C, tax),
        ]
    if kind < 75:  # invoice issued
        return [("accounts_receivable", D, gross), ("revenue", C, gross - tax), ("tax", C, tax)]
    if kind < 85:  # refund
        return [("refunds", D, gross - tax), ("tax", D, tax), ("cash", C, gross)]
    if kind < 95:  # payout to the bank
        return [("bank", D, gross), ("cash", C, gross)]
    return [("hosting", D, gross), ("cash", C, gross)]  # an expense paid in cash


def build(registry: TenantRegistry, label: str, entries: int, seed: int) -> Books:
    tenant = registry.create("empty", seed, CLOCK, api_key=f"gls_bench_{label}", expires=False)
    store = tenant.store
    ledger = store.create_ledger(f"Bench {label}", None, {})
    ids = {
        code: store.create_account(ledger.id, AccountSpec(code, code, kind, "USD")).id
        for code, kind in CHART.items()
    }
    rng = random.Random(seed)
    start, span = datetime(2025, 1, 1, tzinfo=UTC), timedelta(days=365).total_seconds()
    began = time.perf_counter()
    for i in range(entries):
        effective = start + timedelta(seconds=(i + rng.random()) * span / entries)
        lines = tuple(
            LineSpec(direction, amount, account_id=ids[code])
            for code, direction, amount in lines_of(rng.randrange(100), rng)
        )
        postings.create_entry(store, EntrySpec(ledger.id, lines, effective_at=effective))
    books = Books(label, tenant.api_key, store, ledger.id, entries)
    books.load_seconds = time.perf_counter() - began
    return books


def _bounds(period: Period) -> tuple[datetime, datetime]:
    return midnight(period.start), midnight(period.end)


def _figures(lines: Iterable[tuple[Category, StatementLine]]) -> dict[str, int]:
    """P&L figures from the lines that count, each with its account's category."""
    figures = dict.fromkeys(Category, 0)
    for where, statement_line in lines:
        line = statement_line.line
        grows = (line.direction is C) == (where in reports.CREDIT_CATEGORIES)
        figures[where] += line.amount if grows else -line.amount
    net = figures[Category.REVENUE] - figures[Category.REFUNDS]
    net -= figures[Category.PLATFORM_FEES] + figures[Category.OTHER_EXPENSES]
    return {**{c.value: v for c, v in figures.items()}, "net": net}


def scanned_pnl(store: LedgerStore, ledger_id: str, period: Period) -> dict[str, int]:
    """The naive reference: scan every posted line of the tenant, keep the range's."""
    start, end = _bounds(period)

    def counted() -> Iterator[tuple[Category, StatementLine]]:
        for statement_line in (row for rows in store.statements.values() for row in rows):
            account = store.accounts[statement_line.line.account_id]
            where = reports.category(account)
            mine = account.ledger_id == ledger_id and where is not None
            if mine and start <= statement_line.effective_at < end:
                yield where, statement_line

    return _figures(counted())


def walked_pnl(store: LedgerStore, ledger_id: str, period: Period) -> dict[str, int]:
    """The best a report can do without per-day totals: walk only the range's lines of each
    counted account, through the store's per-account effective-time index."""
    start, end = _bounds(period)

    def counted() -> Iterator[tuple[Category, StatementLine]]:
        for account in store.accounts.values():
            where = reports.category(account)
            if account.ledger_id != ledger_id or where is None:
                continue
            for statement_line in store.effective_between(account.id, start, end):
                yield where, statement_line

    return _figures(counted())


def incremental_pnl(store: LedgerStore, ledger_id: str, period: Period) -> dict[str, int]:
    found = reports.profit_and_loss(store, ledger_id, period, "USD")
    return {**{c.value: v for c, v in found.by_category.items()}, "net": found.net}


def timed(calls: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Milliseconds per call, the calls interleaved (their order swapping every time), so a
    noisy moment of the machine hits every side alike."""
    for call in calls.values():  # warm-up
        call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for _ in range(repeat):
        for name in order:
            began = time.perf_counter()
            calls[name]()
            samples[name].append((time.perf_counter() - began) * 1000)
        order.reverse()
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "n": len(ordered)}


class Served:
    """The app on a loopback port, in a child forked once the tenants are built (it shares them
    copy-on-write), so the timing loop and the server never take turns on one GIL."""

    def __init__(self, app: Any) -> None:
        self.port = harness.free_port()
        self.app = app
        self.process = multiprocessing.get_context("fork").Process(target=self._serve)

    def _serve(self) -> None:
        uvicorn.run(self.app, host=harness.HOST, port=self.port, log_level="warning")

    def __enter__(self) -> str:
        self.process.start()
        url = f"http://{harness.HOST}:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not self.process.is_alive():
                self.__exit__()
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()  # SIGTERM: uvicorn shuts down
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)


def http_cases(books: Books) -> dict[str, tuple[str, dict[str, str]]]:
    base = f"/v1/ledgers/{books.ledger_id}/reports"
    year = {"from": YEAR.start.isoformat(), "to": YEAR.end.isoformat()}
    june = {"from": JUNE.start.isoformat(), "to": JUNE.end.isoformat()}
    return {
        "P&L, full year": (f"{base}/pnl", year),
        "P&L, June": (f"{base}/pnl", june),
        "cash flow, full year (info)": (f"{base}/cash-flow", year),
        "trial balance as of 2025-07-01 (info)": (
            f"{base}/trial-balance",
            {"as_of": "2025-07-01T00:00:00Z"},
        ),
    }


def measure_http(url: str, tenants: list[Books], repeat: int) -> dict[str, Any]:
    clients = {
        books.label: httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {books.api_key}"}, timeout=60
        )
        for books in tenants
    }

    def getter(client: httpx.Client, path: str, params: dict[str, str]) -> Callable[[], None]:
        def call() -> None:
            answer = client.get(path, params=params)
            assert answer.status_code == 200, answer.text

        return call

    results: dict[str, Any] = {}
    try:
        for case in http_cases(tenants[0]):
            calls = {
                books.label: getter(clients[books.label], *http_cases(books)[case])
                for books in tenants
            }
            samples = timed(calls, repeat)
            results[case] = {label: summary(s) for label, s in samples.items()}
    finally:
        for client in clients.values():
            client.close()
    return results


def measure_domain(tenants: list[Books], repeat: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    ways = {"incremental": incremental_pnl, "naive scan": scanned_pnl, "range walk": walked_pnl}
    for name, period in (("full year", YEAR), ("June", JUNE)):
        for books in tenants:
            fast = incremental_pnl(books.store, books.ledger_id, period)
            for reference in (scanned_pnl, walked_pnl):
                slow = reference(books.store, books.ledger_id, period)
                if fast != slow:
                    raise SystemExit(f"{books.label} {name}: report {fast} != {reference} {slow}")
            found[f"{books.label} {name}"] = {"figures": fast}
        for kind, way in ways.items():
            calls = {
                books.label: (lambda f=way, b=books, p=period: f(b.store, b.ledger_id, p))
                for books in tenants
            }
            times = repeat if kind == "incremental" else max(5, repeat // 10)
            for label, samples in timed(calls, times).items():
                found[f"{label} {name}"][kind] = summary(samples)
    return found


def report(tenants: list[Books], http: dict[str, Any], domain: dict[str, Any]) -> str:
    large, small = tenants[0].label, tenants[1].label
    lines = [
        "reports: "
        + ", ".join(
            f"{t.label} tenant {t.entries:,} entries, {t.store.posted_lines:,} lines, "
            f"{sum(len(t.store.day_totals(a)) for a in t.store.accounts):,} account-days "
            f"(loaded in {t.load_seconds:.1f} s)"
            for t in tenants
        ),
        "",
        f"| over HTTP (uvicorn, loopback) | median ms {large} | p95 ms {large} | median ms {small} "
        f"| p95 ms {small} | ratio {large}/{small} | goal < {GOAL_MS:g} ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, by in http.items():
        big, little = by[large], by[small]
        ratio = big["median_ms"] / little["median_ms"]
        verdict = "info" if "info" in case else ("ok" if big["p95_ms"] < GOAL_MS else "OVER")
        lines.append(
            f"| {case} | {big['median_ms']:.2f} | {big['p95_ms']:.2f} | {little['median_ms']:.2f} "
            f"| {little['p95_ms']:.2f} | **{ratio:.2f}** | {verdict} |"
        )
    lines += [
        "",
        "| domain call only | incremental median ms | p95 ms | naive scan median ms | p95 ms "
        "| speed-up | range walk median ms | speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, timing in domain.items():
        fast, scan, walk = timing["incremental"], timing["naive scan"], timing["range walk"]
        lines.append(
            f"| {case} | {fast['median_ms']:.3f} | {fast['p95_ms']:.3f} | "
            f"{scan['median_ms']:.1f} | {scan['p95_ms']:.1f} | "
            f"**{scan['median_ms'] / fast['median_ms']:,.0f}x** | {walk['median_ms']:.1f} | "
            f"**{walk['median_ms'] / fast['median_ms']:,.0f}x** |"
        )
    lines.append("")
    lines.append("the report, the scan and the walk agree on every figure (checked before timing)")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=100_000, help="entries of the large tenant")
    parser.add_argument("--small", type=int, default=1_000, help="entries of the small tenant")
    parser.add_argument(
        "--repeat", type=int, default=200, help="timed calls per case and size (scans: a tenth)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    app, services = sandbox_app(Settings(default_tenant=False))
    tenants = []
    for seed, entries in enumerate((args.large, args.small), start=1):
        label = f"{entries // 1000}k" if entries % 1000 == 0 else str(entries)
        print(f"building the {label} tenant ({entries:,} entries) ...", flush=True)
        tenants.append(build(services.registry, label, entries, seed))
    tune_garbage_collector()  # as `gledger-sandbox serve` does
    with Served(app) as url:
        http = measure_http(url, tenants, args.repeat)
    domain = measure_domain(tenants, args.repeat)
    text = report(tenants, http, domain)
    print("\n" + text)
    harness.RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (harness.RESULTS / f"reports-{stamp}.md").write_text(text + "\n")
    (harness.RESULTS / f"reports-{stamp}.json").write_text(
        json.dumps({"http": http, "domain": domain}, indent=2, default=str) + "\n"
    )


if __name__ == "__main__":
    main()
