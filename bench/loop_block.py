"""Does seeding hold the event loop? Another tenant's reads while sandboxes are created and reset.

Two servers side by side, the code before the change (``--before``, a git revision exported
with ``git archive``) and the working tree's, each ``gledger-sandbox serve`` run through
``lag_serve.py`` (a task on the server's loop that logs every wake-up more than 2 ms late).
Each round, on each server in turn (the order swapping every round):

1. idle: one client reads ``GET /v1/ledgers`` of the default tenant back to back for 2 s;
2. creations: the same reads while 4 clients each create 3 ``merchant`` sandboxes in a row
   (4 creations in flight at all times); the created tenants are deleted afterwards.

Then, once per server: a tenant loaded with ``--reset-entries`` entries (batches of 100) is
reset to the ``empty`` fixture while the reads go on (what is measured is letting go of the
old data). Reported: p50/p99/max of the reads, the longest loop stall inside each window (from
the probe: wall time, and the CPU time the server spent in that stall, which leaves out the
moments a shared machine did not run it), the creation latency; medians; ratio after/before.

    python bench/loop_block.py [--before 2917031] [--rounds 3] [--reset-entries 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = harness.BENCH.parent


@dataclass
class Side:
    name: str
    src: Path
    server: harness.Server
    lag_log: Path


@dataclass
class Window:
    reads_ms: list[float] = field(default_factory=list)
    stall_ms: float = 0.0
    busy_ms: float = 0.0
    seconds: float = 0.0
    work_ms: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        ordered = sorted(self.reads_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def row(self) -> dict[str, float]:
        return {
            "reads": len(self.reads_ms),
            "p50_ms": round(self.pct(0.5), 1),
            "p99_ms": round(self.pct(0.99), 1),
            "max_ms": round(max(self.reads_ms, default=0.0), 1),
            "stall_ms": round(self.stall_ms, 1),
            "busy_stall_ms": round(self.busy_ms, 1),
            "work_p50_ms": round(statistics.median(self.work_ms), 1) if self.work_ms else 0.0,
            "seconds": round(self.seconds, 2),
        }


@contextmanager
def exported(revision: str) -> Iterator[Path]:
    """``src``, ``spec`` and ``fixtures`` of ``revision``, exported (not checked out) aside."""
    with tempfile.TemporaryDirectory(prefix="loop_block_") as folder:
        archive = subprocess.run(
            ["git", "archive", revision, "src", "spec", "fixtures"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder) / "src"


@contextmanager
def serve(name: str, src: Path) -> Iterator[Side]:
    port = harness.free_port()
    lag_log = harness.RESULTS / f"loop_block_lag_{name}.jsonl"
    harness.RESULTS.mkdir(exist_ok=True)
    lag_log.write_text("")
    argv = harness.sandbox_argv(port, [str(harness.BENCH / "lag_serve.py")])
    env = {"PYTHONPATH": str(src), "BENCH_LAG_LOG": str(lag_log)}
    with harness.running(f"loop_block_{name}", argv, port, "/healthz", env) as server:
        yield Side(name, src, server, lag_log)


def longest_stall(side: Side, start: float, end: float) -> tuple[float, float]:
    """The longest loop stall in the window, and the longest CPU time the server spent in one."""
    worst, busiest = 0.0, 0.0
    for line in side.lag_log.read_text().splitlines():
        row = json.loads(line)
        if start <= row["at"] <= end + 0.5:
            worst = max(worst, row["lag_ms"])
            busiest = max(busiest, min(row["cpu_ms"], row["lag_ms"]))
    return worst, busiest


async def _reads(client: httpx.AsyncClient, stop: asyncio.Event, into: list[float]) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        answer = await client.get("/v1/ledgers")
        into.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"read answered {answer.status_code}")


async def _while_reading(side: Side, work: Any) -> Window:
    """Run ``work()`` (a coroutine) while another tenant reads back to back; time both."""
    window = Window()
    headers = {"Authorization": f"Bearer {harness.API_KEY}"}
    async with httpx.AsyncClient(base_url=side.server.url, headers=headers, timeout=60) as client:
        stop = asyncio.Event()
        reader = asyncio.create_task(_reads(client, stop, window.reads_ms))
        await asyncio.sleep(0.2)
        window.reads_ms.clear()
        wall, began = time.time(), time.perf_counter()
        window.work_ms = await work()
        window.seconds = time.perf_counter() - began
        stop.set()
        await reader
    window.stall_ms, window.busy_ms = longest_stall(side, wall, time.time())
    return window


async def idle(side: Side, seconds: float = 2.0) -> Window:
    async def nothing() -> list[float]:
        await asyncio.sleep(seconds)
        return []

    return await _while_reading(side, nothing)


async def creations(side: Side, creators: int, each: int) -> Window:
    keys: list[str] = []

    async def creator(client: httpx.AsyncClient) -> list[float]:
        took = []
        for _ in range(each):
            began = time.perf_counter()
            made = await client.post("/v1/sandbox/tenants", json={"fixture": "merchant"})
            took.append((time.perf_counter() - began) * 1000)
            if made.status_code != 201:
                raise RuntimeError(f"creation answered {made.status_code}: {made.text[:300]}")
            keys.append(made.json()["api_key"])
        return took

    async def work() -> list[float]:
        async with httpx.AsyncClient(base_url=side.server.url, timeout=120) as client:
            done = await asyncio.gather(*(creator(client) for _ in range(creators)))
        return [ms for one in done for ms in one]

    window = await _while_reading(side, work)
    async with httpx.AsyncClient(base_url=side.server.url, timeout=60) as client:
        for key in keys:
            await client.delete("/v1/sandbox/tenant", headers={"Authorization": f"Bearer {key}"})
    return window


def loaded_tenant(side: Side, entries: int) -> str:
    admin = harness.Api(side.server.url)
    key = admin.new_tenant("empty")
    admin.close()
    api = harness.Api(side.server.url, key)
    ledger = api.call("POST", "/v1/ledgers", json={"name": "reset me"})["id"]
    accounts = [
        api.call(
            "POST",
            f"/v1/ledgers/{ledger}/accounts",
            json={"code": code, "name": code, "kind": kind, "currency": "USD"},
        )["id"]
        for code, kind in (("cash", "asset"), ("revenue", "revenue"))
    ]
    for first in range(0, entries, 100):
        items = [
            {
                "ledger_id": ledger,
                "lines": [
                    {"account_id": accounts[0], "direction": "debit", "amount": 100 + i},
                    {"account_id": accounts[1], "direction": "credit", "amount": 100 + i},
                ],
            }
            for i in range(first, min(first + 100, entries))
        ]
        api.call("POST", "/v1/entries/batch", json={"entries": items})
    api.close()
    return key


async def reset(side: Side, key: str) -> Window:
    async def work() -> list[float]:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=side.server.url, timeout=120) as client:
            began = time.perf_counter()
            done = await client.post(
                "/v1/sandbox/reset", json={"fixture": "empty"}, headers=headers
            )
            if done.status_code != 200:
                raise RuntimeError(f"reset answered {done.status_code}: {done.text[:300]}")
            return [(time.perf_counter() - began) * 1000]

    return await _while_reading(side, work)


def median_row(windows: list[Window]) -> dict[str, float]:
    rows = [w.row() for w in windows]
    return {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0]}


def table(title: str, before: dict[str, float], after: dict[str, float]) -> str:
    lines = [f"### {title}", "", "| | before | after | after/before |", "| --- | --- | --- | --- |"]
    for key in before:
        ratio = after[key] / before[key] if before[key] else float("nan")
        lines.append(f"| {key} | {before[key]:g} | {after[key]:g} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, sides: list[Side]) -> str:
    results: dict[str, dict[str, list[Window]]] = {
        s.name: {"idle": [], "creations": [], "reset": []} for s in sides
    }
    for number in range(args.rounds):
        order = sides if number % 2 == 0 else sides[::-1]
        for side in order:
            results[side.name]["idle"].append(await idle(side))
            results[side.name]["creations"].append(await creations(side, args.creators, args.each))
            print(side.name, "round", number + 1, results[side.name]["creations"][-1].row())
    if args.reset_entries:
        keys = {side.name: loaded_tenant(side, args.reset_entries) for side in sides}
        for side in sides[::-1]:
            results[side.name]["reset"].append(await reset(side, keys[side.name]))
            print(side.name, "reset", results[side.name]["reset"][-1].row())
    before, after = results["before"], results["after"]
    report = [
        f"## loop_block.py: before = {args.before}, after = working tree; "
        f"{args.rounds} rounds, medians\n",
        table(
            "idle: another tenant's reads, nothing else running",
            median_row(before["idle"]),
            median_row(after["idle"]),
        ),
        table(
            f"creations: the same reads while {args.creators} clients each create {args.each} "
            "merchant sandboxes in a row (work = one creation's latency)",
            median_row(before["creations"]),
            median_row(after["creations"]),
        ),
    ]
    if args.reset_entries:
        report.append(
            table(
                f"reset of a {args.reset_entries:,}-entry tenant, one run (work = the reset)",
                median_row(before["reset"]),
                median_row(after["reset"]),
            )
        )
    return "\n".join(report)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="2917031", help="git revision of the old code")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--creators", type=int, default=4)
    parser.add_argument("--each", type=int, default=3, help="creations per creator per round")
    parser.add_argument("--reset-entries", type=int, default=20_000, help="0: skip the reset")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with (
        exported(args.before) as old_src,
        serve("before", old_src) as before,
        serve("after", ROOT / "src") as after,
    ):
        report = asyncio.run(run(args, [before, after]))
    print(report)
    (harness.RESULTS / "loop_block.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
