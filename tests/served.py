"""``gledger-sandbox serve`` in a process of its own, as a partner runs it.

Used where the command line itself is under test (TLS options, JSON logs), and by the
reliability suite, whose load must not share the test's interpreter (and its GIL) with the
server. The port is the operating system's pick (``--port 0``), read from the banner.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

SRC = Path(__file__).resolve().parents[1] / "src"
_BANNER = re.compile(r" on (https?://\S+)")


class ServedProcess:
    def __init__(self, *args: str, api_key: str = "gls_test_served_key", start_timeout: float = 60):
        self.args = ("serve", "--port", "0", "--api-key", api_key, *args)
        self.api_key = api_key
        self.start_timeout = start_timeout
        self.url = ""
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process: subprocess.Popen[str] | None = None
        self._drainer: threading.Thread | None = None

    def __enter__(self) -> ServedProcess:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gledger_sandbox", *self.args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break  # exited before its banner
            found = _BANNER.search(line)
            if found:
                self.url = found.group(1)
                # The access log goes on to stdout: drained, or a full pipe (64 KiB) blocks
                # the server in its next write, which looked like a hang under load.
                self._drainer = threading.Thread(
                    target=self._drain, args=(self.process.stdout,), daemon=True
                )
                self._drainer.start()
                return self
        self.stop()
        raise RuntimeError(f"serve did not start: {self.stderr()}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _drain(self, stdout: IO[str]) -> None:
        for _ in iter(stdout.readline, ""):
            pass

    def stop(self) -> int:
        """SIGTERM (a graceful stop), then the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._drainer is not None:
            self._drainer.join(timeout=5)  # the process has exited: its stdout is at its end
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        self._stderr.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr(self) -> str:
        """What the server wrote to standard error (kept until ``close``)."""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")
