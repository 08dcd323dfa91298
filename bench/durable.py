"""Mixed workload, in memory vs ``--state-dir``, side by side: the cost of durable tenants.

The same mix as ``mixed.py`` (40% POST entry, 30% GET balance, 30% GET a page) against two
sandboxes running at once, one of them with ``--state-dir`` (every write answered only once
its tenant is on disk), measured in turns, the order swapping every round. Each round gets a
fresh ``merchant`` tenant (about 200 entries) on each server. Reported: each round's ratio
(its two runs back to back) and their median, and the ratio of each side's median round.

    python bench/durable.py                    # 3 rounds x 10 s, 8 connections (the first
                                               # of --connections)
    python bench/durable.py --state-in /dev/shm  # the state directory on tmpfs (no disk)
    python bench/durable.py --webhook          # each tenant with a webhook endpoint (every
                                               # event type) to a loopback receiver
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import replace

import httpx

import harness
from journal_commit import receiver
from mixed import (
    Run,
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
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        hook_url = stack.enter_context(receiver()) if args.webhook else ""
        servers = {"memory": stack.enter_context(harness.sandbox("memory"))}
        state = stack.enter_context(tempfile.TemporaryDirectory(dir=args.state_in))
        servers["state-dir"] = stack.enter_context(
            harness.sandbox("durable", extra=["--state-dir", f"{state}/after"])
        )
        if args.before:  # the same, on another revision's code
            src = stack.enter_context(harness.exported(args.before))
            servers[f"state-dir {args.before}"] = stack.enter_context(
                harness.sandbox("before", extra=["--state-dir", f"{state}/before"], src=src)
            )
        for round_no in range(0, args.rounds + 1):  # round 0: the warm-up
            targets = [replace(sandbox_target(s), name=n) for n, s in servers.items()]
            for target in targets if hook_url else ():
                made = httpx.post(
                    f"{target.server.url}/v1/webhook-endpoints",
                    json={"url": hook_url},
                    headers={"Authorization": f"Bearer {target.api_key}"},
                )
                made.raise_for_status()
            seconds = args.warmup if round_no == 0 else args.seconds
            shift = round_no % len(targets)
            for target in targets[shift:] + targets[:shift]:
                run = run_once(target, round_no, seconds, connections, args)
                print(fmt_run(run), flush=True)
                if round_no > 0:
                    runs.append(run)
            for target in targets:
                drop_tenant(target)
    theirs = median_run(runs, "memory")
    lines = [
        f"durable: {args.rounds} rounds x {args.seconds:g} s, wrk -c{connections}, "
        f"state directory in {args.state_in or tempfile.gettempdir()}"
        + (", each tenant with a webhook endpoint (loopback receiver)" if hook_url else ""),
        "",
        "| round | conns | server | req/s | p50 ms | p99 ms | non-2xx | server CPU | CPU ms/req |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(fmt_run(r) for r in runs),
        "",
    ]
    for name in list(servers)[1:]:
        ours = median_run(runs, name)
        # Each round's runs are back to back: their ratio shares the machine's load of the moment.
        by_round = per_round(runs, name, "memory")
        paired = sorted(by_round)[len(by_round) // 2]
        cpu = ours.cpu_ms_per_request / theirs.cpu_ms_per_request
        lines += [
            f"req/s {name} / memory per round: " + ", ".join(f"{r:.2f}" for r in by_round),
            f"median of the rounds' ratios: {paired:.2f}; ratio of the median rounds: "
            f"{ours.result.rps / theirs.result.rps:.2f} (goal: >= 0.85); CPU per request "
            f"(median rounds): {cpu:.2f}x memory's",
        ]
    text = "\n".join(lines)
    print("\n" + text)
    harness.RESULTS.mkdir(exist_ok=True)
    (harness.RESULTS / f"durable-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
