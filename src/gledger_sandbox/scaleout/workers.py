"""``serve --workers N``: N shard processes on loopback and HAProxy in front of them.

Each shard is a whole sandbox (``bootstrap``) in a process of its own, numbered 0..N-1: the
tenants it creates carry its number in their ids and credentials, so the proxy routes their
requests back to it (``haproxy``). The listening sockets are bound here and handed to the
shards (no port can be taken in between); the proxy's configuration is generated into a
temporary folder. Whatever ends first (SIGINT/SIGTERM, a shard or the proxy exiting), every
process is stopped: the shards end their streams and finish their requests, as ``serve`` does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import warnings
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gledger_sandbox.domain.sandbox.credentials import Shard
from gledger_sandbox.scaleout.haproxy import ProxyTimeouts, ShardAddress, render

if TYPE_CHECKING:
    from gledger_sandbox.api.settings import Settings

LOOPBACK = "127.0.0.1"
START_SECONDS = 120.0
"""Time for every shard to seed its default tenant and answer, and for the proxy to route."""


class ScaleOutError(Exception):
    """The sharded sandbox could not start (no HAProxy, a shard that died, a bad config)."""


@dataclass(frozen=True, slots=True)
class Running:
    """What a started sharded sandbox tells its operator."""

    url: str
    shards: tuple[str, ...]
    config: Path
    api_key: str | None


def serve_shard(
    pickled_settings: bytes, sock: socket.socket, log_level: str, report: Connection | None
) -> None:
    """One shard process: the sandbox of its settings' shard on the socket bound for it.

    The settings come pickled, so that unpickling them (which imports the web stack) happens
    after the warning filter below. ``report`` (shard 0's): where the default tenant's API key
    is sent once the sandbox is built, for the banner (a state directory brings the tenant back
    with its own key, not the one the parent made).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the shards with SIGTERM
    # As the command does (cli.main): connexion 3.3 warns at import about starlette's client.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from gledger_sandbox.bootstrap import default_tenant, sandbox_app, serve, tune_garbage_collector

    settings: Settings = pickle.loads(pickled_settings)  # our own parent's bytes
    app, services = sandbox_app(settings)
    if report is not None:
        report.send(default_tenant(services).api_key if services.registry.tenants else None)
        report.close()
    tune_garbage_collector()
    serve(app, services, sock, log_level)


def shard_settings(settings: Settings, index: int, api_key: str | None) -> Settings:
    """Shard ``index``'s settings: its tag, the default tenant on shard 0 only, a state
    directory of its own (``DIR/shard-N``: a shard brings back its own tenants and no other's,
    and runs only their due work), trusting the proxy's ``X-Forwarded-For``."""
    connections = settings.connections
    trusted = connections.trusted_proxies
    if "*" not in trusted:  # uvicorn trusts any peer only for a list of "*" alone
        trusted = (*trusted, LOOPBACK)
    state_dir = settings.state_dir / f"shard-{index}" if settings.state_dir else None
    return replace(
        settings,
        shard=index,
        state_dir=state_dir,
        api_key=api_key if index == 0 else None,
        default_tenant=settings.default_tenant and index == 0,
        connections=replace(connections, trusted_proxies=trusted),
    )


SHARDS_PER_PROXY_THREAD = 8


def proxy_threads(workers: int) -> int:
    """HAProxy's threads for ``workers`` shards on the same machine: one per 8 shards.

    The proxy shares the cores with the shards. One thread routes a request in about 85 us of
    CPU, a shard serves one in about 900 us (bench/shards.py), so a thread keeps up with 8
    shards or more; HAProxy's default, a thread per core, would only compete with them.
    """
    return max(1, -(-workers // SHARDS_PER_PROXY_THREAD))


def counts_by_address(settings: Settings) -> bool:
    """Whether the shards count anything per client address (the tenant creation quota, the
    rate limit of anonymous calls): then the proxy sends one address to one shard."""
    return settings.public.tenant_creations_per_hour is not None or settings.rate_limit is not None


def yield_to_shards(pid: int) -> None:
    """Process ``pid`` (HAProxy) as ``SCHED_BATCH``: its wake-ups no longer preempt a shard.

    HAProxy shares the cores with the shards and wakes twice a request (request in, answer
    in), for about 20 us each. With the default policy each wake-up takes the core from a
    busy shard at once: a shard was preempted 1.4 times a request (bench/shards.py), each
    costing it a context switch and its caches, and HAProxy handled about one event per
    turn. As a batch task it runs when the shard's slice ends, with every event that came
    meanwhile: measured, shards preempted 6x less often, HAProxy's CPU per request 88 -> 48
    us, the shards' 691 -> 622 (both together), 1.11x the req/s (bench/README.md). No
    privilege is needed; where the policy does not exist (not Linux) nothing changes.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return
    threads = [pid]
    with contextlib.suppress(OSError):  # no /proc, or HAProxy gone: its main thread only
        threads = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    for thread in threads:
        # A thread gone, or a system that refuses the policy: the default stays.
        with contextlib.suppress(OSError):
            os.sched_setscheduler(thread, policy, os.sched_param(0))


def haproxy_binary() -> str:
    found = shutil.which("haproxy")
    if found is None:
        raise ScaleOutError(
            "--workers needs HAProxy on the PATH (Debian/Ubuntu: apt-get install -y haproxy); "
            "or run each shard with --shard and your own proxy, as deploy/ shows"
        )
    return found


class ShardedSandbox:
    """N shards and the proxy, started by ``start`` and stopped by ``stop`` (or the context)."""

    def __init__(
        self, settings: Settings, workers: int, host: str, port: int, log_level: str
    ) -> None:
        self.settings = settings
        self.workers = workers
        self.host, self.port = host, port
        self.log_level = log_level
        self.shards: list[BaseProcess] = []
        self.proxy: subprocess.Popen[bytes] | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="gledger-haproxy-"))
        self.stopped = threading.Event()

    def start(self) -> Running:
        from gledger_sandbox.bootstrap import listen

        binary = haproxy_binary()
        public = listen(self.host, self.port)  # fails early on a busy port, picks one for 0
        port = public.getsockname()[1]
        public.close()
        host = f"[{self.host}]" if ":" in self.host else self.host
        api_key = self.settings.api_key
        if self.settings.default_tenant and api_key is None:
            api_key = Shard(0).api_key()  # made here, so the banner can show it
        addresses, report = self._start_shards(api_key)
        config = self.folder / "haproxy.cfg"
        keepalive = self.settings.streams.keepalive_seconds
        timeouts = ProxyTimeouts(idle=max(60.0, 4 * keepalive))
        text = render(
            f"{host}:{port}",
            addresses,
            timeouts,
            threads=proxy_threads(self.workers),
            by_address=counts_by_address(self.settings),
            trusted=self.settings.connections.trusted_proxies,
        )
        config.write_text(text, encoding="utf-8")
        checked = subprocess.run(
            [binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if checked.returncode != 0:
            raise ScaleOutError(f"HAProxy refused {config}: {checked.stderr.strip()}")
        self.proxy = subprocess.Popen([binary, "-db", "-f", str(config)])
        yield_to_shards(self.proxy.pid)  # before HAProxy starts its threads, which inherit it
        url = f"http://{host}:{port}"
        shard_urls = tuple(f"http://{a.address}" for a in addresses)
        self._wait_healthy([*shard_urls, url])
        yield_to_shards(self.proxy.pid)  # and any thread it started meanwhile
        if report.poll(START_SECONDS):  # sent before shard 0 answered its health check
            api_key = report.recv()
        report.close()
        return Running(url, shard_urls, config, api_key)

    def _start_shards(self, api_key: str | None) -> tuple[list[ShardAddress], Connection]:
        """The shards, started; and where shard 0 reports its default tenant's API key."""
        from gledger_sandbox.bootstrap import listen

        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop
        addresses = []
        report, reporter = spawn.Pipe(duplex=False)
        for index in range(self.workers):
            sock = listen(LOOPBACK, 0)
            address = f"{LOOPBACK}:{sock.getsockname()[1]}"
            settings = shard_settings(self.settings, index, api_key)
            process = spawn.Process(
                target=serve_shard,
                args=(
                    pickle.dumps(settings),
                    sock,
                    self.log_level,
                    reporter if index == 0 else None,
                ),
                name=f"gledger-shard-{index}",
            )
            process.start()
            sock.close()  # the shard holds its own copy
            self.shards.append(process)
            addresses.append(ShardAddress(index, address))
        reporter.close()  # shard 0 holds its own end
        return addresses, report

    def _wait_healthy(self, urls: list[str]) -> None:
        deadline = time.monotonic() + START_SECONDS
        for url in urls:
            while True:
                self._check_alive()
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise ScaleOutError(f"{url} did not answer /healthz within {START_SECONDS} s")
                time.sleep(0.1)

    def _check_alive(self) -> None:
        for process in self.shards:
            if not process.is_alive():
                raise ScaleOutError(f"{process.name} exited (status {process.exitcode})")
        if self.proxy is not None and self.proxy.poll() is not None:
            raise ScaleOutError(f"HAProxy exited (status {self.proxy.returncode})")

    def wait(self) -> None:
        """Until SIGINT/SIGTERM, or a shard or the proxy exits."""

        def stop(_signal: int, _frame: FrameType | None) -> None:
            self.stopped.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not self.stopped.wait(0.5):
            try:
                self._check_alive()
            except ScaleOutError:
                return

    def stop(self) -> None:
        """The proxy first (no new requests), then each shard, within its shutdown timeout."""
        grace = self.settings.connections.shutdown_timeout + 5
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.terminate()
            try:
                self.proxy.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                self.proxy.wait()
        for process in self.shards:
            if process.is_alive():
                process.terminate()
        for process in self.shards:
            process.join(timeout=grace)
            if process.is_alive():
                process.kill()
                process.join()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ShardedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
