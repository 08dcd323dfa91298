"""Modules serve never uses load at first use; the served sandbox still validates every request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gledger_sandbox.deferred_imports import UNUSED_BY_SERVE
from tests.conftest import free_port

SRC = Path(__file__).resolve().parents[1] / "src"

DEFERRED = """
import sys
from gledger_sandbox.deferred_imports import deferred

def ran(name):  # read past the lazy module's hook: has its code run (and set __builtins__)?
    return "__builtins__" in object.__getattribute__(sys.modules[name], "__dict__")

with deferred(["calendar"]):
    import calendar
    import fractions  # not named: imported as usual
print("deferred", not ran("calendar"), "fractions" in sys.modules and "Fraction" in vars(fractions))
print("first use", calendar.isleap(2024), ran("calendar"))
"""

SERVED = """
import json, os, sys, threading, time, urllib.error, urllib.request
from gledger_sandbox import cli, deferred_imports

port, key = sys.argv[1], "gls_test_deferred"
argv = ["serve", "--port", port, "--api-key", key, "--log-level", "warning", "--quiet"]
threading.Thread(target=cli.main, args=(argv,), daemon=True).start()
url = f"http://127.0.0.1:{port}/v1/ledgers"
auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

def call(data=None):  # urllib: this script imports no HTTP library that would import them
    request = urllib.request.Request(url, data=data, headers=auth)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer
    except urllib.error.HTTPError as answer:
        return answer

deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        if call().status == 200:
            break
    except OSError:
        time.sleep(0.05)
bad = call(json.dumps({"name": 5}).encode())
print("@invalid", bad.status, bad.headers.get("Content-Type"))
for name in deferred_imports.UNUSED_BY_SERVE:  # imported, and its code never ran
    namespace = object.__getattribute__(sys.modules[name], "__dict__")
    print("@" + name, "__file__" in namespace and "__builtins__" not in namespace)
import requests
print("@requests works", callable(requests.get), requests.codes.ok)
sys.stdout.flush()
os._exit(0)
"""


def _python(code: str, *args: str) -> list[str]:
    """The lines ``code`` prints (those starting with ``@`` when any do, without it)."""
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    marked = [line[1:] for line in lines if line.startswith("@")]
    return marked or lines


def test_a_deferred_module_runs_its_code_at_first_use_and_others_as_usual() -> None:
    assert _python(DEFERRED) == ["deferred True True", "first use True True"]


def test_serve_answers_and_validates_without_running_the_modules_it_does_not_use() -> None:
    lines = _python(SERVED, str(free_port()))
    assert lines[0] == "invalid 400 application/problem+json"
    assert lines[1:-1] == [f"{name} True" for name in UNUSED_BY_SERVE]
    assert lines[-1] == "requests works True 200"
