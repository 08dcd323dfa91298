"""Where does the p99 at 32 connections come from? The mix, each kind alone, a bare control.

Runs servers through ``p99_serve.py`` (which records every request's way through the event
loop and every garbage collection) and drives each with wrk (``lua/mixed.lua``) for
``--seconds`` at ``--connections``, after a warm-up. Per run it reports wrk's p50/p99 beside
the server's own view:

- ``cycle``: the time between two answers on one connection. wrk sends the next request as soon
  as it has read an answer, so a cycle is wrk's latency plus wrk's own turn-around; with wrk's
  correction for requests a slow answer held back (``wrk_corrected``) their p99 is wrk's p99,
  and the same p99 is given without the collector's pauses, and with cycles that spanned more
  loop turns than usual counted as usual; a connection's first request counts from its accept;
- ``in server``: from the ``data_received`` that brought the head to the answer's write;
- batches (the task steps the loop runs after one poll): their size and length; how many
  batches a request's cycle spanned (a request that waits two batches, not one, shows here);
- the slowest 1% of cycles: how much of them a collection covered, the batches they spanned.

Scenarios: ``mixed`` (the benchmark's mix), ``post``/``balance``/``page`` (one kind alone) on a
fresh ``merchant`` tenant each, and ``control``: ``p99_serve.py --control`` (uvicorn, httptools,
uvloop and a bare app spinning each kind's median service time measured in ``mixed``, the
page's body size), so the loop and the machine are measured with none of our code;
``control-sandbox-protocol``: the same app through the sandbox's protocol (``control-unordered``:
without its start order). ``mixed-unordered``: the mix on a fresh server with and without the
start order, in turn (``--repeat N`` pairs; the controls N times each too). Plus the
CPU time other processes took on the machine and the server's run-queue delay
(``/proc/<pid>/schedstat``) during each run.

    python bench/p99_probe.py [--seconds 10] [--connections 32] [--only mixed,control]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from mixed import cpu_seconds

SCENARIOS = {"mixed": None, "post": "post", "balance": "balance", "page": "list"}
CONTROLS = {
    "control": "uvicorn",
    "control-sandbox-protocol": "sandbox",
    "control-unordered": "sandbox-unordered",
}
"""The bare app through uvicorn's own httptools protocol, the sandbox's, the sandbox's with
each request started as it is read (no ``api/start_order``)."""
PROBED = [str(harness.BENCH / "p99_serve.py")]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def busy_jiffies() -> tuple[int, int]:
    """All CPUs' busy and total clock ticks so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run_delay_ms(pid: int) -> float:
    """Time a process's threads waited on a run queue so far (/proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e6


def wrk_corrected(values: list[float], expected: float) -> list[float]:
    """``values`` with wrk 4's correction (``stats_correct``): each value of at least twice the
    expected interval (the run's time over the requests per connection) adds the values
    ``v - e``, ``v - 2e``, ... while above ``e``, the requests a pause held back unsent."""
    added = []
    for value in values:
        late = value - expected
        while late > expected:
            added.append(late)
            late -= expected
    return values + added


def take(server: harness.Server, log: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records since the last take (the server appends them on SIGUSR1)."""
    log.write_text("")
    os.kill(server.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while '"end"' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line]
    return [r for r in rows if "done" in r], [r for r in rows if "gc" in r]


def analyse(
    requests: list[dict[str, Any]], gcs: list[dict[str, Any]], wrk: harness.WrkResult
) -> dict[str, Any]:
    by_conn: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(requests, key=lambda r: r["recv"]):
        by_conn[r["conn"]].append(r)
    cycles: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
    for rows in by_conn.values():
        cycles += [(b["done"] - a["done"], a, b) for a, b in pairwise(rows)]
    batches: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        batches[r["sb"]].append(r)
    lengths = [max(r["done"] for r in b) - min(r["start"] for r in b) for b in batches.values()]
    spans = [b["db"] - a["db"] for _, a, b in cycles]
    usual = max(set(spans), key=spans.count) if spans else 1
    """Batches a cycle usually spans: 1, or 2 when requests start a turn after they are read."""
    slowest = sorted(cycles, key=lambda c: c[0])[-max(1, len(cycles) // 100) :]

    def gc_within(t0: float, t1: float, generations: tuple[int, ...] = (0, 1, 2)) -> float:
        """Seconds of collections (of ``generations``) between ``t0`` and ``t1``."""
        return sum(
            max(0.0, float(min(t1, g["ended"]) - max(t0, g["began"])))
            for g in gcs
            if g["gc"] in generations
        )

    service: dict[str, list[float]] = defaultdict(list)
    for r in requests:
        service[r["kind"]].append((r["done"] - r["start"]) * 1000)
    ms = [c[0] * 1000 for c in cycles]
    firsts = [(r["done"] - r["made"]) * 1000 for r in requests if "made" in r]
    expected = wrk.seconds * 1000 / max(1, len(requests) / max(1, len(by_conn)))

    def without(generations: tuple[int, ...]) -> list[float]:
        return [(c - gc_within(a["done"], b["done"], generations)) * 1000 for c, a, b in cycles]

    corrected = {
        "p99": pct(wrk_corrected(ms, expected), 0.99),
        "p99_with_first_requests": pct(wrk_corrected(ms + firsts, expected), 0.99),
        "p99_less_gc1_2": pct(wrk_corrected(without((1, 2)), expected), 0.99),
        "p99_less_all_gc": pct(wrk_corrected(without((0, 1, 2)), expected), 0.99),
        "p99_long_spans_as_usual": pct(
            wrk_corrected(
                [c * min(1, usual / (b["db"] - a["db"])) * 1000 for c, a, b in cycles], expected
            ),
            0.99,
        ),
    }
    return {
        "cycle_wrk_corrected": corrected,
        "wrk": {"rps": round(wrk.rps), "p50": wrk.p50_ms, "p99": wrk.p99_ms, "max": wrk.max_ms},
        "cycle": {"p50": pct(ms, 0.5), "p99": pct(ms, 0.99), "max": max(ms, default=0)},
        "first_requests_since_accept": {
            "n": len(firsts),
            "p50": pct(firsts, 0.5),
            "max": max(firsts, default=0),
        },
        "in_server": {
            "p50": pct([(r["done"] - r["recv"]) * 1000 for r in requests], 0.5),
            "p99": pct([(r["done"] - r["recv"]) * 1000 for r in requests], 0.99),
        },
        "service_ms": {
            k: {"n": len(v), "p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": max(v)}
            for k, v in service.items()
        },
        "batch": {
            "n": len(batches),
            "size_p50": pct([len(b) for b in batches.values()], 0.5),
            "size_p99": pct([len(b) for b in batches.values()], 0.99),
            "ms_p50": pct([x * 1000 for x in lengths], 0.5),
            "ms_p99": pct([x * 1000 for x in lengths], 0.99),
        },
        "batches_per_cycle": {str(k): spans.count(k) for k in sorted(set(spans))},
        "slowest_1pct": {
            "n": len(slowest),
            "cycle_ms_min": slowest[0][0] * 1000 if slowest else 0,
            "gc_ms_mean": sum(gc_within(a["done"], b["done"]) for _, a, b in slowest)
            * 1000
            / max(1, len(slowest)),
            "with_gc": sum(1 for _, a, b in slowest if gc_within(a["done"], b["done"]) > 0),
            "batches": {
                str(k): sum(1 for _, a, b in slowest if b["db"] - a["db"] == k)
                for k in sorted({b["db"] - a["db"] for _, a, b in slowest})
            },
            "held_bytes": sum(1 for _, _, b in slowest if b["held"]),
        },
        "gc": {
            str(g): {
                "n": sum(1 for x in gcs if x["gc"] == g),
                "ms_max": max((x["ended"] - x["began"]) * 1000 for x in gcs if x["gc"] == g),
            }
            for g in sorted({x["gc"] for x in gcs})
        },
        "held_after_write": sum(1 for r in requests if r["held"]),
    }


def measure(
    name: str, server: harness.Server, log: Path, wrk_args: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    if args.warmup > 0:  # 0: measured from the tenant's first request on, as mixed.py does
        harness.run_wrk(server.url, "mixed.lua", wrk_args, seconds=args.warmup, connections=32)
    take(server, log)
    busy0, total0 = busy_jiffies()
    delay0 = run_delay_ms(server.pid)
    cpu0 = cpu_seconds(server.pid)
    wrk = harness.run_wrk(
        server.url, "mixed.lua", wrk_args, seconds=args.seconds, connections=args.connections
    )
    busy1, total1 = busy_jiffies()
    requests, gcs = take(server, log)
    if args.raw:
        with (harness.RESULTS / f"p99-{name}.jsonl").open("w") as out:
            out.writelines(json.dumps(row) + "\n" for row in [*requests, *gcs])
    found = analyse(requests, gcs, wrk)
    server_cpu = cpu_seconds(server.pid) - cpu0
    found["machine"] = {
        "cpus_busy": round((busy1 - busy0) / max(1, total1 - total0) * os.cpu_count(), 2),  # type: ignore[operator]
        "server_cpu_s": round(server_cpu, 2),
        "cpu_ms_per_request": round(server_cpu * 1000 / max(1, len(requests)), 4),
        "server_run_delay_ms": round(run_delay_ms(server.pid) - delay0, 1),
    }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default=",".join([*SCENARIOS, *CONTROLS]))
    parser.add_argument("--gc-threshold", help='the sandbox\'s collector thresholds ("10000,3,10")')
    parser.add_argument("--repeat", type=int, default=1, help="runs of the controls, in turn")
    parser.add_argument("--raw", action="store_true", help="keep results/p99-<run>.jsonl")
    parser.add_argument("--spin", help="the control's ms per kind (default: mixed's medians)")
    args = parser.parse_args()
    wanted = args.only.split(",")
    harness.ensure_wrk()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "p99.jsonl"
        env = {"BENCH_P99_LOG": str(log)}
        if args.gc_threshold:
            env["BENCH_P99_GC_THRESHOLD"] = args.gc_threshold
        port = harness.free_port()
        argv = harness.sandbox_argv(port, PROBED)
        with harness.running("p99-sandbox", argv, port, "/healthz", env) as server:
            for name, kinds in SCENARIOS.items():
                if name not in wanted:
                    continue
                api_key, api = harness.fresh_tenant(server.url)
                wrk_args = api.mixed_args(api_key) + ([kinds] if kinds else [])
                results[name] = measure(name, server, log, wrk_args, args)
                api.client.delete("/v1/sandbox/tenant").raise_for_status()
                api.close()
                print(name, json.dumps(results[name]), flush=True)
        for turn in range(args.repeat if "mixed-unordered" in wanted else 0):
            for variant, unordered in (("ordered", ""), ("unordered", "1")):
                key = f"mixed-{variant}-{turn + 1}"
                port = harness.free_port()
                argv = harness.sandbox_argv(port, PROBED)
                variant_env = {**env, "BENCH_P99_UNORDERED": unordered}
                with harness.running(f"p99-{key}", argv, port, "/healthz", variant_env) as server:
                    api_key, api = harness.fresh_tenant(server.url)
                    results[key] = measure(key, server, log, api.mixed_args(api_key), args)
                    api.close()
                print(key, json.dumps(results[key]), flush=True)
        for turn, (name, protocol) in enumerate([*CONTROLS.items()] * args.repeat):
            if name not in wanted:
                continue
            spin = args.spin or ",".join(
                f"{k}={v['p50']:.3f}" for k, v in results["mixed"]["service_ms"].items()
            )
            key = name if args.repeat == 1 else f"{name}-{turn // len(CONTROLS) + 1}"
            port = harness.free_port()
            argv = [sys.executable, *PROBED, "--control", str(port)]
            env.update(BENCH_P99_SPIN=spin, BENCH_P99_PROTOCOL=protocol)
            with harness.running(f"p99-{name}", argv, port, "/healthz", env) as server:
                wrk_args = ["k", "l", "d", "c", harness.nonce(), "50"]
                results[key] = measure(key, server, log, wrk_args, args)
                results[key]["spin_ms"] = spin
                print(key, json.dumps(results[key]), flush=True)
    harness.save_report("p99_probe", json.dumps(results, indent=1), [])


if __name__ == "__main__":
    main()
