"""A real webhook receiver on loopback: records every request, fails on demand, can go down.

A standard-library HTTP server in a thread, independent of the sandbox's own code. It can
answer a chosen status to every Nth request, hang past the sender's timeout, or be down (its
port closed, so connections are refused) and come back on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Behaviour:
    status: int = 204
    fail_every: int = 0
    """Answer ``fail_status`` to every Nth request (0: never)."""
    fail_status: int = 500
    hang_seconds: float = 0.0


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    count = len(receiver.received) + 1
                    rule = receiver.behaviour
                    failing = rule.fail_every and count % rule.fail_every == 0
                    status = rule.fail_status if failing else rule.status
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                if rule.hang_seconds:
                    time.sleep(rule.hang_seconds)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Go down: the port is closed, so attempts are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[Received]:
        """The requests that were answered 2xx."""
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests were answered 2xx."""
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.delivered())} of {count} webhooks arrived")
            time.sleep(0.01)
        return self.delivered()


@dataclass
class SilentReceiver:
    """A receiver that accepts every connection and never answers (a stuck endpoint)."""

    _sock: socket.socket = field(default_factory=socket.socket)
    _held: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/hooks"

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._held)

    def start(self) -> SilentReceiver:
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1024)
        threading.Thread(target=self._hold, daemon=True).start()
        return self

    def _hold(self) -> None:
        while True:
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                if self._stopped:  # accepted while stop() ran: nobody else will close it
                    connection.close()
                    return
                self._held.append(connection)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        with self._lock:
            for connection in self._held:
                connection.close()


class ConnectionCounter:
    """A loopback port that counts every connection made to it (and answers none)."""

    def __init__(self, family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1"):
        self.sock = socket.socket(family)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
