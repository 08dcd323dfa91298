"""Mixed workload, sandbox vs Prism side by side: 40% POST entry, 30% GET balance, 30% GET a page.

Both servers run at once (an idle one costs nothing) and are measured in turns: each round runs
wrk for ``--seconds`` against one, then the other, the order swapping every round. The report
gives every round, the median round of each server and the ratio ours/Prism.

The sandbox gets a fresh ``merchant`` tenant every round (deleted after it), so every round starts
from the same state (about 200 entries). Prism serves ``prism mock`` of the bundled spec: it
validates each request against the spec and answers the operation's example, so its POST creates
nothing and its page is the spec's example page (one entry), while ours is 50 real entries.

    python bench/mixed.py                      # 3 rounds x 10 s, at 8 and at 32 connections
    python bench/mixed.py --rounds 5 --seconds 20 --connections 16
    python bench/mixed.py --before main        # also the sandbox of another revision, beside
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import harness
from harness import Api, Server, WrkResult


@dataclass(frozen=True)
class Target:
    """What the Lua script needs to hit one server."""

    name: str
    server: Server
    api_key: str
    ledger_id: str
    debit_account: str
    credit_account: str

    def wrk_args(self, run_nonce: str, limit: int) -> list[str]:
        return [
            self.api_key,
            self.ledger_id,
            self.debit_account,
            self.credit_account,
            run_nonce,
            str(limit),
        ]


@dataclass(frozen=True)
class Run:
    round: int
    target: str
    connections: int
    result: WrkResult
    server_cpu_percent: float

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per answered request: steadier than req/s when other work shares the
        cores (a server that waits for a core spends no CPU meanwhile)."""
        rps = self.result.rps
        return self.server_cpu_percent * 10 / rps if rps else float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock ticks of 1/100 s on Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def sandbox_target(server: Server) -> Target:
    """A fresh merchant tenant on one of our sandboxes (named as its server), and the ids the
    mix posts to."""
    admin = Api(server.url)
    api_key = admin.new_tenant("merchant")
    admin.close()
    api = Api(server.url, api_key)
    ledger = api.first_ledger()
    target = Target(
        server.name,
        server,
        api_key,
        ledger,
        api.account_id(ledger, "cash"),
        api.account_id(ledger, "revenue"),
    )
    api.close()
    return target


def drop_tenant(target: Target) -> None:
    api = Api(target.server.url, target.api_key)
    api.client.delete("/v1/sandbox/tenant").raise_for_status()
    api.close()


def prism_target(server: Server, like: Target) -> Target:
    """Prism keeps no state: any well-formed ids and bearer token do."""
    return Target(
        "prism", server, like.api_key, like.ledger_id, like.debit_account, like.credit_account
    )


def run_once(
    target: Target, round_no: int, seconds: float, connections: int, args: argparse.Namespace
) -> Run:
    before, started = cpu_seconds(target.server.pid), time.monotonic()
    result = harness.run_wrk(
        target.server.url,
        "mixed.lua",
        target.wrk_args(harness.nonce(), args.limit),
        seconds=seconds,
        connections=connections,
        threads=args.threads,
    )
    cpu = (cpu_seconds(target.server.pid) - before) / (time.monotonic() - started) * 100
    return Run(round_no, target.name, connections, result, cpu)


def sample_answers(target: Target, limit: int) -> dict[str, Any]:
    """Status and body size of one request of each kind (outside the measurement)."""
    headers = {"Authorization": f"Bearer {target.api_key}"}
    body = {
        "ledger_id": target.ledger_id,
        "lines": [
            {"account_id": target.debit_account, "direction": "debit", "amount": 100},
            {"account_id": target.credit_account, "direction": "credit", "amount": 100},
        ],
    }
    with httpx.Client(base_url=target.server.url, headers=headers, timeout=30) as client:
        answers = {
            "post_entry": client.post(
                "/v1/entries", json=body, headers={"Idempotency-Key": harness.nonce()}
            ),
            "get_balance": client.get(f"/v1/accounts/{target.debit_account}/balance"),
            "list_page": client.get(
                "/v1/entries", params={"ledger_id": target.ledger_id, "limit": limit}
            ),
        }
    return {op: {"status": r.status_code, "bytes": len(r.content)} for op, r in answers.items()}


