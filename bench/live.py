"""The live side of the sandbox: webhook delivery latency, and what open SSE streams cost the API.

One sandbox server (``gledger-sandbox serve``, run through gc_serve.py so that its full garbage
collections are logged and reported per run) and two measurements:

1. **Webhooks: event-to-delivery latency.** The bench process runs a minimal HTTP/1.1 receiver
   on 127.0.0.1 (``asyncio.start_server``; it answers 204 at once and records
   ``time.perf_counter()`` when a request's body is in) and, on the same event loop, an
   ``httpx.AsyncClient`` that POSTs ``--posts`` entries one at a time, paced at ``--rate`` per
   second, to a fresh ``merchant`` tenant with one endpoint for ``entry.created``. The latency of
   an entry is its webhook's arrival minus the moment just before its POST was sent: it includes
   the API's own handling of the POST, so it is an upper bound on commit -> delivery. Arrival
   minus the POST's answer is a second column (negative when the webhook lands before the
   answer). Every delivery's Standard Webhooks signature is checked (``standardwebhooks``) after
   the measurement. This runs twice: idle, then while wrk drives the mixed workload
   (``lua/mixed.lua``, as in ``mixed.py``) on another tenant for the whole measurement.

2. **Streams: mixed throughput with 0 vs N open SSE streams.** The mixed workload (wrk -t1 -c8,
   a fresh ``merchant`` tenant per run, deleted after it) in rounds of three runs, after a
   warm-up, in an order that swaps every round: (a) no stream open; (b) ``--streams`` SSE
   streams open on a separate idle tenant (they get only keep-alives: the cost of open streams
   as such); (c) as many streams on the loaded tenant itself with ``types=entry.created``, so
   every POST fans out to all of them. The streams are opened by a helper process (this
   script with ``--streams-helper``: uvloop if installed, raw sockets, one protocol object per
   stream counting frames), so they do not compete with wrk or the bench process; each run
   reports the CPU of the server, of the helper and of the whole machine. Every stream has its
   200 and first bytes before wrk starts, and they keep reading throughout. In (c) the events
   each stream received are compared with the ``entry.created`` events the run committed (from
   ``GET /v1/events``).

The report gives the latency percentiles, every run, the median run (by req/s) per condition,
and the ratios (b)/(a) and (c)/(a), median runs and per round. Goals (from the issue): webhook
p99 < 50 ms; throughput with the streams open >= 0.8x without.

    python bench/live.py              # 500 webhooks x 2, 3 rounds x 3 runs x 10 s, 500 streams
    python bench/live.py --quick      # a smoke run of about 30 s (its figures are not to be read)
    python bench/live.py --rate 100 --streams 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

import harness
from growth import GcPauses, gc_pauses
from harness import Api, Server, WrkResult
from mixed import Target, cpu_seconds, drop_tenant, sandbox_target

CONDITIONS = {
    "a": "no streams",
    "b": "streams on an idle tenant",
    "c": "streams on the loaded tenant",
}
GOAL_P99_MS = 50.0
GOAL_RATIO = 0.8


# -- small helpers -------------------------------------------------------------------------


def raise_nofile(need: int) -> int:
    """Raise this process's soft open-file limit to ``need`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def open_files_limit(pid: int) -> int:
    """The soft open-file limit of a running process (/proc/<pid>/limits)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return sys.maxsize if value == "unlimited" else int(value)
    return 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p90: float
    p99: float
    max: float
    min: float

    @staticmethod
    def of(values_ms: list[float]) -> Summary:
        return Summary(
            len(values_ms),
            percentile(values_ms, 50),
            percentile(values_ms, 90),
            percentile(values_ms, 99),
            max(values_ms, default=float("nan")),
            min(values_ms, default=float("nan")),
        )


def entry_body(target: Target) -> bytes:
    return json.dumps(
        {
            "ledger_id": target.ledger_id,
            "lines": [
                {"account_id": target.debit_account, "direction": "debit", "amount": 100},
                {"account_id": target.credit_account, "direction": "credit", "amount": 100},
            ],
        }
    ).encode()


def mixed_load(target: Target, seconds: float, args: argparse.Namespace) -> WrkResult:
    """The mixed workload of mixed.py (50-entry pages) on ``target`` for ``seconds``."""
    return harness.run_wrk(
        target.server.url,
        "mixed.lua",
        target.wrk_args(harness.nonce(), 50),
        seconds=seconds,
        connections=args.connections,
        threads=args.threads,
    )


# -- 1. webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A minimal HTTP/1.1 server (keep-alive, Content-Length bodies) answering 204 to everything.

    It runs on the caller's event loop and records the arrival time of every request; parsing
    and signature checks happen later, outside the measurement.
    """

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, harness.HOST, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers: dict[str, str] = {}
                for line in lines:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                at = time.perf_counter()
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                parts = request_line.split(" ")
                self.arrivals.append(Arrival(at, parts[1] if len(parts) > 1 else "", headers, body))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # the sender closed the connection (or sent something this parser cannot read)
        except ValueError:
            pass  # a Content-Length that is no number: drop the connection
        except asyncio.CancelledError:
            pass  # the bench is ending while the sandbox keeps this connection alive
        finally:
            writer.close()

    async def wait_for(self, path: str, count: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if sum(a.path == path for a in self.arrivals) >= count:
                return
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Sent:
    entry_id: str
    status: int
    sent: float
    answered: float


@dataclass
class Latency:
    condition: str
    posts: int
    rate: float
    post_seconds: float
    non201: int
    delivered: int
    """Entries whose webhook arrived (each counted once)."""
    deliveries: int
    """Requests the receiver got on this endpoint (retries and repeats included)."""
    retried: int
    bad_signatures: int
    before_answer: int
    """Webhooks that arrived before their POST's answer."""
    out_of_order: int
    """Arrivals whose x-gledger-sequence is lower than an earlier arrival's."""
    sent_to_arrival_ms: Summary
    answer_to_arrival_ms: Summary
    post_ms: Summary
    server_cpu_percent: float
    gc: GcPauses = field(default_factory=GcPauses)
    """The server's full collections while posting."""
    load: WrkResult | None = None
    load_seconds: float = 0.0


async def post_entries(
    client: httpx.AsyncClient, target: Target, count: int, rate: float
) -> list[Sent]:
    """POST ``count`` entries one at a time, the i-th not before start + i / rate."""
    body = entry_body(target)
    prefix = harness.nonce()
    sent: list[Sent] = []
    start = time.perf_counter()
    for i in range(count):
        if rate > 0:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"{prefix}-{i}"}
        began = time.perf_counter()
        response = await client.post("/v1/entries", content=body, headers=headers)
        answered = time.perf_counter()
        entry_id = str(response.json().get("id", "")) if response.status_code == 201 else ""
        sent.append(Sent(entry_id, response.status_code, began, answered))
    return sent


