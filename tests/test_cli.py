"""The command line as a partner meets it: usage errors are one clear message, never a traceback."""

from __future__ import annotations

import os
import pty
import socket
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def run(*args: str, **extra: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "gledger_sandbox", *args],
        capture_output="stdout" not in extra,
        text=True,
        timeout=60,
        env=env,
        **extra,
    )


def test_an_unknown_fixture_is_a_usage_error_listing_the_fixtures() -> None:
    done = run("serve", "--fixture", "shop", "--port", "0")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "'shop'" in done.stderr and "'empty', 'merchant'" in done.stderr
    assert done.stdout == ""


def test_a_clock_start_that_is_no_time_says_the_expected_format() -> None:
    done = run("serve", "--clock-start", "yesterday", "--port", "0")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "_timestamp" not in done.stderr
    assert "--clock-start: 'yesterday' is not a time" in done.stderr
    assert "2026-06-01T09:00:00Z" in done.stderr


def test_a_trusted_proxy_is_an_address_or_network_without_a_zone() -> None:
    done = run("serve", "--trust-proxy", "127.0.0.1,proxy.local", "--port", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'proxy.local' is not an IP address or network" in done.stderr
    # HAProxy refuses a zone (serve --workers failed at start with its own message).
    done = run("serve", "--trust-proxy", "fe80::1%lo", "--workers", "2", "--port", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'fe80::1%lo' names an interface" in done.stderr and "(fe80::1)" in done.stderr


def test_a_busy_port_fails_in_one_line_before_any_banner_or_key() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"gledger-sandbox serve: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(choose another with --port)"
    ]


def test_help_speaks_to_partners_and_shows_the_defaults() -> None:
    top = run("--help").stdout
    assert top.split("\n\n")[1].startswith("GLedger Sandbox: a stateful, in-memory mock")
    assert "no logic" not in top
    serve = run("serve", "--help").stdout
    for shown in ("(default: 127.0.0.1)", "(default: 8080)", "(default: merchant)", "(default: 0)"):
        assert shown in " ".join(serve.split()), shown
    assert "(default: None)" not in serve
    contract = " ".join(run("contract", "--help").stdout.split())
    assert "Runs the ledger checks, then schemathesis" in contract


def test_spec_bundle_refuses_to_flood_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        done = run("spec", "bundle", stdout=follower, stderr=subprocess.PIPE)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2
    assert "-o FILE" in done.stderr and "Traceback" not in done.stderr
