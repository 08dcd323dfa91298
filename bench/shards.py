"""Scale-out: 2 shards behind HAProxy against 1 process, on a mix spread over many tenants.

Three setups run at once (an idle one costs next to nothing) and are measured in turns, the
order rotating every round, all at the same wrk connection count:

- ``direct``: one ``gledger-sandbox serve`` process, wrk straight at it;
- ``proxied``: the same process and tenants, behind HAProxy with the configuration
  ``serve --workers`` generates (for one shard): what the proxy alone costs;
- ``sharded``: ``gledger-sandbox serve --workers 2`` (2 shard processes, HAProxy in front);
- ``sharded@REV`` (with ``--before REV``): the same, the code of git revision REV (exported):
  what a change to ``serve --workers`` gains, side by side;
- with ``--pin``, two more ``serve --workers`` placed on the cores by hand (sched_setaffinity)
  instead of by the kernel: ``sharded-pin`` (shard i on core i, HAProxy and wrk free) and
  ``sharded-pin-all`` (also HAProxy on core 0 and wrk on core 1);
- with ``--wrk-batch``, ``direct-wrkbatch`` and ``sharded-wrkbatch``: the same servers with wrk
  as a ``SCHED_BATCH`` task (the load generator preempting them less; not how a client off
  the machine behaves either way);
- with ``--batch``, ``sharded-batch``: ``serve --workers`` whose HAProxy is ``SCHED_BATCH``
  (its wake-ups do not preempt a busy shard: fewer context switches, more events per turn;
  ``serve --workers`` does so itself since 2026-12-04), ``sharded-batch-all`` (the shards
  too) and ``sharded-idle`` (HAProxy ``SCHED_IDLE``: it runs only when a core has nothing else).

The single process and the sharded sandbox each get ``--tenants`` fresh ``merchant`` tenants
(created through the proxy for ``sharded``, so round-robin puts half on each shard). wrk runs
the 40/30/30 mix of mixed.py (POST entry with an Idempotency-Key / GET balance / GET a page),
each request for a tenant drawn at random (lua/tenants.lua). Reported: every round; the median
round of each setup (req/s, p50, p99); the ratios of the medians and per round; and the CPU of
every process during each run, from /proc (100% = one core): the server(s), HAProxy, wrk, and
what the rest of the machine used meanwhile (other users of the 2 cores); and per setup the CPU
microseconds per request of each role, with the kernel's (system time) share of them.

    python bench/shards.py                         # 3 rounds x 10 s, 32 connections, ~2.5 min
    python bench/shards.py --before f8a07d3        # + serve --workers of f8a07d3, ~3 min
    python bench/shards.py --pin --seconds 7       # + two placements on the cores, ~3 min
    python bench/shards.py --rounds 5 --connections 8
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

import harness
from gledger_sandbox.domain.sandbox.credentials import shard_of
from gledger_sandbox.scaleout.haproxy import ShardAddress, render
from gledger_sandbox.scaleout.workers import haproxy_binary, proxy_threads
from harness import Api, Server, WrkResult

SETUPS = ["direct", "proxied", "sharded"]
PINNED = ["sharded-pin", "sharded-pin-all"]
BATCH = ["sharded-batch", "sharded-batch-all", "sharded-idle"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- processes and their CPU ---------------------------------------------------------------


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process in seconds, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def switches(pid: int) -> tuple[int, int]:
    """(voluntary, nonvoluntary) context switches of every thread of ``pid``, from /proc: the
    times it went to sleep (waiting for work), and lost its core while runnable."""
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        voluntary += int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        involuntary += int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
    return voluntary, involuntary


def preempted(pid: int) -> int:
    """How many times the threads of ``pid`` lost their core while runnable, from /proc."""
    return switches(pid)[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 once it is gone)."""
    return sum(cpu_split(pid))


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from the parent ids in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, everyone), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def softirq_seconds() -> float:
    """CPU time the whole machine spent in soft interrupts, from /proc/stat: where loopback
    TCP's packets are delivered, charged to no process (not in any process's system time)."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[7]) / CLOCK_TICKS


@dataclass
class Setup:
    """One thing wrk is pointed at: its URL, tenants, and the processes that serve it."""

    name: str
    url: str
    tenants_file: Path
    servers: list[int] = field(default_factory=list)
    proxies: list[int] = field(default_factory=list)
    shards: dict[int, int] = field(default_factory=dict)
    """Tenants per shard (from their ids)."""
    wrk_cpus: set[int] | None = None
    """The cores wrk may run on (None: any)."""
    wrk_batch: bool = False
    """wrk as a ``SCHED_BATCH`` task (its wake-ups do not preempt a server)."""


@dataclass(frozen=True)
class Run:
    round: int
    setup: str
    result: WrkResult
    cpu: dict[str, float]
    """Per cent of one core during the run: ``server <pid>``, ``haproxy``, ``wrk``, ``others``."""
    kernel: dict[str, float] = field(default_factory=dict)
    """The system-time part of ``cpu`` (same keys; not ``others``)."""
    preemptions: float = 0.0
    """Times a server process lost its core while runnable, per 1,000 requests."""

    def role_cpu(self, role: str) -> float:
        return sum(v for k, v in self.cpu.items() if k.split()[0] == role)


def run_once(setup: Setup, round_no: int, seconds: float, args: argparse.Namespace) -> Run:
    watched = [(f"server {pid}", pid) for pid in setup.servers]
    watched += [("haproxy", pid) for pid in setup.proxies]
    before = {name: cpu_split(pid) for name, pid in watched}
    switched = sum(preempted(pid) for pid in setup.servers)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped
    busy, softirq, started = machine_busy_seconds(), softirq_seconds(), time.monotonic()
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, setup.wrk_cpus or everywhere)  # wrk, our child, inherits it
    policy = os.SCHED_BATCH if setup.wrk_batch else os.SCHED_OTHER
    os.sched_setscheduler(0, policy, os.sched_param(0))  # inherited too
    try:
        result = harness.run_wrk(
            setup.url,
            "tenants.lua",
            [str(setup.tenants_file), harness.nonce(), str(args.limit)],
            seconds=seconds,
            connections=args.connections,
            threads=args.threads,
        )
    finally:
        os.sched_setaffinity(0, everywhere)
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    elapsed = time.monotonic() - started
    switched = sum(preempted(pid) for pid in setup.servers) - switched
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = {name: cpu_split(pid) for name, pid in watched}
    cpu = {name: (sum(spent[name]) - sum(before[name])) / elapsed * 100 for name, _ in watched}
    kernel = {name: (spent[name][1] - before[name][1]) / elapsed * 100 for name, _ in watched}
    wrk_seconds = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    cpu["wrk"] = wrk_seconds / elapsed * 100
    kernel["wrk"] = (after.ru_stime - children.ru_stime) / elapsed * 100
    # Soft interrupts: mostly our own loopback traffic, though charged to no process.
    cpu["softirq"] = kernel["softirq"] = (softirq_seconds() - softirq) / elapsed * 100
    ours = sum(cpu.values())
    cpu["others"] = max(0.0, (machine_busy_seconds() - busy) / elapsed * 100 - ours)
    preemptions = switched * 1000 / (result.requests or 1)
    return Run(round_no, setup.name, result, cpu, kernel, preemptions)


# -- servers and tenants -------------------------------------------------------------------


@contextmanager
def haproxy_in_front(server: Server, folder: Path) -> Iterator[Server]:
    """HAProxy with the configuration ``serve --workers`` generates, for one shard: ``server``."""
    port = harness.free_port()
    config = folder / "haproxy-1.cfg"
    address = server.url.removeprefix("http://")
    text = render(f"{harness.HOST}:{port}", [ShardAddress(0, address)], threads=proxy_threads(1))
    config.write_text(text)
    argv = [haproxy_binary(), "-db", "-f", str(config)]
    with harness.running("haproxy-1", argv, port, "/healthz") as proxy:
        yield proxy


def tenant_line(url: str) -> tuple[str, str]:
    """A fresh merchant tenant created at ``url``; its id and its line of the tenants file."""
    # No credential: the proxy sends a creation to any shard (one with a key goes to its own).
    answer = httpx.post(f"{url}/v1/sandbox/tenants", json={"fixture": "merchant"}, timeout=120)
    if answer.status_code != 201:
        raise RuntimeError(f"POST /v1/sandbox/tenants: {answer.status_code} {answer.text[:500]}")
    created = answer.json()
    api = Api(url, created["api_key"])
    ledger = api.first_ledger()
    cash, revenue = api.account_id(ledger, "cash"), api.account_id(ledger, "revenue")
    api.close()
    return created["tenant_id"], f"{created['api_key']} {ledger} {cash} {revenue}"


def make_tenants(url: str, count: int, target: Path) -> dict[int, int]:
    """``count`` tenants created at ``url`` (4 at a time), written to ``target``; per shard."""
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: tenant_line(url), range(count)))
    target.write_text("".join(line + "\n" for _, line in made))
    shards: dict[int, int] = {}
    for tenant_id, _ in made:
        shard = shard_of(tenant_id) or 0
        shards[shard] = shards.get(shard, 0) + 1
    return dict(sorted(shards.items()))


def pin(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` onto core ``cpu``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})


def pinned(setup: Setup, root: int, everything: bool) -> Setup:
    """``setup`` with shard i on core i (its parent, idle, left free); ``everything``: HAProxy
    on core 0 and wrk on core 1 as well."""
    cores = sorted(os.sched_getaffinity(0))
    shard_pids = [
        p
        for p in sorted(setup.servers)
        if p != root and "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text()
    ]
    for index, pid in enumerate(shard_pids):
        pin(pid, cores[index % len(cores)])
    print(f"{setup.name}: shard processes {shard_pids} on cores {cores}", flush=True)
    if everything:
        for pid in setup.proxies:
            pin(pid, cores[0])
        setup.wrk_cpus = {cores[-1]}
    return setup


def sharded_setup(
    stack: ExitStack, name: str, args: argparse.Namespace, folder: Path, src: Path | None = None
) -> Setup:
    """``serve --workers`` (of the code in ``src``, else this one), started, with its tenants."""
    port = harness.free_port()
    argv = harness.sandbox_argv(port, extra=["--workers", str(args.workers)])
    env = {"PYTHONPATH": str(src)} if src else None
    sharded = stack.enter_context(harness.running(name, argv, port, "/healthz", env))
    tenants = folder / f"{name}.tenants"
    per_shard = make_tenants(sharded.url, args.tenants, tenants)
    tree = descendants(sharded.pid)
    setup = Setup(
        name,
        sharded.url,
        tenants,
        [p for p in tree if command_name(p) != "haproxy"],
        [p for p in tree if command_name(p) == "haproxy"],
        per_shard,
    )
    if name.startswith("sharded-pin"):
        return pinned(setup, sharded.pid, everything=name == "sharded-pin-all")
    if name in BATCH:
        batch = setup.proxies + (setup.servers if name == "sharded-batch-all" else [])
        policy = os.SCHED_IDLE if name == "sharded-idle" else os.SCHED_BATCH
        for pid in batch:
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setscheduler(int(task.name), policy, os.sched_param(0))
    return setup


@contextmanager
def setups(args: argparse.Namespace, folder: Path) -> Iterator[list[Setup]]:
    with ExitStack() as stack:
        single_port = harness.free_port()
        single = stack.enter_context(
            harness.running("single", harness.sandbox_argv(single_port), single_port, "/healthz")
        )
        proxy = stack.enter_context(haproxy_in_front(single, folder))
        single_file = folder / "single.tenants"
        started = time.monotonic()
        single_shards = make_tenants(single.url, args.tenants, single_file)
        found = [
            Setup("direct", single.url, single_file, [single.pid], [], single_shards),
            Setup("proxied", proxy.url, single_file, [single.pid], [proxy.pid], single_shards),
        ]
        if "sharded" in SETUPS:
            found.append(sharded_setup(stack, "sharded", args, folder))
        if args.before:
            src = stack.enter_context(harness.exported(args.before))
            found.append(sharded_setup(stack, f"sharded@{args.before}", args, folder, src))
        if args.pin:
            found += [sharded_setup(stack, name, args, folder) for name in PINNED if name in SETUPS]
        if args.batch:
            found += [sharded_setup(stack, name, args, folder) for name in BATCH if name in SETUPS]
        if args.wrk_batch:
            bases = [s for s in found if s.name in ("direct", "sharded")]
            found += [replace(s, name=f"{s.name}-wrkbatch", wrk_batch=True) for s in bases]
        found = [setup for setup in found if setup.name in SETUPS]
        took = time.monotonic() - started
        print(f"created {len(found) - 1} x {args.tenants} tenants in {took:.1f} s", flush=True)
        yield found


def measure(found: list[Setup], args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    for round_no in range(args.rounds + 1):  # round 0: the warm-up, not reported
        seconds = args.warmup if round_no == 0 else args.seconds
        shift = round_no % len(found)
        for setup in found[shift:] + found[:shift]:
            run = run_once(setup, round_no, seconds, args)
            print(fmt_run(run), flush=True)
            if round_no > 0:
                runs.append(run)
    return runs


# -- report --------------------------------------------------------------------------------


def fmt_cpu(run: Run) -> str:
    servers = "+".join(f"{v:.0f}" for k, v in run.cpu.items() if k.startswith("server") and v >= 1)
    return (
        f"{servers or '0'}% | {run.role_cpu('haproxy'):.0f}% | {run.role_cpu('wrk'):.0f}% | "
        f"{run.role_cpu('softirq'):.0f}% | {run.role_cpu('others'):.0f}%"
    )


def fmt_run(run: Run) -> str:
    r = run.result
    return (
        f"| {run.round} | {run.setup} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
        f"{r.non2xx} | {fmt_cpu(run)} |"
    )


def median_run(runs: list[Run], setup: str) -> Run:
    mine = sorted((r for r in runs if r.setup == setup), key=lambda r: r.result.rps)
    return mine[len(mine) // 2]


def per_round(runs: list[Run], top: str, bottom: str) -> list[float]:
    rps = {(r.round, r.setup): r.result.rps for r in runs}
    rounds = sorted({r.round for r in runs})
    return [rps[(n, top)] / rps[(n, bottom)] for n in rounds]


def paired_server_cpu(runs: list[Run], top: str, bottom: str) -> list[float]:
    """The servers' CPU per request of ``top`` over ``bottom``'s, round by round."""
    per = {(r.round, r.setup): r.role_cpu("server") / r.result.rps for r in runs if r.result.rps}
    rounds = sorted({r.round for r in runs})
    return [
        per[(n, top)] / per[(n, bottom)] for n in rounds if (n, top) in per and (n, bottom) in per
    ]


def cpu_per_request(runs: list[Run], setup: str, kernel: bool = False) -> dict[str, float]:
    """Median CPU microseconds per request of each of our processes over ``setup``'s rounds
    (``kernel``: of their system time only)."""
    mine = [r for r in runs if r.setup == setup]
    names = [k for k in mine[0].cpu if k != "others"]
    return {
        name: harness.median(
            [
                (r.kernel if kernel else r.cpu)[name] * 10_000 / r.result.rps
                for r in mine
                if r.result.rps
            ]
        )
        for name in names
    }


def role_per_request(per: dict[str, float], role: str) -> float:
    return sum(v for k, v in per.items() if k.split()[0] == role)


def kernel_shares(runs: list[Run]) -> list[str]:
    """CPU us per request of each role (the servers summed), and how much of it is the kernel's."""
    lines = [
        "CPU us per request by role, all processes of the role summed (median rounds), and the "
        "kernel's (system time) part of it:",
        "",
        "| setup | servers | of which kernel | haproxy | of which kernel | wrk | of which kernel "
        "| softirq (no process's) | servers preempted per 1,000 requests |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in SETUPS:
        per, kernel = cpu_per_request(runs, name), cpu_per_request(runs, name, kernel=True)
        cells = []
        for role in ("server", "haproxy", "wrk"):
            total, system = role_per_request(per, role), role_per_request(kernel, role)
            share = f"{system:.0f} ({system / total:.0%})" if total else "-"
            cells += [f"{total:.0f}", share]
        cells.append(f"{per['softirq']:.0f}")
        mine = [r.preemptions for r in runs if r.setup == name]
        cells.append(f"{harness.median(mine):.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def projected_rps(per_request: dict[str, float], cores: int) -> float:
    """req/s on an idle machine of ``cores`` from CPU per request: all our processes share the
    cores, and each process (one thread each: a shard, HAProxy with nbthread 1, wrk -t1) uses
    one core at most."""
    total = sum(per_request.values())
    return min(cores * 1e6 / total, *(1e6 / us for us in per_request.values() if us > 0))


def projection(runs: list[Run]) -> list[str]:
    cores = os.cpu_count() or 1
    lines = [
        f"projection for an idle {cores}-core machine from CPU per request (an estimate, not a "
        "measurement: CPU per request is itself inflated on a busy machine):",
        "",
        "| setup | server us/req (each process) | haproxy | wrk | projected req/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    projected = {}
    for name in SETUPS:
        per = cpu_per_request(runs, name)
        projected[name] = projected_rps(per, cores)
        servers = " + ".join(
            f"{v:.0f}" for k, v in per.items() if k.startswith("server") and v >= 5
        )
        lines.append(
            f"| {name} | {servers} | {per.get('haproxy', 0):.0f} | {per['wrk']:.0f} | "
            f"{projected[name]:,.0f} |"
        )
    base = projected["direct"]
    lines += [
        "",
        "projected over direct: " + ", ".join(f"{k} {v / base:.2f}" for k, v in projected.items()),
    ]
    return lines


def report(runs: list[Run], found: list[Setup], args: argparse.Namespace) -> str:
    med = {name: median_run(runs, name) for name in SETUPS}
    header = (
        "| round | setup | req/s | p50 ms | p99 ms | non-2xx "
        "| server CPU | haproxy | wrk | softirq | others |"
    )
    rule = "| --- " * 11 + "|"
    spread = {name: [r.result.rps for r in runs if r.setup == name] for name in SETUPS}
    lines = [
        f"shards: {args.rounds} rounds x {args.seconds:g} s per setup, wrk -t{args.threads} "
        f"-c{args.connections}, {args.tenants} merchant tenants per setup "
        f"(per shard: {', '.join(f'{s.name} {s.shards}' for s in found if s.name != 'proxied')}), "
        f"40% POST entry / 30% GET balance / 30% GET page of {args.limit}, a random tenant "
        f"per request; {os.cpu_count()} cores, load average before: {LOADAVG_BEFORE}",
        "",
        header,
        rule,
        *(fmt_run(r) for r in runs),
        "",
        "CPU: per cent of one core during the run, from /proc; server CPU lists each server "
        "process; others: the rest of the machine meanwhile (not ours).",
        "",
        "median round of each setup (by req/s), and the spread of its rounds:",
        "",
        "| setup | req/s | p50 ms | p99 ms | non-2xx | req/s of every round |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {name} | {r.result.rps:,.0f} | {r.result.p50_ms:.2f} | {r.result.p99_ms:.2f} | "
            f"{r.result.non2xx} | {', '.join(f'{x:,.0f}' for x in spread[name])} |"
            for name, r in med.items()
        ),
        "",
    ]
    pairs = [("sharded", "direct"), ("sharded", "proxied"), ("proxied", "direct")]
    extra = [name for name in SETUPS if name not in ("direct", "proxied", "sharded")]
    pairs += [(name, "direct") for name in extra]
    pairs += [("sharded", name) if "@" in name else (name, "sharded") for name in extra]
    pairs += [("sharded-wrkbatch", "direct-wrkbatch"), ("direct-wrkbatch", "direct")]
    for top, bottom in (pair for pair in pairs if set(pair) <= set(SETUPS)):
        a, b = med[top].result, med[bottom].result
        rounds = per_round(runs, top, bottom)
        lines.append(
            f"{top}/{bottom}, median rounds: req/s {a.rps / b.rps:.2f}, p50 "
            f"{a.p50_ms / b.p50_ms:.2f}, p99 {a.p99_ms / b.p99_ms:.2f}; req/s per round "
            f"{', '.join(f'{x:.2f}' for x in rounds)} (median {harness.median(rounds):.2f})"
        )
    lines.append("goal: sharded/direct req/s >= 1.70")
    if {"sharded", "direct"} <= set(SETUPS):
        # Paired per round: the host's speed moves by up to 1.3x between windows, so the
        # medians of rounds taken at different times (the table below) say less of whether a
        # shard costs more per request than one process.
        ratios = paired_server_cpu(runs, "sharded", "direct")
        lines.append(
            f"servers' CPU us per request, sharded/direct, per round: "
            f"{', '.join(f'{x:.2f}' for x in ratios)} (median {harness.median(ratios):.2f})"
        )
    others = harness.median([r.cpu["others"] for r in runs])
    if others > 20:
        lines.append(
            f"WARNING: the rest of the machine used a median {others:.0f}% of a core during the "
            "runs; the sharded setup needs both cores, so these ratios mostly measure that load. "
            "Re-run on a quiet machine."
        )
    lines += ["", *projection(runs), "", *kernel_shares(runs)]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_load_options(parser, "setup", connections=32)
    parser.add_argument("--tenants", type=int, default=64, help="tenants per setup")
    parser.add_argument("--workers", type=int, default=2, help="shards of the sharded setup")
    parser.add_argument("--before", help="git revision: also its serve --workers, side by side")
    parser.add_argument("--pin", action="store_true", help="also serve --workers pinned to cores")
    parser.add_argument("--batch", action="store_true", help="also HAProxy as SCHED_BATCH")
    parser.add_argument(
        "--wrk-batch", action="store_true", help="also direct and sharded with wrk SCHED_BATCH"
    )
    parser.add_argument("--skip", nargs="+", default=[], help="setups not to run (not direct)")
    args = parser.parse_args()
    if args.before:
        SETUPS.append(f"sharded@{args.before}")
    if args.pin:
        SETUPS.extend(PINNED)
    if args.batch:
        SETUPS.extend(BATCH)
    if args.wrk_batch:
        SETUPS.extend(["direct-wrkbatch", "sharded-wrkbatch"])
    SETUPS[:] = [name for name in SETUPS if name == "direct" or name not in args.skip]
    return args


LOADAVG_BEFORE = Path("/proc/loadavg").read_text().split(" ", 3)[:3]


def main() -> None:
    args = parse_args()
    harness.ensure_wrk()
    haproxy_binary()
    with tempfile.TemporaryDirectory() as tmp, setups(args, Path(tmp)) as found:
        runs = measure(found, args)
        text = report(runs, found, args)
    print("\n" + text)
    harness.save_report("shards", text, runs)


if __name__ == "__main__":
    main()
