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
    api = harness.Api(server.url, t.api_key)
    every = max(2, entries // growth.RARE_ENTRIES)
    per_batch, step = 100, 100_000
    batch_ms: list[float] = []
    started = time.monotonic()
    for first in range(0, entries, per_batch):
        items = [entry_item(t, i, every) for i in range(first, min(first + per_batch, entries))]
        sent = time.perf_counter()
        api.call("POST", "/v1/entries/batch", json={"entries": items})
        batch_ms.append((time.perf_counter() - sent) * 1000)
        done = first + len(items)
        if done % step == 0 or done == entries:
            rss.append((done, harness.process_rss_mib(server.pid)))
            print(
                f"  {t.label}: {done:>9,} entries, {time.monotonic() - started:6.0f} s, "
                f"server RSS {rss[-1][1]:7.0f} MiB",
                flush=True,
            )
    api.close()
    tenth = max(1, len(batch_ms) // 10)
    t.load_seconds = time.monotonic() - started
    t.batch_ms_first = harness.median(batch_ms[:tenth])
    t.batch_ms_last = harness.median(batch_ms[-tenth:])


def measure(
    server: harness.Server, tenants: list[Tenant], args: argparse.Namespace
) -> list[Sample]:
    ops = [op for op in OPERATIONS if op.name in MEASURED]
    samples: list[Sample] = []
    for round_no in range(0, args.rounds + 1):  # round 0 warms up and is not kept
        seconds = 1.0 if round_no == 0 else args.seconds
        cap = 20 if round_no == 0 else args.post_requests
        for op in ops:
            for t in tenants if round_no % 2 else list(reversed(tenants)):
                result = growth.measure_one(server, op, t, seconds, cap)
                if round_no > 0:
                    samples.append(Sample(round_no, op.name, t.label, result))
                    print(
                        f"  round {round_no} {op.name:<32} {t.label:>5}: "
                        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms",
                        flush=True,
                    )
    return samples


def report(
    tenants: list[Tenant], samples: list[Sample], context: dict[str, Any], args: argparse.Namespace
) -> str:
    small, large = tenants[0].label, tenants[1].label
    base, rss = context["rss_empty"], context["rss_large"]
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
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="entries of the small tenant")
    parser.add_argument("--large", type=int, default=1_000_000, help="entries of the large one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per operation, size, round")
    parser.add_argument("--post-requests", type=int, default=200, help="POSTs per wrk run")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    harness.ensure_wrk()
    harness.RESULTS.mkdir(exist_ok=True)
    gc_log = harness.RESULTS / "million-gc.jsonl"
    gc_log.unlink(missing_ok=True)
    with harness.sandbox("sandbox-million", gc_log=gc_log) as server:
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
        samples = measure(server, tenants, args)
        context["rss_after"] = harness.process_rss_mib(server.pid)
    text = report(tenants, samples, context, args)
    print("\n" + text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (harness.RESULTS / f"million-{stamp}.md").write_text(text + "\n")
    (harness.RESULTS / f"million-{stamp}.json").write_text(
        json.dumps({"context": context, "samples": [s.result.__dict__ for s in samples]}) + "\n"
    )


if __name__ == "__main__":
    main()
