"""Run ``gledger-sandbox serve`` with a record of every request's way through the event loop.

Used by ``p99_probe.py``. The server is the unchanged CLI of whatever code is on ``PYTHONPATH``;
uvicorn's httptools protocol and request cycle are wrapped (class attributes patched before the
server starts) to note, per request, in ``time.perf_counter`` seconds:

- ``made``: (a connection's first request only) when the connection was accepted;
- ``recv``: the ``data_received`` call that brought its head (the loop's poll phase);
- ``start``: its task's first step (the loop runs ready callbacks once per iteration);
- ``done``: its answer handed to the transport (uvicorn's response-complete callback), and the
  bytes the transport still held then (a write the kernel did not take at once);

with the loop iteration ("batch": a run of task steps after a poll that read requests) each
fell in, and every collection of the garbage collector (start, end, generation). The records
are kept in memory and appended as JSON lines to ``BENCH_P99_LOG`` when the process gets
``SIGUSR1`` (then cleared), so a driver can take one window at a time.

    BENCH_P99_LOG=/tmp/p99.jsonl python bench/p99_serve.py --port 18080 --api-key gls_bench
    BENCH_P99_SPIN=post=0.3,balance=0.2,page=0.9 python bench/p99_serve.py --control 18080

``BENCH_P99_GC_THRESHOLD`` ("10000,3,10") replaces the collector thresholds ``serve`` sets;
``BENCH_P99_UNORDERED=1`` serves without the start order (``api/start_order``).

``--control PORT`` serves :func:`control_app` instead: the same uvicorn (httptools, uvloop)
with a bare ASGI app that spends a given CPU time per kind of request; with
``BENCH_P99_PROTOCOL=sandbox``, through the sandbox's own protocol (``api/transport``);
``sandbox-unordered``: the same without its start order (``api/start_order``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
from time import perf_counter
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gledger_sandbox.cli import main

_requests: list[dict[str, Any]] = []
_collections: list[tuple[float, float, int]] = []
_batch = [0, 0]
"""The current batch number, and 1 when a poll read a request since the last task step."""
_gc_started = [0.0]
_connections = [0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = perf_counter()
    else:
        _collections.append((_gc_started[0], perf_counter(), info["generation"]))


def _patch() -> None:
    made, received = HttpToolsProtocol.connection_made, HttpToolsProtocol.data_received
    headed, completed = (
        HttpToolsProtocol.on_headers_complete,
        HttpToolsProtocol.on_response_complete,
    )
    run_asgi = RequestResponseCycle.run_asgi

    def connection_made(self: Any, transport: asyncio.Transport) -> None:
        _connections[0] += 1
        self._p99_conn = _connections[0]
        self._p99_pending = None
        self._p99_made = perf_counter()
        made(self, transport)

    def data_received(self: Any, data: bytes) -> None:
        _batch[1] = 1
        if self.cycle is None or self.cycle.response_complete:
            self._p99_pending = {"conn": self._p99_conn, "recv": perf_counter(), "rb": _batch[0]}
            if self._p99_made is not None:  # a connection's first request: since it opened
                self._p99_pending["made"], self._p99_made = self._p99_made, None
        received(self, data)

    def on_headers_complete(self: Any) -> None:
        before = self.cycle
        headed(self)
        record = self._p99_pending
        if self.cycle is not before and self.cycle is not None and record is not None:
            record["kind"] = _kind(self.cycle.scope)
            self.cycle._p99 = record
            self._p99_current = record
            self._p99_pending = None

    async def probed_run_asgi(self: Any, app: Any) -> None:
        if _batch[1]:
            _batch[0] += 1
            _batch[1] = 0
        record = getattr(self, "_p99", None)
        if record is not None:
            record["start"], record["sb"] = perf_counter(), _batch[0]
        await run_asgi(self, app)

    def on_response_complete(self: Any) -> None:
        record = getattr(self, "_p99_current", None)
        if record is not None:
            record["done"], record["db"] = perf_counter(), _batch[0]
            record["held"] = self.transport.get_write_buffer_size()
            _requests.append(record)
            self._p99_current = None
        completed(self)

    HttpToolsProtocol.connection_made = connection_made  # type: ignore[method-assign]
    HttpToolsProtocol.data_received = data_received  # type: ignore[method-assign]
    HttpToolsProtocol.on_headers_complete = on_headers_complete  # type: ignore[method-assign]
    HttpToolsProtocol.on_response_complete = on_response_complete  # type: ignore[method-assign]
    RequestResponseCycle.run_asgi = probed_run_asgi  # type: ignore[method-assign]


def _kind(scope: Any) -> str:
    path = scope["path"]
    if scope["method"] == "POST":
        return "post"
    if path.endswith("/balance"):
        return "balance"
    return "page" if path == "/v1/entries" else path


def _dump(path: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        for record in _requests:
            out.write(json.dumps(record) + "\n")
        for began, ended, generation in _collections:
            out.write(json.dumps({"gc": generation, "began": began, "ended": ended}) + "\n")
        out.write(json.dumps({"end": perf_counter()}) + "\n")
    _requests.clear()
    _collections.clear()


def _spins() -> dict[str, float]:
    """``BENCH_P99_SPIN`` ("post=0.3,balance=0.2,page=0.9", ms): the control's CPU per kind."""
    pairs = (item.split("=") for item in os.environ.get("BENCH_P99_SPIN", "").split(",") if item)
    return {kind: float(ms) / 1000 for kind, ms in pairs}


