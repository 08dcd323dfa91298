"""The proxy hop's cost: CPU per request of HAProxy (as generated, and variants) and nginx.

One sandbox process (``--shard 1``, so its credentials name shard 1 and HAProxy's rules for
shard 0 are tried first, as for half the requests of ``serve --workers 2``) with ``--tenants``
merchant tenants; in front of it, all at once and measured in turns (the order rotating every
round), with the mix of shards.py (lua/tenants.lua, wrk -t1):

- ``direct``: no proxy;
- ``haproxy``: the configuration ``serve --workers 2`` generates (both shards at this process),
  over loopback TCP;
- ``haproxy-unix``: the same over a Unix socket of the same process (it listens on both,
  unix_serve.py), as ``serve --workers`` reaches its shards;
- ``haproxy-reuse``: the same plus ``http-reuse always``;
- ``haproxy-beg``: the same routing by prefix (``-m beg`` on the bearer's second word) instead
  of regular expressions;
- ``haproxy-norules``: no routing rule at all (every request to the one backend): the floor of
  what the rules cost;
- ``nginx`` (when an nginx binary is found; ``--nginx PATH``): the bearer header and the
  ``access_token`` parameter mapped to the shard (``map`` with regular expressions), upstream
  keep-alive, one worker: what nginx can route without a script (not HTTP Basic, not a form).

Measured per run from /proc (steady on a shared machine, unlike req/s): each process's CPU
microseconds per request (the proxy's with all its processes), wrk's (its rusage), and the TCP
connections the machine opened meanwhile (``ActiveOpens`` of /proc/net/snmp, minus wrk's own):
whether the proxy re-opens backend connections. Also wrk alone: the same mix against
``direct`` with a Lua ``request()`` per request (tenants.lua) against one fixed balance request
with and without a Lua callback, for what wrk's Lua costs.

    python bench/proxy_cost.py                      # 5 rounds x 6 s per setup, ~4 min
    python bench/proxy_cost.py --only direct haproxy haproxy-unix --rounds 6   # ~2 min
    python bench/proxy_cost.py --nginx /tmp/nginx-root/usr/sbin/nginx
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import harness
import shards
from gledger_sandbox.domain.sandbox.credentials import BEARER_PREFIXES
from gledger_sandbox.scaleout.haproxy import ShardAddress, render
from gledger_sandbox.scaleout.workers import haproxy_binary, proxy_threads


def open_connections(port: int) -> set[str]:
    """The client-side sockets (inodes) of the open TCP connections to local ``port``."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cells = line.split()
        if int(cells[2].rsplit(":", 1)[1], 16) == port and cells[9] != "0":
            found.add(cells[9])
    return found


@contextmanager
def connections_seen(port: int, every: float = 0.05) -> Iterator[set[str]]:
    """Every new connection to ``port`` open at some sample (each ``every`` s) inside: a
    proxy that re-opened its backend connection per request would show hundreds a run, one
    that keeps them one per client connection (the sandbox's side of a socket lives as
    long as the connection: a new one is a new inode)."""
    seen: set[str] = set()
    stop = threading.Event()
    idle = open_connections(port)  # other proxies' idle pools (nginx keeps some open)

    def sample() -> None:
        while not stop.wait(every):
            seen.update(open_connections(port) - idle)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


# -- the proxies' configurations -----------------------------------------------------------


def generated(listen: str, backend: str) -> str:
    shard_list = [ShardAddress(0, backend), ShardAddress(1, backend)]
    return render(listen, shard_list, threads=proxy_threads(2))


def with_reuse(text: str) -> str:
    return text.replace("    option forwardfor\n", "    option forwardfor\n    http-reuse always\n")


