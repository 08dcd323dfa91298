"""Startup: time from spawning the server to its first 200 on a real request, sandbox vs Prism.

(a) ``gledger-sandbox serve`` with the default fixture (``merchant``, seeded before it listens),
(b) ``prism mock`` of ``gledger-sandbox spec bundle`` output (bundled once, before the rounds).

Each round spawns one server, then polls it from this process with a raw socket every
``--poll-ms`` ms: connect (refused until it listens), ``GET /v1/ledgers`` with a bearer key
(the sandbox's own ``--api-key``; Prism only checks that one is there), read the status line.
The time is from just before ``Popen`` to the first ``200``; the server is then stopped (its
process group: SIGTERM, then SIGKILL). The two servers alternate, the order swapping every
round, after one warm-up round of each (not reported: it fills the page cache). Reported: every
round, the median per server and the ratio sandbox/Prism of the medians and per round.
Goal (from the issue): at most 0.4.

The sandbox's package is byte-compiled first (``compileall``, as ``pip install`` does: a
checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module at every
start). Its spec cache (``spec_cache.py``: the bundle, connexion's acceptance of it) is filled
by the warm-up round; ``--cold`` gives every start an empty cache of its own instead, as the
very first start after changing the spec.

    python bench/startup.py                # 5 rounds
    python bench/startup.py --rounds 9 --poll-ms 2
    python bench/startup.py --cold         # no spec cache: every start bundles and validates
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

GOAL_RATIO = 0.4
REQUEST = (
    "GET /v1/ledgers HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
    "Accept: application/json\r\nConnection: close\r\n\r\n"
)


def status_of(port: int, key: str) -> int | None:
    """The status of one GET /v1/ledgers, or None when nothing listens (yet) or it hung up."""
    try:
        with socket.create_connection((harness.HOST, port), timeout=5.0) as sock:
            sock.sendall(REQUEST.format(host=f"{harness.HOST}:{port}", key=key).encode())
            head = b""
            while b"\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                head += chunk
    except OSError:
        return None
    parts = head.split(b"\r\n", 1)[0].split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def time_to_first_200(
    argv: list[str], port: int, key: str, log: Path, args: argparse.Namespace
) -> float:
    """Seconds from spawning ``argv`` to its first 200; the server is stopped afterwards."""
    env = dict(os.environ)
    if args.cold:
        env["GLEDGER_SANDBOX_CACHE"] = tempfile.mkdtemp(prefix="startup-cold-", dir=harness.RESULTS)
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=harness.BENCH,
            env=env,
        )
    server = harness.Server(log.stem, f"http://{harness.HOST}:{port}", process)
    try:
        deadline = started + args.timeout
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{log.stem} exited early; see {log}")
            if status_of(port, key) == 200:
                return time.perf_counter() - started
            time.sleep(args.poll_ms / 1000)
        raise RuntimeError(f"{log.stem}: no 200 within {args.timeout:g} s; see {log}")
    finally:
        harness._stop(server)


def sandbox_argv(port: int) -> list[str]:
    return [
        sys.executable, "-m", "gledger_sandbox", "serve", "--host", harness.HOST,
        "--port", str(port), "--api-key", harness.API_KEY, "--log-level", "warning",
    ]  # fmt: skip


def prism_argv(port: int, spec: Path) -> list[str]:
    return [
        str(harness.ensure_prism()), "mock", "--host", harness.HOST, "--port", str(port),
        "--verboseLevel", "warn", str(spec),
    ]  # fmt: skip


def one(name: str, spec: Path, args: argparse.Namespace) -> float:
    port = harness.free_port()
    argv = sandbox_argv(port) if name == "sandbox" else prism_argv(port, spec)
    return time_to_first_200(
        argv, port, harness.API_KEY, harness.RESULTS / f"startup-{name}.log", args
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=5.0, help="ms between two polls")
    parser.add_argument("--timeout", type=float, default=60.0, help="s to wait for a 200")
    parser.add_argument("--cold", action="store_true", help="an empty spec cache every start")
    args = parser.parse_args()
    harness.RESULTS.mkdir(exist_ok=True)
    found = importlib.util.find_spec("gledger_sandbox")
    assert found is not None and found.submodule_search_locations
    package = next(iter(found.submodule_search_locations))
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True, timeout=300)
    spec = harness.bundle_spec(harness.RESULTS / "startup-bundle.json")
    names = ["sandbox", "prism"]
    for name in names:  # warm-up: page cache, Node's compile cache, .pyc files
        one(name, spec, args)
    times: dict[str, list[float]] = {name: [] for name in names}
    rows = []
    for round_no in range(1, args.rounds + 1):
        order = names if round_no % 2 else list(reversed(names))
        seconds = {name: one(name, spec, args) for name in order}
        for name in names:
            times[name].append(seconds[name])
        ratio = seconds["sandbox"] / seconds["prism"]
        rows.append((round_no, seconds["sandbox"], seconds["prism"], ratio))
        print(
            f"round {round_no}: sandbox {seconds['sandbox'] * 1000:,.0f} ms, "
            f"prism {seconds['prism'] * 1000:,.0f} ms, ratio {ratio:.2f}",
            flush=True,
        )
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["sandbox"] / medians["prism"]
    lines = [
        f"startup to the first 200 (GET /v1/ledgers), {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{args.rounds} rounds, poll every {args.poll_ms:g} ms"
        + (", cold (no spec cache)" if args.cold else ""),
        "",
        "| round | sandbox ms | prism ms | ratio |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {n} | {s * 1000:,.0f} | {p * 1000:,.0f} | {r:.2f} |" for n, s, p, r in rows),
        f"| median | {medians['sandbox'] * 1000:,.0f} | {medians['prism'] * 1000:,.0f} | "
        f"**{ratio:.2f}** |",
        "",
        f"ratio sandbox/Prism of the medians: {ratio:.2f}; goal <= {GOAL_RATIO:g}: "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'}",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (harness.RESULTS / f"startup-{stamp}.md").write_text(text + "\n")
    data = {"args": vars(args), "rounds": rows, "medians": medians, "ratio": ratio}
    (harness.RESULTS / f"startup-{stamp}.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
