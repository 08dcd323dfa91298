"""Mixed workload, in memory vs ``--state-dir``, side by side: the cost of durable tenants.

The same mix as ``mixed.py`` (40% POST entry, 30% GET balance, 30% GET a page) against two
sandboxes running at once, one of them with ``--state-dir`` (every write answered only once
its tenant is on disk), measured in turns, the order swapping every round. Each round gets a
fresh ``merchant`` tenant (about 200 entries) on each server. Reported: each round's ratio
(its two runs back to back) and their median, and the ratio of each side's median round.

    python bench/durable.py                    # 3 rounds x 10 s, 8 connections (the first
                                               # of --connections)
    python bench/durable.py --state-in /dev/shm  # the state directory on tmpfs (no disk)
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace

import harness
from mixed import (
    drop_tenant,
    fmt_run,
    median_run,
    parse_args,
    per_round,
    run_once,
    sandbox_target,
)


def main() -> None:
    args = parse_args(state_in=True)
    harness.ensure_wrk()
    connections = args.connections[0]
    runs = []
    with (
        tempfile.TemporaryDirectory(dir=args.state_in) as state,
        harness.sandbox("memory") as memory,
        harness.sandbox("durable", extra=["--state-dir", state]) as durable,
    ):
        for round_no in range(0, args.rounds + 1):  # round 0: the warm-up
            pair = [
                replace(sandbox_target(memory), name="memory"),
                replace(sandbox_target(durable), name="state-dir"),
            ]
            seconds = args.warmup if round_no == 0 else args.seconds
            for target in pair if round_no % 2 else reversed(pair):
                run = run_once(target, round_no, seconds, connections, args)
                print(fmt_run(run), flush=True)
                if round_no > 0:
                    runs.append(run)
            for target in pair:
                drop_tenant(target)
    ours, theirs = median_run(runs, "state-dir"), median_run(runs, "memory")
    ratio = ours.result.rps / theirs.result.rps
    # Each round's two runs are back to back: their ratio shares the machine's load of the moment.
    by_round = per_round(runs, "state-dir", "memory")
    paired = sorted(by_round)[len(by_round) // 2]
    text = "\n".join(
        [
            f"durable: {args.rounds} rounds x {args.seconds:g} s, wrk -c{connections}, "
            f"state directory in {args.state_in or tempfile.gettempdir()}",
            "",
            "| round | conns | server | req/s | p50 ms | p99 ms | non-2xx | server CPU "
            "| CPU ms/req |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *(fmt_run(r) for r in runs),
            "",
            "req/s state-dir / memory per round: " + ", ".join(f"{r:.2f}" for r in by_round),
            f"median of the rounds' ratios: {paired:.2f}; ratio of the median rounds: "
            f"{ratio:.2f} (goal: >= 0.85)",
        ]
    )
    print("\n" + text)
    harness.RESULTS.mkdir(exist_ok=True)
    (harness.RESULTS / f"durable-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
