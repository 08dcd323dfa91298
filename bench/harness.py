"""What the benchmarks share: free ports, the servers they start and stop, wrk runs, a setup client.

Everything here talks to 127.0.0.1 only. Every server is started in its own process group and
stopped (SIGTERM, then SIGKILL) when its ``with`` block ends, whatever happened inside it; every
wrk run is bounded by its ``--duration`` and by a hard timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "lua"
RESULTS = BENCH / "results"

# Servers start with bench/ as their working directory, where a relative PYTHONPATH
# (`PYTHONPATH=src python bench/x.py` from a checkout) names nothing: the installed package
# would be measured instead of the checkout's. Made absolute once, for every process started.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        str(Path(entry).resolve()) if entry else entry
        for entry in os.environ["PYTHONPATH"].split(os.pathsep)
    )
PRISM_BIN = BENCH / "node_modules" / ".bin" / "prism"
HOST = "127.0.0.1"
API_KEY = "gls_bench"


# -- tools ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages if missing (we run as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install")
    return found


def ensure_prism() -> Path:
    """bench/node_modules/.bin/prism, installed from bench/package-lock.json if missing."""
    if not PRISM_BIN.exists():
        print("prism not found: npm ci in bench/", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=600)
    return PRISM_BIN


# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


def _wait_ready(server: Server, path: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + path, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout} s; see {log}")


def _stop(server: Server) -> None:
    """SIGTERM to the server's own process group, SIGKILL if it lingers."""
    if server.process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running(
    name: str, argv: Sequence[str], port: int, ready_path: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=BENCH,
            env={**os.environ, **(env or {})},
        )
    server = Server(name, f"http://{HOST}:{port}", process)
    try:
        _wait_ready(server, ready_path, 90.0, log)
        yield server
    finally:
        _stop(server)


SERVE = ("-m", "gledger_sandbox", "serve")


def sandbox_argv(
    port: int, launcher: Sequence[str] = SERVE, extra: Sequence[str] = ()
) -> list[str]:
    """The command line of a sandbox on ``port`` (``launcher``: serve, or a script wrapping it)."""
    return [
        sys.executable,
        *launcher,
        "--host",
        HOST,
        "--port",
        str(port),
        "--api-key",
        API_KEY,
        "--log-level",
        "warning",
        *extra,
    ]


@contextmanager
def sandbox(
    name: str = "sandbox",
    gc_log: Path | None = None,
    extra: Sequence[str] = (),
    src: Path | None = None,
) -> Iterator[Server]:
    """Our server, as ``gledger-sandbox serve`` runs it (through gc_serve.py with ``gc_log``;
    the code of ``src`` rather than the installed one when given)."""
    port = free_port()
    launcher = [str(BENCH / "gc_serve.py")] if gc_log else SERVE
    argv = sandbox_argv(port, launcher, extra)
    env = {"BENCH_GC_LOG": str(gc_log)} if gc_log else {}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    with running(name, argv, port, "/healthz", env) as server:
        yield server