def create_endpoint(target: Target, url: str) -> str:
    """A webhook endpoint for entry.created on the target's tenant; its secret."""
    api = Api(target.server.url, target.api_key)
    try:
        created = api.call(
            "POST", "/v1/webhook-endpoints", json={"url": url, "event_types": ["entry.created"]}
        )
    finally:
        api.close()
    return str(created["secret"])


def latency_of(
    condition: str,
    sent: list[Sent],
    arrivals: list[Arrival],
    secret: str,
    args: argparse.Namespace,
    post_seconds: float,
    server_cpu: float,
) -> Latency:
    webhook = Webhook(secret)
    first: dict[str, Arrival] = {}
    bad = retried = out_of_order = 0
    last_sequence = 0
    for arrival in arrivals:
        try:
            webhook.verify(arrival.body, arrival.headers, json_parse=False)
        except WebhookVerificationError:
            bad += 1
        if arrival.headers.get("x-gledger-attempt", "1") != "1":
            retried += 1
        sequence = int(arrival.headers.get("x-gledger-sequence", "0"))
        out_of_order += sequence < last_sequence
        last_sequence = max(last_sequence, sequence)
        entry_id = str(json.loads(arrival.body)["data"]["id"])
        first.setdefault(entry_id, arrival)
    to_sent, to_answer = [], []
    for s in sent:
        arrival = first.get(s.entry_id)
        if s.status == 201 and arrival is not None:
            to_sent.append((arrival.at - s.sent) * 1000)
            to_answer.append((arrival.at - s.answered) * 1000)
    return Latency(
        condition=condition,
        posts=len(sent),
        rate=args.rate,
        post_seconds=post_seconds,
        non201=sum(s.status != 201 for s in sent),
        delivered=len(to_sent),
        deliveries=len(arrivals),
        retried=retried,
        bad_signatures=bad,
        before_answer=sum(x < 0 for x in to_answer),
        out_of_order=out_of_order,
        sent_to_arrival_ms=Summary.of(to_sent),
        answer_to_arrival_ms=Summary.of(to_answer),
        post_ms=Summary.of([(s.answered - s.sent) * 1000 for s in sent]),
        server_cpu_percent=server_cpu,
    )


