"""Where does the sandbox spend its CPU under the mixed workload? A py-spy sample, in buckets.

Starts the sandbox, runs the mixed wrk workload against a fresh merchant tenant, samples the
server with py-spy (installed with pip into bench/results/tools if missing) and prints the share
of samples per layer (our handlers, request validation, connexion decorators, security, socket
writes, ...) and the functions with the most samples. The raw stacks are kept in bench/results/
(collapsed format: one stack and its count a line; flamegraph.pl reads it).

    python bench/cpu_profile.py                   # 12 s of load, 10 s of samples at 200 Hz
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import harness
import mixed

TOOLS = harness.RESULTS / "tools"

# A sample goes to the first bucket found walking its stack from the innermost frame outwards.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("socket writes (uvicorn transport.write)", ("RequestResponseCycle.send",)),
    (
        "our handlers: domain + serialization",
        ("gledger_sandbox/api/handlers/", "gledger_sandbox/api/serializers.py"),
    ),
    (
        "request validation (connexion, jsonschema, ours)",
        (
            "connexion/middleware/request_validation.py",
            "connexion/validators/",
            "gledger_sandbox/api/validation.py",
        ),
    ),
    ("connexion decorators (parameters, response, inspect.signature)", ("connexion/decorators/",)),
    ("security (credential check)", ("connexion/security.py", "gledger_sandbox/api/security.py")),
    ("HTTP parsing (httptools)", ("HttpToolsProtocol",)),
]
OTHER = "other (middleware stack, routing, event loop)"


def py_spy() -> str:
    found = shutil.which("py-spy") or (TOOLS / "bin" / "py-spy")
    if isinstance(found, Path) and not found.exists():
        print("py-spy not found: pip install --target bench/results/tools py-spy", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(TOOLS), "py-spy"],
            check=True,
            timeout=600,
        )
    return str(found)


def bucket_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, patterns in BUCKETS:
            if any(p in frame for p in patterns):
                return name
    return OTHER


def short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file path after site-packages or src)``."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame
    path = match.group(2).split("site-packages/")[-1].split("src/")[-1]
    return f"{match.group(1)} ({path})"


def summarize(raw: Path, top: int) -> str:
    buckets: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        frames, n = stack.split(";"), int(count)
        total += n
        buckets[bucket_of(frames)] += n
        own[short(frames[-1])] += n
        for name in {short(f) for f in frames}:
            inclusive[name] += n
    out = [f"{total} samples", "", "| share | layer |", "| --- | --- |"]
    out += [f"| {100 * n / total:.1f}% | {name} |" for name, n in buckets.most_common()]
    out += ["", "functions by inclusive share (the outer layers, in 90% or more, left out):", ""]
    out += [
        f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common() if n < 0.9 * total
    ][:top]
    out += ["", "functions by self share:", ""]
    out += [f"{100 * n / total:5.1f}%  {name}" for name, n in own.most_common(15)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="of sampling")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    spy = py_spy()
    raw = harness.RESULTS / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    with harness.sandbox("sandbox-profile") as server:
        target = mixed.sandbox_target(server)
        env = {**os.environ, "BENCH_LUA_DIR": str(harness.LUA)}
        load = subprocess.Popen(
            [
                harness.ensure_wrk(),
                "-t1",
                f"-c{args.connections}",
                f"-d{args.seconds + 2:g}s",
                "-s",
                str(harness.LUA / "mixed.lua"),
                server.url,
                "--",
                *target.wrk_args(harness.nonce(), 50),
            ],
            stdout=subprocess.DEVNULL,
            env=env,
        )
        try:
            time.sleep(1.0)
            subprocess.run(
                [
                    spy,
                    "record",
                    "-p",
                    str(server.pid),
                    "-d",
                    f"{args.seconds:g}",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(raw),
                ],
                check=True,
                timeout=args.seconds + 60,
                capture_output=True,
            )
        finally:
            load.wait(timeout=args.seconds + 60)
    print(summarize(raw, args.top))
    print(f"\nraw stacks: {raw}")


if __name__ == "__main__":
    main()