def median_run(runs: list[Run], target: str) -> Run:
    mine = sorted((r for r in runs if r.target == target), key=lambda r: r.result.rps)
    return mine[len(mine) // 2]


def fmt_run(run: Run) -> str:
    r = run.result
    return (
        f"| {run.round} | {run.connections} | {run.target} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.non2xx} | {run.server_cpu_percent:.0f}% | "
        f"{run.cpu_ms_per_request:.3f} |"
    )


def per_round(runs: list[Run], mine: str, theirs: str) -> list[float]:
    """req/s of ``mine`` over ``theirs``, round by round (the two ran back to back)."""
    rounds = sorted({r.round for r in runs})
    by = {(r.round, r.target): r.result.rps for r in runs}
    return [by[n, mine] / by[n, theirs] for n in rounds]


def section(runs: list[Run], names: list[str], connections: int) -> list[str]:
    """The median rounds and ratios at one connection count."""
    mine = [r for r in runs if r.connections == connections]
    medians = {name: median_run(mine, name) for name in names}
    lines = [
        f"### {connections} connections: median round (by req/s)",
        "",
        "| server | req/s | p50 ms | p99 ms | non-2xx | CPU ms/req (median of rounds) |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {m.target} | {m.result.rps:,.0f} | {m.result.p50_ms:.2f} | "
            f"{m.result.p99_ms:.2f} | {m.result.non2xx} | "
            f"{harness.median([r.cpu_ms_per_request for r in mine if r.target == m.target]):.3f} |"
            for m in medians.values()
        ),
        "",
    ]
    pairs = [(n, "prism") for n in names if n != "prism"]
    if "before" in names:
        pairs.append(("sandbox", "before"))
    for a, b in pairs:
        ratios = per_round(mine, a, b)
        lines.append(
            f"- {a}/{b}: req/s per round {', '.join(f'{x:.2f}' for x in ratios)} "
            f"(median {harness.median(ratios):.2f}); p99 of the median rounds "
            f"{medians[a].result.p99_ms:.2f} vs {medians[b].result.p99_ms:.2f} ms"
        )
    return [*lines, ""]


def report(
    runs: list[Run], samples: dict[str, Any], names: list[str], args: argparse.Namespace
) -> str:
    before = f", before = {args.before}" if args.before else ""
    lines = [
        f"mixed: {args.rounds} rounds x {args.seconds:g} s, wrk -t{args.threads} "
        f"-c{'/'.join(map(str, args.connections))}, 40% POST entry / 30% GET balance / "
        f"30% GET page of {args.limit}; sandbox = working tree{before}",
        "",
        "| round | conns | server | req/s | p50 ms | p99 ms | non-2xx | server CPU | CPU ms/req |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(fmt_run(r) for r in runs),
        "",
    ]
    for connections in args.connections:
        lines += section(runs, names, connections)
    lines += [
        "goal: sandbox/prism req/s >= 1.5 at every connection count; p99 < 25 ms at 32",
        "",
        f"one answer of each kind (status, bytes): {json.dumps(samples)}",
    ]
    return "\n".join(lines)


def parse_args(state_in: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    if state_in:  # durable.py
        parser.add_argument(
            "--state-in", metavar="DIR", help="where the --state-dir is made (default: TMPDIR)"
        )
        parser.add_argument(
            "--webhook",
            action="store_true",
            help="give each round's tenants a webhook endpoint (a loopback receiver, 204)",
        )
    harness.add_load_options(parser, "server", connections=[8, 32])
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the sandbox at this git revision (exported aside), as 'before'",
    )
    return parser.parse_args()


def measure(ours: list[Server], prism_server: Server, args: argparse.Namespace) -> list[Run]:
    """Every round: at each connection count, each server once, the order rotating by round."""
    runs: list[Run] = []
    for round_no in range(0, args.rounds + 1):  # round 0: the warm-up, not reported
        for connections in args.connections:
            targets = [sandbox_target(server) for server in ours]
            pair = [*targets, prism_target(prism_server, targets[0])]
            shift = round_no % len(pair)
            order = pair[shift:] + pair[:shift]
            seconds = args.warmup if round_no == 0 else args.seconds
            for target in order if round_no % 2 else reversed(order):
                run = run_once(target, round_no, seconds, connections, args)
                print(fmt_run(run), flush=True)
                if round_no > 0:
                    runs.append(run)
            for target in targets:  # the next run starts from the same state
                drop_tenant(target)
    return runs


def main() -> None:
    args = parse_args()
    harness.ensure_wrk()
    harness.ensure_prism()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        spec = harness.bundle_spec(tmp / "openapi.json")
        ours = [stack.enter_context(harness.sandbox())]
        if args.before:
            old_src = stack.enter_context(harness.exported(args.before))
            ours.append(stack.enter_context(harness.sandbox("before", src=old_src)))
        prism_server = stack.enter_context(harness.prism(spec))
        runs = measure(ours, prism_server, args)
        first = sandbox_target(ours[0])
        samples = {
            t.name: sample_answers(t, args.limit)
            for t in (first, prism_target(prism_server, first))
        }
    names = [s.name for s in ours] + ["prism"]
    text = report(runs, samples, names, args)
    print("\n" + text)
    harness.save_report("mixed", text, runs)


if __name__ == "__main__":
    main()
