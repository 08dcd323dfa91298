"""The command line as a partner runs it: ``gledger-sandbox`` subprocesses whose output is read live.

``Command`` collects standard output and error line by line in threads, so a test waits for a
line (``wait_for``) without ever blocking on a pipe. ``SandboxProcess`` is ``serve`` in a real
process on a fixed loopback port, which a test stops and starts again on the same port.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"


def environment(**extra: str) -> dict[str, str]:
    path = f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    return {**os.environ, "PYTHONPATH": path, **extra}


@dataclass
class Command:
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=environment)
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    readers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Command:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gledger_sandbox", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            reader = threading.Thread(target=_collect, args=(stream, lines), daemon=True)
            reader.start()
            self.readers.append(reader)
        return self

    def wait_for(
        self, pattern: str, *, stderr: bool = False, count: int = 1, timeout: float = 30
    ) -> list[str]:
        """The lines matching ``pattern`` once there are ``count`` of them."""
        lines = self.err if stderr else self.out
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in list(lines) if re.search(pattern, line)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                raise AssertionError(
                    f"{count} line(s) matching {pattern!r} expected; stdout:\n"
                    + "\n".join(self.out)
                    + "\nstderr:\n"
                    + "\n".join(self.err)
                )
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _collect(stream: object, lines: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line.rstrip("\n"))


@dataclass
class SandboxProcess:
    """``gledger-sandbox serve`` on ``port`` with a fixed key: the same sandbox after a restart."""

    port: int
    api_key: str
    extra: tuple[str, ...] = ("--fixture", "empty", "--seed", "1")
    command: Command | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SandboxProcess:
        args = ("serve", "--port", str(self.port), "--api-key", self.api_key, *self.extra)
        self.command = Command(args).start()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the sandbox did not start:\n" + "\n".join(self.command.err))
            time.sleep(0.1)

    def stop(self) -> None:
        if self.command is not None:
            self.command.stop()