def by_prefix(text: str) -> str:
    """The bearer rules as prefix matches on the header's second word (no regex)."""
    out = []
    for line in text.splitlines():
        if "req.hdr(authorization) -m reg" in line:
            name = line.split()[1]
            tag = f"_s{name.removeprefix('to_shard')}_"
            prefixes = " ".join(p + tag for p in BEARER_PREFIXES)
            line = f"    acl {name} req.hdr(authorization),word(2,' ') -m beg {prefixes}"
        out.append(line)
    return "\n".join(out) + "\n"


def no_rules(text: str) -> str:
    keep = ("acl ", "use_backend ", "http-request wait-for-body")
    return "\n".join(x for x in text.splitlines() if not x.strip().startswith(keep)) + "\n"


HAPROXY_VARIANTS: dict[str, Callable[[str], str]] = {
    "haproxy": lambda text: text,
    "haproxy-reuse": with_reuse,
    "haproxy-beg": by_prefix,
    "haproxy-norules": no_rules,
}


def nginx_config(listen: str, backend: str, folder: Path) -> str:
    bearer = "|".join(BEARER_PREFIXES)
    return f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    map $http_authorization $by_header {{
        default "";
        "~*^bearer\\s+({bearer})_s0_" shard0;
        "~*^bearer\\s+({bearer})_s1_" shard1;
    }}
    map $arg_access_token $by_query {{
        default "";
        "~^({bearer})_s0_" shard0;
        "~^({bearer})_s1_" shard1;
    }}
    map "$by_header$by_query" $shard {{
        default any_shard;
        "~^(shard[0-9]+)" $1;
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    upstream shard0 {{ server {backend}; keepalive 64; }}
    upstream shard1 {{ server {backend}; keepalive 64; }}
    upstream any_shard {{ server {backend}; keepalive 64; }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://$shard;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


@contextmanager
def proxies(
    backend: harness.Server, unix: Path, folder: Path, nginx: str | None, only: set[str]
) -> Iterator[dict]:
    address = backend.url.removeprefix("http://")
    found: dict[str, harness.Server] = {}
    variants = [(name, variant, address) for name, variant in HAPROXY_VARIANTS.items()]
    variants.append(("haproxy-unix", HAPROXY_VARIANTS["haproxy"], f"unix@{unix}"))
    with ExitStack() as stack:
        for name, variant, backend_address in variants:
            if only and name not in only:
                continue
            port = harness.free_port()
            config = folder / f"{name}.cfg"
            config.write_text(variant(generated(f"{harness.HOST}:{port}", backend_address)))
            argv = [haproxy_binary(), "-db", "-f", str(config)]
            found[name] = stack.enter_context(harness.running(name, argv, port, "/healthz"))
        if nginx and (not only or "nginx" in only):
            port = harness.free_port()
            config = folder / "nginx.conf"
            config.write_text(nginx_config(f"{harness.HOST}:{port}", address, folder))
            argv = [
                nginx,
                "-p",
                str(folder),
                "-e",
                str(folder / "nginx-error.log"),
                "-c",
                str(config),
            ]
            found["nginx"] = stack.enter_context(harness.running("nginx", argv, port, "/healthz"))
        yield found


# -- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    round: int
    setup: str
    rps: float
    p99_ms: float
    non2xx: int
    server_us: float
    proxy_us: float
    wrk_us: float
    server_sys_us: float
    """The kernel's part (system time) of ``server_us``; the same for the proxy below."""
    proxy_sys_us: float
    softirq_us: float
    """The machine's soft-interrupt time per request (loopback TCP's delivery: no process's)."""
    machine_us: float
    """The whole machine's busy time per request (everything: ours, softirq, others)."""
    connects: int
    """TCP connections to the sandbox seen during the run (direct: wrk's own)."""


def run_once(
    name: str,
    url: str,
    pids: list[int],
    backend: harness.Server,
    script: str,
    wrk_args: list[str],
    round_no: int,
    args: argparse.Namespace,
) -> Run:
    server = backend.pid
    before = {pid: shards.cpu_split(pid) for pid in [server, *pids]}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    softirq, busy = shards.softirq_seconds(), shards.machine_busy_seconds()
    port = int(backend.url.rsplit(":", 1)[1])
    with connections_seen(port) as seen:
        result = harness.run_wrk(
            url, script, wrk_args, seconds=args.seconds, connections=args.connections, threads=1
        )
    opened = len(seen)
    softirq, busy = shards.softirq_seconds() - softirq, shards.machine_busy_seconds() - busy
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = result.requests or 1
    ended = {pid: shards.cpu_split(pid) for pid in before}
    spent = {pid: sum(ended[pid]) - sum(before[pid]) for pid in before}
    system = {pid: ended[pid][1] - before[pid][1] for pid in before}
    wrk = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return Run(
        round_no,
        name,
        result.rps,
        result.p99_ms,
        result.non2xx,
        spent[server] * 1e6 / done,
        sum(spent[p] for p in pids) * 1e6 / done,
        wrk * 1e6 / done,
        system[server] * 1e6 / done,
        sum(system[p] for p in pids) * 1e6 / done,
        softirq * 1e6 / done,
        busy * 1e6 / done,
        opened,
    )


def fmt(run: Run) -> str:
    return (
        f"| {run.round} | {run.setup} | {run.rps:,.0f} | {run.p99_ms:.1f} | {run.non2xx} | "
        f"{run.server_us:.0f} ({run.server_sys_us:.0f}) | {run.proxy_us:.0f} "
        f"({run.proxy_sys_us:.0f}) | {run.wrk_us:.1f} | {run.softirq_us:.0f} | "
        f"{run.machine_us:.0f} | {run.connects} |"
    )


def summary(runs: list[Run], names: list[str]) -> list[str]:
    """Medians per setup, and each proxy's us/request paired against haproxy's in its round."""
    lines = [
        "| setup | req/s | server us/req (kernel) | proxy us/req (kernel) | vs haproxy (paired) "
        "| server vs direct (paired) | wrk us/req | softirq us/req | machine us/req "
        "| machine vs direct (paired) | connections to the sandbox per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    direct = {r.round: r.server_us for r in runs if r.setup == "direct"}
    whole = {r.round: r.machine_us for r in runs if r.setup == "direct"}
    base = {r.round: r.proxy_us for r in runs if r.setup == "haproxy"}
    for name in names:
        mine = [r for r in runs if r.setup == name]
        med = {
            f: harness.median([getattr(r, f) for r in mine])
            for f in Run.__dataclass_fields__
            if f not in ("round", "setup")
        }
        paired = [r.proxy_us / base[r.round] for r in mine if base.get(r.round) and r.proxy_us]
        by_server = [r.server_us / direct[r.round] for r in mine if direct.get(r.round)]
        by_machine = [r.machine_us / whole[r.round] for r in mine if whole.get(r.round)]
        lines.append(
            f"| {name} | {med['rps']:,.0f} | {med['server_us']:.0f} ({med['server_sys_us']:.0f}) "
            f"| {med['proxy_us']:.0f} ({med['proxy_sys_us']:.0f}) | {paired_text(paired)} | "
            f"{paired_text(by_server)} | {med['wrk_us']:.1f} | {med['softirq_us']:.0f} | "
            f"{med['machine_us']:.0f} | {paired_text(by_machine)} | {med['connects']:.0f} |"
        )
    return lines


def paired_text(ratios: list[float]) -> str:
    """The median of per-round ratios, then each of them."""
    if not ratios:
        return "-"
    return f"{harness.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})"


def balance_lua(folder: Path, api_key: str, debit: str, with_callback: bool) -> str:
    """A wrk script (in ``folder``) asking one balance, with or without a Lua ``request()``."""
    head = 'dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")\nresponse = nil\n'
    head += f'wrk.path = "/v1/accounts/{debit}/balance"\n'
    head += f'wrk.headers["Authorization"] = "Bearer {api_key}"\n'
    if with_callback:
        head += "local fixed = wrk.format()\nfunction request() return fixed end\n"
    name = f"balance-{'lua' if with_callback else 'static'}.lua"
    (folder / name).write_text(head)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=32)
    parser.add_argument("--nginx", default=shutil.which("nginx"), help="nginx binary, if any")
    parser.add_argument("--only", nargs="+", default=[], help="these setups only (names above)")
    args = parser.parse_args()
    only = set(args.only)
    harness.ensure_wrk()
    loadavg = Path("/proc/loadavg").read_text().split(" ", 3)[:3]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        port = harness.free_port()
        unix = folder / "backend.sock"
        launcher = [str(harness.BENCH / "unix_serve.py")]
        argv = harness.sandbox_argv(port, launcher, extra=["--shard", "1"])
        env = {"BENCH_UNIX_SOCKET": str(unix)}
        backend = stack.enter_context(harness.running("backend", argv, port, "/healthz", env))
        found = stack.enter_context(proxies(backend, unix, folder, args.nginx, only))
        tenants = folder / "tenants"
        shards.make_tenants(backend.url, args.tenants, tenants)
        key, _, debit, _ = tenants.read_text().split("\n", 1)[0].split()
        # wrk's scripts are looked up in lua/: link this run's two there for the run.
        own = [balance_lua(folder, key, debit, cb) for cb in (False, True)]
        for name in own:
            (harness.LUA / f"tmp-{name}").unlink(missing_ok=True)
            (harness.LUA / f"tmp-{name}").symlink_to(folder / name)
        mix = ["tenants.lua", [str(tenants), harness.nonce(), "50"]]
        setups = [("direct", backend.url, [], *mix)]
        for name, proxy in found.items():
            pids = shards.descendants(proxy.pid)
            setups.append((name, proxy.url, pids, *mix))
        setups += [
            ("wrk: balance, static request", backend.url, [], f"tmp-{own[0]}", []),
            ("wrk: balance, Lua request()", backend.url, [], f"tmp-{own[1]}", []),
        ]
        setups = [s for s in setups if not only or s[0] in only]
        runs: list[Run] = []
        try:
            for round_no in range(args.rounds + 1):
                shift = round_no % len(setups)
                for name, url, pids, script, wrk_args in setups[shift:] + setups[:shift]:
                    run = run_once(name, url, pids, backend, script, wrk_args, round_no, args)
                    print(fmt(run), flush=True)
                    if round_no:
                        runs.append(run)
        finally:
            for name in own:
                (harness.LUA / f"tmp-{name}").unlink(missing_ok=True)
        nginx_version = ""
        if args.nginx:
            nginx_version = subprocess.run(
                [args.nginx, "-v"], capture_output=True, text=True
            ).stderr.strip()
    haproxy_version = subprocess.run(
        [haproxy_binary(), "-v"], capture_output=True, text=True
    ).stdout.split("\n", 1)[0]
    header = (
        "| round | setup | req/s | p99 ms | non-2xx | server us/req (kernel) "
        "| proxy us/req (kernel) | wrk us/req | softirq us/req | machine us/req "
        "| connections to the sandbox |"
    )
    text = "\n".join(
        [
            f"proxy_cost: {args.rounds} rounds x {args.seconds:g} s per setup, wrk -t1 "
            f"-c{args.connections}, {args.tenants} merchant tenants, the mix of shards.py; "
            f"{haproxy_version}; {nginx_version or 'no nginx'}; load average before: {loadavg}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            header,
            "| --- " * 11 + "|",
            *(fmt(r) for r in runs),
            "",
            "medians over the rounds (paired: each round's proxy us/req over haproxy's):",
            "",
            *summary(runs, [s[0] for s in setups]),
        ]
    )
    print("\n" + text)
    harness.save_report("proxy_cost", text, runs)


if __name__ == "__main__":
    main()
