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

A turn starts once every server is idle (below ``IDLE_CPU`` for half a second): a server's
deliveries lag its requests, and finishing them in the next server's turn took 11-14% of a
core from it (measured). That tail is counted in its own "CPU ms/req all in" (the server's CPU
from the start of its run until it is idle again, per request answered).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace

import httpx

import harness
from harness import Server
from journal_commit import receiver
from mixed import (
    Run,
    cpu_seconds,
    drop_tenant,
    fmt_run,
    median_run,
    parse_args,
    per_round,
    run_once,
    sandbox_target,
)

IDLE_CPU = 0.05
"""A server below this share of a core (over half a second) is idle."""


def until_idle(servers: Iterable[Server], limit: float = 60.0) -> None:
    """Wait until every server is idle (its deliveries done), ``limit`` seconds at most."""
    deadline = time.monotonic() + limit
    for server in servers:
        used = cpu_seconds(server.pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = cpu_seconds(server.pid)
            if now - used < IDLE_CPU * 0.5:
                break
            used = now


def all_in(run: Run, server: Server, cpu_before: float) -> float:
    """CPU ms per request of ``run``, with the work its server did after it until idle."""
    until_idle([server])
    requests = run.result.requests
    return (cpu_seconds(server.pid) - cpu_before) * 1000 / requests if requests else float("nan")


def main() -> None:
    args = parse_args(state_in=True)
    harness.ensure_wrk()
    connections = args.connections[0]
    runs: list[Run] = []
    all_in_ms: dict[tuple[int, str], float] = {}
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
                until_idle(servers.values())
                cpu_before = cpu_seconds(target.server.pid)
                run = run_once(target, round_no, seconds, connections, args)
                all_in_ms[round_no, run.target] = all_in(run, target.server, cpu_before)
                print(fmt_run(run), f"{all_in_ms[round_no, run.target]:.3f} |", flush=True)
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
        "| round | conns | server | req/s | p50 ms | p99 ms | non-2xx | server CPU | CPU ms/req "
        "| CPU ms/req all in |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(f"{fmt_run(r)} {all_in_ms[r.round, r.target]:.3f} |" for r in runs),
        "",
    ]
    for name in list(servers)[1:]:
        ours = median_run(runs, name)
        # Each round's runs are back to back: their ratio shares the machine's load of the moment.
        by_round = per_round(runs, name, "memory")
        paired = sorted(by_round)[len(by_round) // 2]
        cpu = ours.cpu_ms_per_request / theirs.cpu_ms_per_request
        total = harness.median([all_in_ms[r.round, name] for r in runs if r.target == name])
        their_total = harness.median(
            [all_in_ms[r.round, "memory"] for r in runs if r.target == "memory"]
        )
        lines += [
            f"req/s {name} / memory per round: " + ", ".join(f"{r:.2f}" for r in by_round),
            f"median of the rounds' ratios: {paired:.2f}; ratio of the median rounds: "
            f"{ours.result.rps / theirs.result.rps:.2f} (goal: >= 0.85); CPU per request "
            f"(median rounds): {cpu:.2f}x memory's; all in (median of rounds): {total:.3f} vs "
            f"{their_total:.3f} ms, {total / their_total:.2f}x",
        ]
    text = "\n".join(lines)
    print("\n" + text)
    harness.RESULTS.mkdir(exist_ok=True)
    (harness.RESULTS / f"durable-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
