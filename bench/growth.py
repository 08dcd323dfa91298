"""Does an operation's cost grow with the data? The same requests on a 1k and a 100k-entry tenant.

One sandbox server holds two fresh tenants, each with one ledger and the same accounts, loaded
through ``POST /v1/entries/batch`` (100 entries a request) with 1,000 and 100,000 entries of the
same shape: most post cash/revenue/tax; in either tenant exactly 20 entries, spread evenly over
its history, use the ``rare`` account, and 20 others are pending, so a filtered page holds the
same 20 entries at both sizes and only the amount of data around them differs.

Each operation is then measured on both tenants in turns (wrk, one connection, so the latency is
the service time), the order swapping every round; the report gives the median p50 per operation
and size, and the ratio 100k/1k (goal: <= 1.2 for the main operations).

The server runs through gc_serve.py, which records the garbage collector's full collections:
they pause the whole process, whatever tenant a request is for, and their cost grows with the
number of live objects.

    python bench/growth.py                    # 1k vs 100k, 3 rounds x 3 s per operation and size
    python bench/growth.py --large 20000 --rounds 5
    python bench/growth.py --only balance     # only the operations whose name holds "balance"
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import Api, Server, WrkResult

ACCOUNTS = {  # code: kind
    "cash": "asset",
    "revenue": "revenue",
    "tax": "liability",
    "rare": "asset",
}


@dataclass
class Tenant:
    label: str
    api_key: str
    ledger_id: str
    accounts: dict[str, str]
    load_seconds: float = 0.0
    batch_ms_first: float = 0.0
    batch_ms_last: float = 0.0


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: Callable[[Tenant], str]
    goal: bool = True
    """False: informational, its growth is expected (documented)."""
    body: Callable[[Tenant], str] | None = None


def post_body(t: Tenant) -> str:
    return json.dumps(
        {
            "ledger_id": t.ledger_id,
            "lines": [
                {"account_id": t.accounts["cash"], "direction": "debit", "amount": 100},
                {"account_id": t.accounts["revenue"], "direction": "credit", "amount": 100},
            ],
        }
    )


OPERATIONS = [
    Operation("POST entry", "POST", lambda t: "/v1/entries", body=post_body),
    Operation("GET balance", "GET", lambda t: f"/v1/accounts/{t.accounts['cash']}/balance"),
    Operation(
        "GET page (ledger_id, limit 50)",
        "GET",
        lambda t: f"/v1/entries?ledger_id={t.ledger_id}&limit=50",
    ),
    Operation(
        "GET page, filter account_id=rare",
        "GET",
        lambda t: f"/v1/entries?account_id={t.accounts['rare']}&limit=50",
    ),
    Operation(
        "GET page, filter status=pending", "GET", lambda t: "/v1/entries?status=pending&limit=50"
    ),
    Operation(
        "GET page, ledger_id + status=pending",
        "GET",
        lambda t: f"/v1/entries?ledger_id={t.ledger_id}&status=pending&limit=50",
    ),
    Operation(
        "GET statement page of cash (info)",
        "GET",
        lambda t: f"/v1/accounts/{t.accounts['cash']}/lines?limit=50",
        goal=False,
    ),
    Operation(
        "GET balance as_of before all entries (info)",
        "GET",
        lambda t: f"/v1/accounts/{t.accounts['cash']}/balance?as_of=2000-01-01T00:00:00Z",
        goal=False,
    ),
]


# -- loading -------------------------------------------------------------------------------


RARE_ENTRIES = 20
"""Entries on the rare account, and pending entries, in a tenant of any size."""


def entry_item(t: Tenant, i: int, every: int) -> dict[str, Any]:
    """Entry number ``i`` of a tenant: the same shape at every size; one in ``every`` is special."""
    amount, tax = 1000 + i % 500, 80 + i % 40
    acct = t.accounts
    if i % every == every - 1:
        lines = [
            {"account_id": acct["rare"], "direction": "debit", "amount": amount},
            {"account_id": acct["revenue"], "direction": "credit", "amount": amount},
        ]
    else:
        lines = [
            {"account_id": acct["cash"], "direction": "debit", "amount": amount + tax},
            {"account_id": acct["revenue"], "direction": "credit", "amount": amount},
            {"account_id": acct["tax"], "direction": "credit", "amount": tax},
        ]
    item: dict[str, Any] = {"ledger_id": t.ledger_id, "lines": lines, "source_type": "invoice"}
    if i % every == every // 2:
        item["status"] = "pending"
    return item


def new_tenant(server: Server, label: str) -> Tenant:
    admin = Api(server.url)
    api_key = admin.new_tenant("empty")
    admin.close()
    api = Api(server.url, api_key)
    ledger = api.call("POST", "/v1/ledgers", json={"name": f"bench {label}"})["id"]
    accounts = {
        code: api.call(
            "POST",
            f"/v1/ledgers/{ledger}/accounts",
            json={"code": code, "name": code, "kind": kind, "currency": "USD"},
        )["id"]
        for code, kind in ACCOUNTS.items()
    }
    api.close()
    return Tenant(label, api_key, ledger, accounts)


ItemMaker = Callable[[Tenant, int, int], dict[str, Any]]


def load(
    server: Server,
    t: Tenant,
    entries: int,
    per_batch: int = 100,
    item: ItemMaker = entry_item,
    after_batch: Callable[[int], None] | None = None,
) -> None:
    """``entries`` entries through the batch endpoint; times the first and last tenth of batches.

    ``item(t, i, every)`` makes entry ``i``; ``after_batch`` is told how many are loaded so far.
    """
    api = Api(server.url, t.api_key)
    batch_ms: list[float] = []
    every = max(2, entries // RARE_ENTRIES)
    started = time.monotonic()
    for first in range(0, entries, per_batch):
        items = [item(t, i, every) for i in range(first, min(first + per_batch, entries))]
        sent = time.perf_counter()
        api.call("POST", "/v1/entries/batch", json={"entries": items})
        batch_ms.append((time.perf_counter() - sent) * 1000)
        if after_batch is not None:
            after_batch(first + len(items))
    api.close()
    tenth = max(1, len(batch_ms) // 10)
    t.load_seconds = time.monotonic() - started
    t.batch_ms_first = harness.median(batch_ms[:tenth])
    t.batch_ms_last = harness.median(batch_ms[-tenth:])


def entry_count(server: Server, t: Tenant) -> int:
    api = Api(server.url, t.api_key)
    count = int(api.call("GET", "/v1/sandbox/tenant")["counts"]["entries"])
    api.close()
    return count


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Sample:
    round: int
    operation: str
    tenant: str
    result: WrkResult


def measure_one(server: Server, op: Operation, t: Tenant, seconds: float, cap: int) -> WrkResult:
    body = op.body(t) if op.body else "-"
    max_requests = cap if op.method == "POST" else 0
    args = [t.api_key, op.method, op.path(t), body, harness.nonce(), str(max_requests)]
    result = harness.run_wrk(server.url, "single.lua", args, seconds=seconds, connections=1)
    if result.non2xx or result.socket_errors:
        print(
            f"  !! {op.name} on {t.label}: non-2xx {result.non2xx_by_status}, "
            f"socket errors {result.socket_errors}",
            flush=True,
        )
    return result


def measure(
    server: Server,
    tenants: list[Tenant],
    args: argparse.Namespace,
    operations: list[Operation] | None = None,
) -> list[Sample]:
    """Each operation (``--only``'s by default) on each tenant in turns, the order swapping."""
    samples: list[Sample] = []
    for round_no in range(0, args.rounds + 1):  # round 0 warms up and is not kept
        seconds = 1.0 if round_no == 0 else args.seconds
        cap = 20 if round_no == 0 else args.post_requests
        for op in chosen(args) if operations is None else operations:
            for t in tenants if round_no % 2 else list(reversed(tenants)):
                result = measure_one(server, op, t, seconds, cap)
                if round_no > 0:
                    samples.append(Sample(round_no, op.name, t.label, result))
                    print(
                        f"  round {round_no} {op.name:<46} {t.label:>5}: "
                        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                        f"n={result.requests}",
                        flush=True,
                    )
    return samples


# -- reporting -----------------------------------------------------------------------------


@dataclass
class GcPauses:
    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    pauses: list[float] = field(default_factory=list)


def gc_pauses(log: Path, start: float, end: float) -> GcPauses:
    found = GcPauses()
    if not log.exists():
        return found
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if start <= record["at"] <= end:
            found.pauses.append(record["pause_ms"])
    found.count, found.total_ms = len(found.pauses), sum(found.pauses)
    found.max_ms = max(found.pauses, default=0.0)
    return found


def op_row(op: Operation, samples: list[Sample], small: str, large: str) -> str:
    def med(label: str, attr: str) -> float:
        return harness.median(
            [
                getattr(s.result, attr)
                for s in samples
                if s.operation == op.name and s.tenant == label
            ]
        )

    p50s, p50l = med(small, "p50_ms"), med(large, "p50_ms")
    ratio = p50l / p50s if p50s else float("nan")
    verdict = ("ok" if ratio <= 1.2 else "OVER") if op.goal else "info"
    return (
        f"| {op.name} | {p50s:.2f} | {p50l:.2f} | **{ratio:.2f}** | {verdict} | "
        f"{med(small, 'p99_ms'):.2f} | {med(large, 'p99_ms'):.2f} |"
    )


def report(tenants: list[Tenant], samples: list[Sample], context: dict[str, Any]) -> str:
    small, large = tenants[0].label, tenants[1].label
    load_gc, measure_gc = context["gc_load"], context["gc_measure"]
    names = {sample.operation for sample in samples}
    lines = [
        f"growth: {context['rounds']} rounds x {context['seconds']:g} s per operation and size "
        f"(POST: {context['post_requests']} requests), wrk -t1 -c1; medians over rounds",
        "",
        f"| operation | p50 ms {small} | p50 ms {large} | ratio {large}/{small} | goal <= 1.2 "
        f"| p99 ms {small} | p99 ms {large} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(op_row(op, samples, small, large) for op in OPERATIONS if op.name in names),
        "",
        "entries per tenant, before -> after the measurements: "
        + ", ".join(
            f"{t.label}: {context['counts_before'][t.label]} -> {context['counts_after'][t.label]}"
            for t in tenants
        ),
        "loading (batch of 100, sequential): "
        + "; ".join(
            f"{t.label}: {t.load_seconds:.1f} s, batch p50 first tenth "
            f"{t.batch_ms_first:.1f} ms, last tenth {t.batch_ms_last:.1f} ms"
            for t in tenants
        ),
        f"server RSS after loading: {context['rss_mib']:.0f} MiB",
        f"full GC collections (gen 2) while loading: {load_gc.count}, total "
        f"{load_gc.total_ms:.0f} ms, longest {load_gc.max_ms:.0f} ms; while measuring: "
        f"{measure_gc.count}, longest {measure_gc.max_ms:.0f} ms",
    ]
    return "\n".join(lines)


def arguments(description: str, large: int) -> argparse.ArgumentParser:
    """The options growth.py and million.py share (sizes, rounds, run lengths)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", type=int, default=1_000, help="entries of the small tenant")
    parser.add_argument("--large", type=int, default=large, help="entries of the large tenant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per operation, size, round")
    parser.add_argument(
        "--post-requests",
        type=int,
        default=200,
        help="POSTs per run (bounds how much the small tenant grows)",
    )
    parser.add_argument(
        "--only", default="", help="measure only the operations whose name contains this"
    )
    return parser


def parse_args() -> argparse.Namespace:
    return arguments(__doc__.splitlines()[0], 100_000).parse_args()


def chosen(args: argparse.Namespace) -> list[Operation]:
    return [op for op in OPERATIONS if args.only.lower() in op.name.lower()]


def label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> None:
    args = parse_args()
    harness.ensure_wrk()
    harness.RESULTS.mkdir(exist_ok=True)
    gc_log = harness.RESULTS / "growth-gc.jsonl"
    gc_log.unlink(missing_ok=True)
    with harness.sandbox("sandbox-growth", gc_log=gc_log) as server:
        tenants = [new_tenant(server, label(args.small)), new_tenant(server, label(args.large))]
        load_start = time.time()
        for t, n in zip(tenants, (args.small, args.large), strict=True):
            print(f"loading {n} entries into the {t.label} tenant ...", flush=True)
            load(server, t, n)
        load_end = time.time()
        counts_before = {t.label: entry_count(server, t) for t in tenants}
        rss = harness.process_rss_mib(server.pid)
        samples = measure(server, tenants, args)
        counts_after = {t.label: entry_count(server, t) for t in tenants}
        measure_end = time.time()
    context = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "post_requests": args.post_requests,
        "counts_before": counts_before,
        "counts_after": counts_after,
        "rss_mib": rss,
        "gc_load": gc_pauses(gc_log, load_start, load_end),
        "gc_measure": gc_pauses(gc_log, load_end, measure_end),
    }
    text = report(tenants, samples, context)
    print("\n" + text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (harness.RESULTS / f"growth-{stamp}.md").write_text(text + "\n")
    (harness.RESULTS / f"growth-{stamp}.json").write_text(
        json.dumps(
            {"samples": [asdict(s) for s in samples], "tenants": [asdict(t) for t in tenants]},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
