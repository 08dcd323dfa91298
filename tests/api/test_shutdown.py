"""Stopping the served sandbox: SIGTERM ends open streams and the process exits in bounded time."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import free_port

KEY = "gls_test_shutdown"
EXIT_WITHIN = 10.0


def _serve(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gledger_sandbox", "serve", "--port", str(port)]
    command += ["--api-key", KEY, "--fixture", "empty", "--log-level", "warning"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the sandbox did not start")


def test_sigterm_ends_open_streams_and_the_process_exits() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(port)
    try:
        _wait_until_up(url, process)
        headers = {"Authorization": f"Bearer {KEY}"}
        with (
            httpx.Client(base_url=url, headers=headers, timeout=EXIT_WITHIN) as client,
            client.stream("GET", "/v1/events/stream") as stream,
            connect(f"ws://127.0.0.1:{port}/v1/events/ws?access_token={KEY}") as feed,
        ):
            lines = stream.iter_lines()
            assert next(lines) == ": gledger event stream"
            assert json.loads(feed.recv(timeout=5))["kind"] == "ready"
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = list(lines)  # ends when the server ends the response
            assert ": server shutting down" in rest, rest
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    feed.recv(timeout=EXIT_WITHIN)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        # uvicorn ends by raising the signal it caught again, once shut down, so process
        # managers see how it stopped.
        assert process.wait(timeout=EXIT_WITHIN) in (0, -signal.SIGTERM)
        assert time.monotonic() - sent < EXIT_WITHIN
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