async def webhook_run(
    server: Server, receiver: Receiver, port: int, loaded: bool, args: argparse.Namespace
) -> Latency:
    condition = "under load" if loaded else "idle"
    path = f"/hook/{'load' if loaded else 'idle'}"
    target = sandbox_target(server)
    secret = create_endpoint(target, f"http://{harness.HOST}:{port}{path}")
    load_target = sandbox_target(server) if loaded else None
    load_task: asyncio.Future[WrkResult] | None = None
    expected_post = args.posts / args.rate if args.rate > 0 else args.posts * 0.01
    load_seconds = float(math.ceil(args.lead + expected_post + 5.0))  # wrk takes whole seconds
    headers = {"Authorization": f"Bearer {target.api_key}"}
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30.0) as client:
            await client.get("/v1/ledgers")  # connect before measuring
            if load_target is not None:
                load_task = asyncio.ensure_future(
                    asyncio.to_thread(mixed_load, load_target, load_seconds, args)
                )
                await asyncio.sleep(args.lead)
            cpu_before, started, wall = cpu_seconds(server.pid), time.perf_counter(), time.time()
            sent = await post_entries(client, target, args.posts, args.rate)
            post_seconds = time.perf_counter() - started
            cpu = (cpu_seconds(server.pid) - cpu_before) / post_seconds * 100
            expected = sum(s.status == 201 for s in sent)
            await receiver.wait_for(path, expected, args.grace)
        load = await load_task if load_task is not None else None
    finally:
        if load_task is not None and not load_task.done():
            with contextlib.suppress(Exception):
                await load_task
        drop_tenant(target)
        if load_target is not None:
            drop_tenant(load_target)
    mine = [a for a in receiver.arrivals if a.path == path]
    result = latency_of(condition, sent, mine, secret, args, post_seconds, cpu)
    result.load, result.load_seconds = load, load_seconds
    result.gc = gc_pauses(args.gc_log, wall, wall + post_seconds)
    return result


async def measure_webhooks(server: Server, args: argparse.Namespace) -> list[Latency]:
    receiver = Receiver()
    port = await receiver.start()
    try:
        results = []
        for loaded in (False, True):
            result = await webhook_run(server, receiver, port, loaded, args)
            print(fmt_latency(result), flush=True)
            results.append(result)
        return results
    finally:
        await receiver.stop()


# -- 2. streams: the helper process --------------------------------------------------------


