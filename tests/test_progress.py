"""Progress lines: on a terminal (a real pty) while serve seeds and spec bundle runs; never in a pipe.

Each command runs in a real process whose standard error is a pseudo-terminal (or a pipe), as
a person's shell (or a CI log) would hold it.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.devtools.processes import environment


def run(args: list[str], *, terminal: bool, until: str | None = None) -> tuple[str, str]:
    """(stdout, stderr) of ``gledger-sandbox ARGS``; a server is stopped once ``until`` shows."""
    leader, follower = pty.openpty() if terminal else (None, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gledger_sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=follower if terminal else subprocess.PIPE,
        env=environment(),
    )
    stderr, stdout = b"", b""
    try:
        if terminal:
            assert leader is not None and follower is not None
            os.close(follower)
            stderr = _read_terminal(leader, process, until)
            stdout = process.stdout.read() if process.stdout else b""  # type: ignore[union-attr]
        else:
            head = _wait_for_line(process, until) if until else b""
            out, err = process.communicate(timeout=60)
            stdout, stderr = head + out, err
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()
        if leader is not None:
            os.close(leader)
    return stdout.decode(), stderr.decode()


def _read_terminal(leader: int, process: subprocess.Popen[bytes], until: str | None) -> bytes:
    seen = b""
    banner = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        streams = [leader] + ([process.stdout.fileno()] if until and process.stdout else [])
        ready, _, _ = select.select(streams, [], [], 0.1)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the process ended: its terminal is closed
                return seen
            if fd == leader:
                seen += chunk
            else:
                banner += chunk
        if until and until.encode() in banner:
            process.terminate()
            until = None
    return seen


def _wait_for_line(process: subprocess.Popen[bytes], text: str) -> bytes:
    """What standard output said up to the line holding ``text``; then the server is stopped."""
    assert process.stdout is not None
    said = b""
    for line in process.stdout:
        said += line
        if text.encode() in line:
            process.terminate()
            break
    return said


SERVE = ["serve", "--port", "0", "--fixture", "merchant", "--log-level", "warning"]


def test_serve_shows_the_seeding_on_a_terminal_and_replaces_it_with_one_closing_line() -> None:
    _, stderr = run(SERVE, terminal=True, until="API key")
    assert "seeding the default tenant (merchant, seed 0)" in stderr
    assert "\r\x1b[K" in stderr  # the line is rewritten in place
    assert re.search(r"seeded the default tenant: \d+ entries, \d+ events in \d+\.\d s", stderr)
    assert "built the API from the spec in " in stderr


def test_serve_shows_no_progress_in_a_pipe_or_with_quiet() -> None:
    stdout, stderr = run(SERVE, terminal=False, until="API key")
    assert "API key" in stdout
    assert "seed" not in stderr and "\x1b" not in stderr
    _, quiet = run([*SERVE, "--quiet"], terminal=True, until="API key")
    assert "seeding" not in quiet and "\x1b[K" not in quiet


def test_spec_bundle_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    out = tmp_path / "gledger.json"
    _, stderr = run(["spec", "bundle", "-o", str(out)], terminal=True)
    assert "bundled the spec (" in stderr and " paths) in " in stderr
    assert "wrote " in stderr
    _, piped = run(["spec", "bundle", "-o", str(out)], terminal=False)
    assert "bundled" not in piped and "wrote " in piped
