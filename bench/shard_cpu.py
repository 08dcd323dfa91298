"""Does a shard cost more CPU per request than one process? The factors, one setup each.

``shards.py`` found the shards of ``serve --workers 2`` spending 1.04-1.27x the CPU per request
of one process served directly (medians of rounds). The sharded setup differs from the direct
one in several ways at once; each setup here changes one of them, and reports the CPU
microseconds per request of the server process(es) it measures (from /proc), with how often
each lost its core while runnable (preempted) and how often it went to sleep waiting for work
(voluntary switches), per 1,000 requests:

- ``direct``: one ``serve`` process, ``--tenants`` tenants, one wrk -c``N`` straight at it;
- ``proxied``: the same process behind HAProxy (``serve --workers``'s config for one shard);
- ``shard-alone``: wrk -c``N`` straight at shard 0 of ``serve --workers 2`` with shard 0's
  tenants, shard 1 and HAProxy idle: what being a shard (its settings, half the tenants) costs;
- ``shards-noproxy``: two wrk -c``N/2`` at once, each straight at one shard with its tenants:
  both cores busy, no proxy;
- ``sharded``: wrk -c``N`` through HAProxy at both shards, as ``shards.py`` measures;
- ``pinned`` / ``pinned-beside``: the single process on core 0 and its wrk on core 1, without
  and with a second, identical process (and its own wrk) loaded on core 1: the process's own
  core is the same, only the other core is busy (the caches and memory both cores share, the
  host).

Every ratio is paired per round (the setups of a round run one after the other, the order
rotating), as the host's speed moves between windows.

    python bench/shard_cpu.py     # direct, shard-alone, shards-noproxy, sharded: 6 x 5 s, ~3 min
    python bench/shard_cpu.py --only direct sharded pinned pinned-beside    # ~4 min
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import harness
from gledger_sandbox.domain.sandbox.credentials import shard_of
from shards import command_name, cpu_split, descendants, haproxy_in_front, switches, tenant_line

SETUPS = [
    "direct",
    "proxied",
    "shard-alone",
    "shards-noproxy",
    "sharded",
    "pinned",
    "pinned-beside",
]
DEFAULT = ["direct", "shard-alone", "shards-noproxy", "sharded"]


@dataclass
class Load:
    """One wrk: where it points, the tenants it draws from, its connections and cores."""

    url: str
    tenants: Path
    connections: int
    cpus: set[int] | None = None


@dataclass
class Setup:
    name: str
    loads: list[Load]
    measured: list[int]
    """The server processes whose CPU per request is reported (the requests of every load)."""
    pins: dict[int, set[int]] = field(default_factory=dict)
    """Processes placed on cores for this setup's runs only (their cores otherwise: any)."""


@dataclass(frozen=True)
class Run:
    round: int
    setup: str
    rps: float
    p99_ms: float
    server_us: float
    kernel_us: float
    wrk_us: float
    voluntary: float
    preempted: float
    cpu: list[float]


def place(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def run_once(setup: Setup, round_no: int, seconds: float, args: argparse.Namespace) -> Run:
    everywhere = os.sched_getaffinity(0)
    for pid, cpus in setup.pins.items():
        place(pid, cpus)
    before = [cpu_split(pid) for pid in setup.measured]
    switched = [switches(pid) for pid in setup.measured]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()

    def one(load: Load) -> harness.WrkResult:
        # wrk inherits the cores of the thread that starts it (sched_setaffinity of tid 0).
        os.sched_setaffinity(0, load.cpus or everywhere)
        lua = [str(load.tenants), harness.nonce(), str(args.limit)]
        return harness.run_wrk(
            load.url, "tenants.lua", lua, seconds=seconds, connections=load.connections
        )

    with ThreadPoolExecutor(len(setup.loads)) as pool:
        results = list(pool.map(one, setup.loads))
    elapsed = time.monotonic() - started
    after = [cpu_split(pid) for pid in setup.measured]
    now = [switches(pid) for pid in setup.measured]
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    for pid in setup.pins:
        place(pid, everywhere)
    # pinned-beside: the neighbour's requests (its second load) are not the measured ones.
    mine = results[:1] if setup.name == "pinned-beside" else results
    measured_requests = sum(r.requests for r in mine)
    used = [sum(a) - sum(b) for a, b in zip(after, before, strict=True)]
    system = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    wrk = (done.ru_utime - children.ru_utime) + (done.ru_stime - children.ru_stime)
    total_requests = sum(r.requests for r in results) or 1
    per = 1e6 / (measured_requests or 1)
    return Run(
        round_no,
        setup.name,
        sum(r.rps for r in mine),
        max(r.p99_ms for r in results),
        sum(used) * per,
        system * per,
        wrk * 1e6 / total_requests,
        sum(n[0] - s[0] for n, s in zip(now, switched, strict=True)) * per / 1000,
        sum(n[1] - s[1] for n, s in zip(now, switched, strict=True)) * per / 1000,
        [u / elapsed * 100 for u in used],
    )


def listening_pid(port: int, candidates: list[int]) -> int:
    """Which of ``candidates`` holds the socket listening on 127.0.0.1:``port``."""
    wanted = f"0100007F:{port:04X}"
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1] == wanted and line.split()[3] == "0A"
    }
    for pid in candidates:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    raise RuntimeError(f"no process listens on port {port}")


def shard_ports(haproxy: int) -> list[int]:
    """The shards' loopback ports, from the configuration ``serve --workers`` gave HAProxy."""
    argv = Path(f"/proc/{haproxy}/cmdline").read_text().split("\0")
    config = Path(argv[argv.index("-f") + 1]).read_text()
    return [int(p) for p in re.findall(r"backend shard\d+\n    server s\d+ [\d.]+:(\d+)", config)]


