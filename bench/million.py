"""A million posted entries in one tenant: the server's memory, and what the requests cost then.

One sandbox server (through gc_serve.py, as in growth.py) holds two fresh tenants with one
ledger and the accounts of growth.py. Both are loaded over HTTP, through
``POST /v1/entries/batch`` (100 entries a request, the spec's maximum): the small one with 1,000
entries, the large one with 1,000,000 (2,000,000 lines). Every entry is *posted* and has two
lines (cash debit, revenue credit), except that, as in growth.py, 20 of them spread over the
history use the ``rare`` account, so both tenants have the same shape at any size.

Reported, from one run:

- the server's resident set (``VmRSS``) before loading, after the small tenant and every
  100,000 entries of the large one, and the bytes per entry it works out to (goal: the whole
  server under 1.5 GiB with the million entries);
- the p50 of ``POST /v1/entries``, ``GET /v1/accounts/{cash}/balance`` and
  ``GET /v1/entries?ledger_id=...&limit=50`` on both tenants, measured in turns (wrk, one
  connection; the order swaps every round), and the ratio large/small (goal: within 1.2x).

    python bench/million.py                       # 1k vs 1M, 3 rounds x 3 s (about 25 min)
    python bench/million.py --large 200000        # a quicker look at the same curve
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

import growth
import harness
from growth import OPERATIONS, Sample, Tenant

MEASURED = ("POST entry", "GET balance", "GET page (ledger_id, limit 50)")
RSS_GOAL_MIB = 1536


def entry_item(t: Tenant, i: int, every: int) -> dict[str, Any]:
    """Entry ``i``: two lines, posted; one in ``every`` on the rare account."""
    account = t.accounts["rare"] if i % every == every - 1 else t.accounts["cash"]
    amount = 1000 + i % 500
    return {
        "ledger_id": t.ledger_id,
        "status": "posted",
        "source_type": "invoice",
        "lines": [
            {"account_id": account, "direction": "debit", "amount": amount},
            {"account_id": t.accounts["revenue"], "direction": "credit", "amount": amount},
        ],
    }


def load(server: harness.Server, t: Tenant, entries: int, rss: list[tuple[int, float]]) -> None:
    """``entries`` entries in batches of 100; notes the server's RSS every 100,000."""
    started = time.monotonic()

    def note(done: int) -> None:
        if done % 100_000 == 0 or done == entries:
            rss.append((done, harness.process_rss_mib(server.pid)))
            print(
                f"  {t.label}: {done:>9,} entries, {time.monotonic() - started:6.0f} s, "
                f"server RSS {rss[-1][1]:7.0f} MiB",
                flush=True,
            )

    growth.load(server, t, entries, item=entry_item, after_batch=note)


def report(
    tenants: list[Tenant], samples: list[Sample], context: dict[str, Any], args: argparse.Namespace
) -> str:
    small, large = tenants[0].label, tenants[1].label
    base, rss = context["rss_empty"], context["rss_large"]
    load_gc, measure_gc = context["gc_load"], context["gc_measure"]
    final = rss[-1][1]
    per_entry = (final - context["rss_small"]) * 2**20 / max(1, rss[-1][0])
    lines = [
        f"million: {args.rounds} rounds x {args.seconds:g} s per operation and size "
        f"(POST: {args.post_requests} requests), wrk -t1 -c1; medians over rounds",
        "",
        f"| operation | p50 ms {small} | p50 ms {large} | ratio {large}/{small} | goal <= 1.2 "
        f"| p99 ms {small} | p99 ms {large} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(growth.op_row(op, samples, small, large) for op in OPERATIONS if op.name in MEASURED),
        "",
        f"server RSS: {base:.0f} MiB empty, {context['rss_small']:.0f} MiB with the {small} "
        f"tenant, {final:.0f} MiB with the {large} tenant too "
        f"({'ok' if final <= RSS_GOAL_MIB else 'OVER'}: goal {RSS_GOAL_MIB} MiB); "
        f"{per_entry:.0f} bytes per entry (2 lines) as loaded; "
        f"{context['rss_after']:.0f} MiB after the measurements",
        "RSS while loading the large tenant: "
        + ", ".join(f"{n // 1000}k {mib:.0f}" for n, mib in rss),
        "loading (batch of 100, sequential, HTTP): "
        + "; ".join(
            f"{t.label}: {t.load_seconds:.0f} s, batch p50 first tenth "
            f"{t.batch_ms_first:.1f} ms, last tenth {t.batch_ms_last:.1f} ms"
            for t in tenants
        ),
        f"full GC collections (gen 2) while loading: {load_gc.count}, total "
        f"{load_gc.total_ms:.0f} ms, longest {load_gc.max_ms:.0f} ms; while measuring: "
        f"{measure_gc.count}, longest {measure_gc.max_ms:.0f} ms",
        f"server options: {' '.join(args.serve_arg) or '(defaults)'}",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = growth.arguments(__doc__.splitlines()[0], 1_000_000)
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an option for the server (repeat it: --serve-arg=--event-retention-count "
        "--serve-arg=100000)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    harness.ensure_wrk()
    harness.RESULTS.mkdir(exist_ok=True)
    gc_log = harness.RESULTS / "million-gc.jsonl"
    gc_log.unlink(missing_ok=True)
    with harness.sandbox("sandbox-million", gc_log=gc_log, extra=args.serve_arg) as server:
        tenants = [
            growth.new_tenant(server, growth.label(args.small)),
            growth.new_tenant(server, growth.label(args.large)),
        ]
        context: dict[str, Any] = {"rss_empty": harness.process_rss_mib(server.pid)}
        small_rss: list[tuple[int, float]] = []
        load(server, tenants[0], args.small, small_rss)
        context["rss_small"] = harness.process_rss_mib(server.pid)
        context["rss_large"] = []
        load(server, tenants[1], args.large, context["rss_large"])
        measured_from = time.time()
        context["gc_load"] = growth.gc_pauses(gc_log, 0.0, measured_from)
        operations = [op for op in OPERATIONS if op.name in MEASURED]
        samples = growth.measure(server, tenants, args, operations)
        context["gc_measure"] = growth.gc_pauses(gc_log, measured_from, time.time())
        context["rss_after"] = harness.process_rss_mib(server.pid)
    text = report(tenants, samples, context, args)
    print("\n" + text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (harness.RESULTS / f"million-{stamp}.md").write_text(text + "\n")
    (harness.RESULTS / f"million-{stamp}.json").write_text(
        json.dumps({"samples": [asdict(s) for s in samples], "context": context}, default=str)
        + "\n"
    )


if __name__ == "__main__":
    main()
