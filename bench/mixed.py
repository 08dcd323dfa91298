"""Mixed workload, sandbox vs Prism side by side: 40% POST entry, 30% GET balance, 30% GET a page.

Both servers run at once (an idle one costs nothing) and are measured in turns: each round runs
wrk for ``--seconds`` against one, then the other, the order swapping every round. The report
gives every round, the median round of each server and the ratio ours/Prism.

The sandbox gets a fresh ``merchant`` tenant every round (deleted after it), so every round starts
from the same state (about 200 entries). Prism serves ``prism mock`` of the bundled spec: it
validates each request against the spec and answers the operation's example, so its POST creates
nothing and its page is the spec's example page (one entry), while ours is 50 real entries.

    python bench/mixed.py                      # 3 rounds x 10 s, 8 connections, 1 wrk thread
    python bench/mixed.py --rounds 5 --seconds 20 --connections 16
"""

from __future__ import annotations

import argparse
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
    result: WrkResult
    server_cpu_percent: float


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock ticks of 1/100 s on Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def sandbox_target(server: Server) -> Target:
    """A fresh merchant tenant on our sandbox, and the ids the mix posts to."""
    admin = Api(server.url)
    api_key = admin.new_tenant("merchant")
    admin.close()
    api = Api(server.url, api_key)
    ledger = api.first_ledger()
    target = Target(
        "sandbox",
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


def run_once(target: Target, round_no: int, seconds: float, args: argparse.Namespace) -> Run:
    before, started = cpu_seconds(target.server.pid), time.monotonic()
    result = harness.run_wrk(
        target.server.url,
        "mixed.lua",
        target.wrk_args(harness.nonce(), args.limit),
        seconds=seconds,
        connections=args.connections,
        threads=args.threads,
    )
    cpu = (cpu_seconds(target.server.pid) - before) / (time.monotonic() - started) * 100
    return Run(round_no, target.name, result, cpu)


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
        f"| {run.round} | {run.target} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
        f"{r.non2xx} | {run.server_cpu_percent:.0f}% |"
    )


def report(runs: list[Run], samples: dict[str, Any], args: argparse.Namespace) -> str:
    ours, theirs = median_run(runs, "sandbox"), median_run(runs, "prism")
    per_round = [
        next(r for r in runs if r.round == n and r.target == "sandbox").result.rps
        / next(r for r in runs if r.round == n and r.target == "prism").result.rps
        for n in range(1, args.rounds + 1)
    ]
    lines = [
        f"mixed: {args.rounds} rounds x {args.seconds:g} s, wrk -t{args.threads} "
        f"-c{args.connections}, 40% POST entry / 30% GET balance / 30% GET page of {args.limit}",
        "",
        "| round | server | req/s | p50 ms | p99 ms | non-2xx | server CPU |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(fmt_run(r) for r in runs),
        "",
        "median round (by req/s):",
        "",
        "| server | req/s | p50 ms | p99 ms | non-2xx |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {r.target} | {r.result.rps:,.0f} | {r.result.p50_ms:.2f} | {r.result.p99_ms:.2f} | "
            f"{r.result.non2xx} |"
            for r in (ours, theirs)
        ),
        "",
        f"ratio ours/Prism, median rounds: req/s {ours.result.rps / theirs.result.rps:.2f}, "
        f"p50 {ours.result.p50_ms / theirs.result.p50_ms:.2f}, "
        f"p99 {ours.result.p99_ms / theirs.result.p99_ms:.2f}",
        f"req/s ratio per round: {', '.join(f'{x:.2f}' for x in per_round)} "
        f"(median {harness.median(per_round):.2f}); goal: >= 1.00",
        "",
        f"one answer of each kind (status, bytes): {json.dumps(samples)}",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_options(parser, "server", connections=8)
    return parser.parse_args()


def measure(ours_server: Server, prism_server: Server, args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    for round_no in range(0, args.rounds + 1):  # round 0: the warm-up, not reported
        ours = sandbox_target(ours_server)
        pair = [ours, prism_target(prism_server, ours)]
        seconds = args.warmup if round_no == 0 else args.seconds
        for target in pair if round_no % 2 else reversed(pair):
            run = run_once(target, round_no, seconds, args)
            print(fmt_run(run), flush=True)
            if round_no > 0:
                runs.append(run)
        drop_tenant(ours)  # the next round starts from the same state, with no extra heap
    return runs


def main() -> None:
    args = parse_args()
    harness.ensure_wrk()
    harness.ensure_prism()
    with tempfile.TemporaryDirectory() as tmp:
        spec = harness.bundle_spec(Path(tmp) / "openapi.json")
        with harness.sandbox() as ours_server, harness.prism(spec) as prism_server:
            runs = measure(ours_server, prism_server, args)
            first = sandbox_target(ours_server)
            samples = {
                t.name: sample_answers(t, args.limit)
                for t in (first, prism_target(prism_server, first))
            }
    text = report(runs, samples, args)
    print("\n" + text)
    harness.save_report("mixed", text, runs)


if __name__ == "__main__":
    main()