class _Stream(asyncio.Protocol):
    """One SSE reader: counts frames (a blank line ends each event) as the bytes come."""

    def __init__(self, request: bytes, ready: asyncio.Future[None]) -> None:
        self.request = request
        self.ready = ready
        self.status = 0
        self.events = 0
        self.keepalives = 0
        self.errors = 0
        self.bytes = 0
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self._head = b""
        self._last = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if not self.ready.done():
            self._head += data
            head, sep, rest = self._head.partition(b"\r\n\r\n")
            if not sep:
                return
            self.status = int(head[9:12] or 0)
            if self.status != 200:
                self.ready.set_exception(RuntimeError(head.split(b"\r\n")[0].decode()))
                return
            if b"gledger event stream" not in rest:
                return  # 200, but no byte of the body yet
            self.ready.set_result(None)
            data, self._head = rest, b""
        # A frame is `id:`/`event:`/`data:` lines and a blank line; the data is one JSON line,
        # and the chunked encoding's own lines end with CRLF, so "\n\n" counts events.
        self.events += (self._last + data).count(b"\n\n")
        self.keepalives += data.count(b": keep-alive")
        self.errors += data.count(b"event: error")
        self._last = data[-1:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before the stream started"))


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _snapshot(streams: list[_Stream]) -> dict[str, Any]:
    return {
        "open": sum(not s.closed for s in streams),
        "events": [s.events for s in streams],
        "keepalives": sum(s.keepalives for s in streams),
        "errors": sum(s.errors for s in streams),
        "bytes": sum(s.bytes for s in streams),
    }


async def _helper(config: dict[str, Any]) -> None:
    """Open the streams, say when all are ready, then answer ``count``/``stop`` on stdin."""
    count = int(config["count"])
    raise_nofile(count + 256)
    url = urlsplit(config["url"])
    host, port = url.hostname or harness.HOST, url.port or 80
    request = (
        f"GET /v1/events/stream?types={config['types']} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {config['api_key']}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(50)

    async def open_one() -> _Stream:
        ready: asyncio.Future[None] = loop.create_future()
        async with gate:
            _, stream = await loop.create_connection(lambda: _Stream(request, ready), host, port)
            await asyncio.wait_for(ready, 30.0)
        return stream

    started = time.perf_counter()
    opened = await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
    streams = [s for s in opened if isinstance(s, _Stream)]
    failures = [repr(s) for s in opened if not isinstance(s, _Stream)]
    _say(
        {
            "ready": len(streams),
            "failed": len(failures),
            "failures": failures[:3],
            "seconds": time.perf_counter() - started,
        }
    )
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        _say(_snapshot(streams))
        if command != "count":
            break
    for stream in streams:
        if stream.transport is not None:
            stream.transport.close()


def run_helper(config: dict[str, Any]) -> None:
    """The helper's main: on uvloop when installed (uvicorn's loop: less CPU per socket read)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(_helper(config))
    else:
        uvloop.run(_helper(config))


# -- 2. streams: the bench side ------------------------------------------------------------


class Streams:
    """The helper process, seen from the bench: ask it for counts, stop it."""

    def __init__(self, process: subprocess.Popen[str], opened: dict[str, Any]) -> None:
        self.process = process
        self.opened = opened

    def ask(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return _read_message(self.process, timeout)


def _read_message(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError(f"the stream helper said nothing within {timeout:g} s")
    message: dict[str, Any] = json.loads(line)
    return message


@contextmanager
def open_streams(server: Server, api_key: str, count: int, types: str) -> Iterator[Streams]:
    """``count`` SSE streams held open by a helper process, all started (200 + first bytes)."""
    config = {"url": server.url, "api_key": api_key, "count": count, "types": types}
    log = (harness.RESULTS / "streams-helper.log").open("a")
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--streams-helper", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        cwd=harness.BENCH,
    )
    try:
        opened = _read_message(process, 120.0)
        if opened["ready"] != count:
            raise RuntimeError(
                f"only {opened['ready']} of {count} streams started: {opened}; "
                f"see {harness.RESULTS / 'streams-helper.log'}"
            )
        yield Streams(process, opened)
    finally:
        if process.poll() is None:
            with contextlib.suppress(Exception):
                assert process.stdin is not None
                process.stdin.write("stop\n")
                process.stdin.flush()
                process.wait(timeout=10.0)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5.0)
        log.close()


def count_events(server: Server, api_key: str, event_type: str) -> int:
    """The tenant's events of one type, read through GET /v1/events."""
    api = Api(server.url, api_key)
    total, after = 0, 0
    try:
        while True:
            page = api.call(
                "GET", "/v1/events", params={"after": after, "types": event_type, "limit": 500}
            )
            total += len(page["data"])
            after = page["next_after"]
            if not page["has_more"]:
                return total
    finally:
        api.close()


@dataclass
class StreamRun:
    round: int
    condition: str
    result: WrkResult
    server_cpu_percent: float
    machine_cpu_percent: float
    """All processes on the machine (100% = one core): the server, wrk, the helper, others."""
    helper_cpu_percent: float = 0.0
    streams: int = 0
    connect_seconds: float = 0.0
    open_after: int = 0
    events_expected: int = 0
    events_min: int = 0
    events_median: float = 0.0
    events_max: int = 0
    caught_up_seconds: float | None = None
    """When every stream had every event, s after wrk ended (0: already then; None: not)."""
    keepalives: int = 0
    error_frames: int = 0
    received_mib: float = 0.0
    gc: GcPauses = field(default_factory=GcPauses)
    """The server's full collections during the run."""


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU time of the whole machine so far (/proc/stat), in clock ticks."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU used by some processes and by the whole machine between start and stop."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.percent: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy()
        self._started = time.monotonic()
        self.wall = (time.time(), time.time())
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.monotonic() - self._started
        self.wall = (self.wall[0], time.time())
        for name, pid in self.pids.items():
            self.percent[name] = (cpu_seconds(pid) - self._before[name]) / elapsed * 100
        busy, total = machine_busy()
        share = (busy - self._machine[0]) / max(total - self._machine[1], 1.0)
        self.percent["machine"] = share * 100 * (os.cpu_count() or 1)


def stream_run(
    server: Server, idle_key: str, condition: str, round_no: int, args: argparse.Namespace
) -> StreamRun:
    target = sandbox_target(server)
    try:
        if condition == "a":
            with CpuMeter({"server": server.pid}) as cpu:
                result = mixed_load(target, args.seconds, args)
            return StreamRun(
                round_no,
                condition,
                result,
                cpu.percent["server"],
                cpu.percent["machine"],
                gc=gc_pauses(args.gc_log, *cpu.wall),
            )
        key = target.api_key if condition == "c" else idle_key
        events_before = count_events(server, key, "entry.created")
        with open_streams(server, key, args.streams, "entry.created") as streams:
            with CpuMeter({"server": server.pid, "helper": streams.process.pid}) as cpu:
                result = mixed_load(target, args.seconds, args)
            ended = time.monotonic()
            at_end = streams.ask("count")
            expected = count_events(server, key, "entry.created") - events_before
            counts, looked = at_end, 0.0
            while min(counts["events"]) < expected and looked < args.catch_up:
                time.sleep(0.2)
                counts, looked = streams.ask("count"), time.monotonic() - ended
            final = streams.ask("stop")
        events = at_end["events"]
        return StreamRun(
            round=round_no,
            condition=condition,
            result=result,
            server_cpu_percent=cpu.percent["server"],
            machine_cpu_percent=cpu.percent["machine"],
            helper_cpu_percent=cpu.percent["helper"],
            streams=args.streams,
            connect_seconds=streams.opened["seconds"],
            open_after=final["open"],
            events_expected=expected,
            events_min=min(events),
            events_median=statistics.median(events),
            events_max=max(events),
            caught_up_seconds=looked if min(counts["events"]) >= expected else None,
            keepalives=final["keepalives"],
            error_frames=final["errors"],
            received_mib=final["bytes"] / 2**20,
            gc=gc_pauses(args.gc_log, *cpu.wall),
        )
    finally:
        drop_tenant(target)


def measure_streams(server: Server, args: argparse.Namespace) -> list[StreamRun]:
    admin = Api(server.url)
    idle_key = admin.new_tenant("empty")
    admin.close()
    runs: list[StreamRun] = []
    if args.warmup > 0:
        warm = sandbox_target(server)
        mixed_load(warm, args.warmup, args)
        drop_tenant(warm)
    for round_no in range(1, args.rounds + 1):
        order = list(CONDITIONS) if round_no % 2 else list(reversed(CONDITIONS))
        for condition in order:
            run = stream_run(server, idle_key, condition, round_no, args)
            print(fmt_stream_run(run), flush=True)
            runs.append(run)
    return runs


# -- report --------------------------------------------------------------------------------


def server_log_notes(log: Path) -> list[str]:
    """Lines of the server's log that look like trouble (it logs at warning level)."""
    words = ("error", "exception", "traceback", "warning", "critical")
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [line for line in lines if any(w in line.lower() for w in words)]


def fmt_gc(gc: GcPauses) -> str:
    return f"{gc.count} ({gc.max_ms:.0f} ms)" if gc.count else "0"


def fmt_latency(r: Latency) -> str:
    s, a, p = r.sent_to_arrival_ms, r.answer_to_arrival_ms, r.post_ms
    return (
        f"| {r.condition} | {r.delivered}/{r.posts} | {s.p50:.2f} | {s.p90:.2f} | {s.p99:.2f} | "
        f"{s.max:.2f} | {a.p50:.2f} | {a.p99:.2f} | {r.before_answer} | {p.p50:.2f} | "
        f"{p.p99:.2f} | {r.server_cpu_percent:.0f}% | {fmt_gc(r.gc)} |"
    )


def fmt_stream_run(run: StreamRun) -> str:
    r = run.result
    streams = (
        f"{run.open_after}/{run.streams} | {run.events_min:,}/{run.events_expected:,} | "
        f"{run.helper_cpu_percent:.0f}%"
        if run.streams
        else "- | - | -"
    )
    return (
        f"| {run.round} | ({run.condition}) {CONDITIONS[run.condition]} | {r.rps:,.0f} | "
        f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.non2xx} | {run.server_cpu_percent:.0f}% | "
        f"{cpu_ms_per_request(run):.2f} | "
        f"{run.machine_cpu_percent:.0f}% | {fmt_gc(run.gc)} | {streams} |"
    )


def cpu_ms_per_request(run: StreamRun) -> float:
    """Server CPU per answered request (ms): what the streams cost, whatever else runs."""
    return run.server_cpu_percent * 10 / run.result.rps if run.result.rps else float("nan")


def median_run(runs: list[StreamRun], condition: str) -> StreamRun:
    mine = sorted((r for r in runs if r.condition == condition), key=lambda r: r.result.rps)
    return mine[len(mine) // 2]


def latency_ok(r: Latency) -> bool:
    complete = r.delivered == r.posts and r.bad_signatures == 0
    return complete and r.sent_to_arrival_ms.p99 < GOAL_P99_MS


def webhook_section(latencies: list[Latency], args: argparse.Namespace) -> list[str]:
    pacing = f"paced at {args.rate:g}/s" if args.rate > 0 else "back to back"
    lines = [
        f"### 1. Webhook event-to-delivery latency ({args.posts} entries per condition, one POST "
        f"at a time, {pacing}; ms)",
        "",
        "| condition | delivered | sent->arrival p50 | p90 | p99 | max | answer->arrival p50 | "
        "p99 | arrived before answer | POST p50 | POST p99 | server CPU | full GCs (longest) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(fmt_latency(r) for r in latencies),
        "",
    ]
    for r in latencies:
        lines.append(
            f"- {r.condition}: {r.deliveries} deliveries for {r.delivered} entries "
            f"(retried {r.retried}, bad signatures {r.bad_signatures}, out of sequence order "
            f"{r.out_of_order}), POSTs non-201 {r.non201}, posting took {r.post_seconds:.1f} s"
        )
        if r.load is not None:
            w = r.load
            lines.append(
                f"  - load during it (wrk -t{args.threads} -c{args.connections} mixed, "
                f"{r.load_seconds:.0f} s, another tenant): {w.rps:,.0f} req/s, p50 "
                f"{w.p50_ms:.2f} ms, p99 {w.p99_ms:.2f} ms, non-2xx {w.non2xx}"
            )
    verdicts = ", ".join(
        f"{r.condition} {r.sent_to_arrival_ms.p99:.1f} ms ({'met' if latency_ok(r) else 'NOT met'})"
        for r in latencies
    )
    lines += ["", f"goal: p99 sent->arrival < {GOAL_P99_MS:g} ms, all delivered: {verdicts}"]
    return lines


def stream_section(runs: list[StreamRun], args: argparse.Namespace) -> list[str]:
    medians = {c: median_run(runs, c) for c in CONDITIONS}
    base = medians["a"].result

    def per_round(condition: str) -> list[float]:
        return [
            next(r for r in runs if r.round == n and r.condition == condition).result.rps
            / next(r for r in runs if r.round == n and r.condition == "a").result.rps
            for n in range(1, args.rounds + 1)
        ]

    lines = [
        f"### 2. Mixed throughput with 0 vs {args.streams} open SSE streams ({args.rounds} rounds "
        f"x 3 runs x {args.seconds:g} s, wrk -t{args.threads} -c{args.connections})",
        "",
        "| round | condition | req/s | p50 ms | p99 ms | non-2xx | server CPU | server CPU ms "
        "per request | machine CPU | full GCs (longest) | streams open at end | events at wrk's "
        "end, fewest per stream / committed | helper CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(fmt_stream_run(r) for r in runs),
        "",
        "median run per condition (by req/s):",
        "",
        "| condition | req/s | p50 ms | p99 ms | non-2xx | ratio req/s to (a) | p99 ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c, run in medians.items():
        r = run.result
        lines.append(
            f"| ({c}) {CONDITIONS[c]} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.non2xx} | {r.rps / base.rps:.2f} | {r.p99_ms / base.p99_ms:.2f} |"
        )
    lines.append("")
    for c in ("b", "c"):
        ratios = per_round(c)
        ratio = medians[c].result.rps / base.rps
        lines.append(
            f"ratio ({c})/(a), median runs: {ratio:.2f}; per round "
            f"{', '.join(f'{x:.2f}' for x in ratios)}; goal >= {GOAL_RATIO:g}: "
            f"{'met' if ratio >= GOAL_RATIO else 'NOT met'}"
        )
    lines.append("")
    base_cpu = statistics.median(cpu_ms_per_request(r) for r in runs if r.condition == "a")
    for c in ("b", "c"):
        cpu = statistics.median(cpu_ms_per_request(r) for r in runs if r.condition == c)
        lines.append(
            f"server CPU per request, medians: (a) {base_cpu:.2f} ms, ({c}) {cpu:.2f} ms; "
            f"ratio (a)/({c}) {base_cpu / cpu:.2f} (the throughput ratio a CPU-bound server "
            "would show: read it when the machine is busy, as the req/s then follow the others)"
        )
    lines.append("")
    for run in runs:
        if run.condition == "c":
            if run.caught_up_seconds == 0:
                caught = "every stream had every event when wrk ended"
            elif run.caught_up_seconds is not None:
                caught = f"every stream had every event {run.caught_up_seconds:.1f} s after wrk"
            else:
                caught = f"streams still behind {args.catch_up:g} s after wrk ended"
            lines.append(
                f"- round {run.round} (c): {run.events_expected:,} entry.created committed; events "
                f"per stream at wrk's end min {run.events_min:,} / median "
                f"{run.events_median:,.0f} / max {run.events_max:,}; {caught}; "
                f"{run.received_mib:,.0f} MiB read by the helper; streams opened in "
                f"{run.connect_seconds:.1f} s; error frames {run.error_frames}"
            )
        elif run.condition == "b":
            lines.append(
                f"- round {run.round} (b): {run.open_after}/{run.streams} open at the end, "
                f"keep-alives {run.keepalives}, events {run.events_max}, streams opened in "
                f"{run.connect_seconds:.1f} s"
            )
    return lines


def report(
    latencies: list[Latency],
    runs: list[StreamRun],
    notes: list[str],
    nofile: int,
    args: argparse.Namespace,
) -> str:
    lines = [
        f"live: webhooks and streams, {time.strftime('%Y-%m-%d %H:%M %Z')}; server open-file "
        f"limit {nofile:,}",
        "",
        *(webhook_section(latencies, args) if latencies else []),
        "",
        *(stream_section(runs, args) if runs else []),
        "",
        f"server log: {len(notes)} line(s) with error/warning"
        + ("" if not notes else ":\n" + "\n".join(f"    {n}" for n in notes[:10])),
    ]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=500, help="webhook entries per condition")
    parser.add_argument("--rate", type=float, default=50.0, help="POST/s (0: back to back)")
    parser.add_argument("--lead", type=float, default=1.5, help="s of load before posting")
    parser.add_argument("--grace", type=float, default=10.0, help="s to wait for late webhooks")
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (condition, round)")
    parser.add_argument("--warmup", type=float, default=3.0, help="s of load before round 1")
    parser.add_argument("--catch-up", type=float, default=10.0, help="s to wait for lagging (c)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100 posts, 100 streams, 1 round x 3 s"
    )
    parser.add_argument(
        "--only", choices=("webhooks", "streams"), help="run one of the two measurements"
    )
    parser.add_argument("--streams-helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.posts, args.streams, args.rounds, args.seconds, args.warmup = 100, 100, 1, 3.0, 3.0
    return args


def main() -> None:
    args = parse_args()
    if args.streams_helper:
        run_helper(json.loads(args.streams_helper))
        return
    harness.ensure_wrk()
    raise_nofile(args.streams + 1024)  # the server inherits it
    harness.RESULTS.mkdir(exist_ok=True)
    name = "sandbox-live"
    args.gc_log = harness.RESULTS / "live-gc.jsonl"
    args.gc_log.unlink(missing_ok=True)
    with harness.sandbox(name, gc_log=args.gc_log) as server:
        nofile = open_files_limit(server.pid)
        if nofile < args.streams + 256:
            raise SystemExit(f"the server may open {nofile} files: too few for {args.streams}")
        latencies = [] if args.only == "streams" else asyncio.run(measure_webhooks(server, args))
        runs = [] if args.only == "webhooks" else measure_streams(server, args)
    notes = server_log_notes(harness.RESULTS / f"{name}.log")
    text = report(latencies, runs, notes, nofile, args)
    print("\n" + text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (harness.RESULTS / f"live-{stamp}.md").write_text(text + "\n")
    data = {
        "args": {k: str(v) for k, v in vars(args).items() if k != "streams_helper"},
        "webhooks": [asdict(r) for r in latencies],
        "streams": [asdict(r) for r in runs],
        "server_log_notes": notes,
    }
    (harness.RESULTS / f"live-{stamp}.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