def tenants_by_shard(url: str, count: int, folder: Path, name: str) -> dict[int, Path]:
    """``count`` merchant tenants made at ``url``; a tenants file (lua/tenants.lua) per shard."""
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: tenant_line(url), range(count)))
    files: dict[int, list[str]] = {}
    for tenant_id, line in made:
        files.setdefault(shard_of(tenant_id) or 0, []).append(line + "\n")
    found = {}
    for shard, lines in sorted(files.items()):
        found[shard] = folder / f"{name}-{shard}.tenants"
        found[shard].write_text("".join(lines))
    return found


@contextmanager
def setups(args: argparse.Namespace, folder: Path) -> Iterator[list[Setup]]:
    n = args.connections
    cores = sorted(os.sched_getaffinity(0))
    with ExitStack() as stack:

        def single(name: str) -> tuple[harness.Server, Path]:
            port = harness.free_port()
            argv = harness.sandbox_argv(port)
            server = stack.enter_context(harness.running(name, argv, port, "/healthz"))
            return server, tenants_by_shard(server.url, args.tenants, folder, name)[0]

        one, one_tenants = single("single")
        found = [Setup("direct", [Load(one.url, one_tenants, n)], [one.pid])]
        proxy = stack.enter_context(haproxy_in_front(one, folder))
        found.append(Setup("proxied", [Load(proxy.url, one_tenants, n)], [one.pid]))
        port = harness.free_port()
        argv = harness.sandbox_argv(port, extra=["--workers", "2"])
        sharded = stack.enter_context(harness.running("sharded", argv, port, "/healthz"))
        per_shard = tenants_by_shard(sharded.url, args.tenants, folder, "sharded")
        tree = descendants(sharded.pid)
        ports = shard_ports(next(p for p in tree if command_name(p) == "haproxy"))
        shard_pids = [listening_pid(p, tree) for p in ports]
        shard_urls = [f"http://127.0.0.1:{p}" for p in ports]
        found.append(Setup("shard-alone", [Load(shard_urls[0], per_shard[0], n)], shard_pids[:1]))
        found.append(
            Setup(
                "shards-noproxy",
                [Load(u, per_shard[i], n // 2) for i, u in enumerate(shard_urls)],
                shard_pids,
            )
        )
        found.append(
            Setup("sharded", [Load(sharded.url, one_tenants_all(per_shard, folder), n)], shard_pids)
        )
        if {"pinned", "pinned-beside"} & set(args.only):
            two, two_tenants = single("neighbour")
            mine = Load(one.url, one_tenants, n, {cores[1]})
            pins = {one.pid: {cores[0]}, two.pid: {cores[1]}}
            found.append(Setup("pinned", [mine], [one.pid], pins))
            beside = Load(two.url, two_tenants, n, {cores[1]})
            found.append(Setup("pinned-beside", [mine, beside], [one.pid], pins))
        yield [s for s in found if s.name in args.only]


def one_tenants_all(per_shard: dict[int, Path], folder: Path) -> Path:
    """Every shard's tenants in one file, for wrk through the proxy."""
    target = folder / "sharded-all.tenants"
    target.write_text("".join(p.read_text() for p in per_shard.values()))
    return target


def report(runs: list[Run], names: list[str]) -> str:
    lines = [
        "| round | setup | req/s | p99 ms | server us/req | of which kernel | wrk us/req "
        "| sleeps /1k req | preempted /1k req | server CPU % |",
        "| --- " * 10 + "|",
    ]
    lines += [
        f"| {r.round} | {r.setup} | {r.rps:,.0f} | {r.p99_ms:.1f} | {r.server_us:.0f} | "
        f"{r.kernel_us:.0f} | {r.wrk_us:.0f} | {r.voluntary:.0f} | {r.preempted:.0f} | "
        f"{'+'.join(f'{c:.0f}' for c in r.cpu)} |"
        for r in runs
    ]
    lines += [
        "",
        "medians over the rounds, and server us/req against direct's, paired per round:",
        "",
    ]
    lines += [
        "| setup | req/s | server us/req | vs direct (per-round median) | sleeps | preempted |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    base = {r.round: r.server_us for r in runs if r.setup == "direct"}
    for name in names:
        mine = [r for r in runs if r.setup == name]
        ratios = [r.server_us / base[r.round] for r in mine if r.round in base]
        m = harness.median
        lines.append(
            f"| {name} | {m([r.rps for r in mine]):,.0f} | {m([r.server_us for r in mine]):.0f} | "
            f"{m(ratios) if ratios else float('nan'):.3f} "
            f"({', '.join(f'{x:.2f}' for x in ratios)}) | "
            f"{m([r.voluntary for r in mine]):.0f} | {m([r.preempted for r in mine]):.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=64)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--only", nargs="+", default=DEFAULT, choices=SETUPS)
    args = parser.parse_args()
    harness.ensure_wrk()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, setups(args, Path(tmp)) as found:
        print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
        for round_no in range(args.rounds + 1):
            shift = round_no % len(found)
            for setup in found[shift:] + found[:shift]:
                seconds = args.warmup if round_no == 0 else args.seconds
                run = run_once(setup, round_no, seconds, args)
                print(report([run], []).splitlines()[2], flush=True)
                if round_no:
                    runs.append(run)
    text = report(runs, [s.name for s in found])
    print("\n" + text)
    harness.save_report("shard_cpu", text, runs)


if __name__ == "__main__":
    main()