def measured_at(src: Path, code: str, timeout: float) -> dict[str, float]:
    """Run ``code`` in a fresh Python process on the code of ``src`` (with bench/ importable):
    the dict its last line of output prints as a ``repr`` (the bench scripts' own ``run_here``)."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{BENCH}"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    result: dict[str, float] = eval(done.stdout.strip().splitlines()[-1])  # our own repr
    return result


@contextmanager
def exported(revision: str) -> Iterator[Path]:
    """``src``, ``spec`` and ``fixtures`` of git ``revision``, exported (not checked out) into a
    temporary folder; yields its ``src`` (for PYTHONPATH)."""
    with tempfile.TemporaryDirectory(prefix="bench_rev_") as folder:
        archive = subprocess.run(
            ["git", "archive", revision, "src", "spec", "fixtures"],
            cwd=BENCH.parent,
            check=True,
            capture_output=True,
            timeout=120,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True, timeout=120)
        yield Path(folder) / "src"


def bundle_spec(target: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "gledger_sandbox", "spec", "bundle", "-o", str(target)],
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
    )
    return target


@contextmanager
def prism(spec: Path, name: str = "prism") -> Iterator[Server]:
    """``prism mock`` of the bundled spec: static examples, request validation, warn-level logs."""
    port = free_port()
    argv = [
        str(ensure_prism()),
        "mock",
        "--host",
        HOST,
        "--port",
        str(port),
        "--verboseLevel",
        "warn",
        str(spec),
    ]
    with running(name, argv, port, "/healthz") as server:
        yield server


def process_rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- wrk -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    non2xx_by_status: dict[str, int]
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    url: str,
    script: str,
    args: Sequence[str],
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
) -> WrkResult:
    """One wrk run of ``lua/<script>``; it stops by itself after ``seconds`` (or its cap)."""
    argv = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
        "--",
        *args,
    ]
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            raw: dict[str, Any] = json.loads(line.removeprefix("WRK_RESULT "))
            return _wrk_result(raw)
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def _wrk_result(raw: dict[str, Any]) -> WrkResult:
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non2xx=raw["non2xx"],
        non2xx_by_status=raw["non2xx_by_status"],
        socket_errors=raw["socket_errors"],
    )


def add_load_options(
    parser: argparse.ArgumentParser, side: str, connections: int | list[int]
) -> None:
    """The options of a mixed-load comparison: rounds, their length, wrk's load, the page
    (``connections`` a list: one run per count, several may be given)."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help=f"per {side} per round")
    parser.add_argument("--warmup", type=float, default=3.0, help=f"s per {side} before round 1")
    if isinstance(connections, list):
        parser.add_argument(
            "--connections", type=int, nargs="+", default=connections, help="one run per count"
        )
    else:
        parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--limit", type=int, default=50, help="limit of the listed page")


def save_report(name: str, text: str, rows: Sequence[Any]) -> None:
    """``results/<name>-<time>.md`` (the printed report) and ``.json`` (``rows``, dataclasses)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-{stamp}.md").write_text(text + "\n")
    (RESULTS / f"{name}-{stamp}.json").write_text(
        json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def nonce() -> str:
    return f"{os.getpid()}-{time.time_ns()}"


# -- setup client --------------------------------------------------------------------------


class Api:
    """A small synchronous client for setting up data (never used to measure)."""

    def __init__(self, base_url: str, api_key: str = API_KEY) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=120.0
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def new_tenant(self, fixture: str) -> str:
        """A fresh tenant seeded from ``fixture``; its API key."""
        created = self.call("POST", "/v1/sandbox/tenants", json={"fixture": fixture})
        return str(created["api_key"])

    def first_ledger(self) -> str:
        return str(self.call("GET", "/v1/ledgers")["data"][0]["id"])

    def account_id(self, ledger_id: str, code: str) -> str:
        page = self.call("GET", f"/v1/ledgers/{ledger_id}/accounts", params={"code": code})
        return str(page["data"][0]["id"])

    def mixed_args(self, api_key: str, limit: str = "50") -> list[str]:
        """The arguments of ``lua/mixed.lua`` for this tenant (``api_key``): its first ledger,
        cash to revenue, a fresh nonce for the Idempotency-Keys."""
        ledger = self.first_ledger()
        cash, revenue = self.account_id(ledger, "cash"), self.account_id(ledger, "revenue")
        return [api_key, ledger, cash, revenue, nonce(), limit]

    def close(self) -> None:
        self.client.close()


def fresh_tenant(base_url: str, fixture: str = "merchant") -> tuple[str, Api]:
    """A new tenant seeded from ``fixture``: its API key, and a setup client that uses it."""
    admin = Api(base_url)
    try:
        api_key = admin.new_tenant(fixture)
    finally:
        admin.close()
    return api_key, Api(base_url, api_key)