def control_app(spins: dict[str, float]) -> Any:
    """A bare ASGI app that burns each kind's CPU time and answers a body of the mix's size (a
    page about 58 KB): the same loop, protocol and service times, none of our code."""
    bodies = {"page": b"x" * 58_000, "post": b"y" * 700, "balance": b"z" * 200}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        kind = _kind(scope)
        until = perf_counter() + spins.get(kind, 0.0)
        while perf_counter() < until:
            pass
        body = bodies.get(kind, b"{}")
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _with_dump(path: str) -> None:
    serve = uvicorn.Server.serve

    async def probed(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump, path)
        await serve(self, *args, **kwargs)

    uvicorn.Server.serve = probed  # type: ignore[method-assign]


if __name__ == "__main__":
    log = os.environ.get("BENCH_P99_LOG")
    if threshold := os.environ.get("BENCH_P99_GC_THRESHOLD"):  # "10000,3,10": instead of serve's
        wanted, set_threshold = [int(x) for x in threshold.split(",")], gc.set_threshold
        gc.set_threshold = lambda *_: set_threshold(*wanted)
    if os.environ.get("BENCH_P99_UNORDERED"):  # serve without api/start_order (None: as read)
        from gledger_sandbox.api import transport

        setattr(transport, "StartOrder", lambda: None)  # noqa: B010 (not an export to type)
    if log:
        _patch()
        _with_dump(log)
        gc.callbacks.append(_on_gc)
    if sys.argv[1:2] == ["--control"]:  # --control PORT: the bare app instead of the sandbox
        options: dict[str, Any] = {"host": "127.0.0.1", "port": int(sys.argv[2])}
        options.update(log_level="warning", loop="uvloop")
        app = control_app(_spins())
        protocol = os.environ.get("BENCH_P99_PROTOCOL", "uvicorn")
        if protocol.startswith("sandbox"):  # our protocol, not uvicorn's own
            from gledger_sandbox.api.settings import ConnectionSettings
            from gledger_sandbox.api.transport import server_config

            config = server_config(app, ConnectionSettings(), **options)
            if protocol == "sandbox-unordered":  # each request starts as it is read
                config.http.start_order = None  # type: ignore[union-attr]
            uvicorn.Server(config).run()
        else:
            uvicorn.run(app, http="httptools", **options)
        sys.exit(0)
    sys.exit(main(["serve", *sys.argv[1:]]))
