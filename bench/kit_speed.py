"""How long the contract kit's default run takes, against the commit the speed goal was set at.

The default run (`gledger-sandbox contract`: every phase, every check, against the in-process
sandbox) of up to three versions of the code, side by side, alternating, ``--rounds`` rounds:

- ``baseline``: the commit where the kit's issue was filed (it asked for "under 60 s"),
- ``before``: the code before this speed work (main when it started), for the equality below,
- ``current``: this checkout.

Each run is a fresh interpreter whose ``PYTHONPATH`` points at that version's ``src/`` (older
commits are checked out in temporary ``git worktree``s, removed at the end). The figures are
the run's own: its total and per-phase seconds from the report, its checks (names that ran),
its cases (outcomes: a check applied to an operation or scenario), and the HTTP requests the
sandbox answered (counted by a wrapper around the app, the same for every version).

It asserts that ``current`` runs the same checks and the same cases as ``before`` (and at least
those of ``baseline``), so a faster run is never a smaller one, and that its rounds, one seed,
have the same outcomes (outcomes that differ from ``before``'s are printed as notes).

    python bench/kit_speed.py [--rounds 2] [--seed 1] [--sides baseline,before,current]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "1d2b210"
"""The last commit before the issue's first change to the kit (``git log -- src/.../contract``)."""
BEFORE = "1b12ea6"
"""main when the speed work started: the same checks as now, run one case after another."""
RUN_TIMEOUT = 900

DRIVER = r"""
import json, sys, time
from gledger_sandbox import bootstrap
from gledger_sandbox.contract import ContractOptions

served = [0]
make_app = bootstrap.sandbox_app

def counting_app(*args, **kwargs):
    app, services = make_app(*args, **kwargs)

    async def counted(scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            served[0] += 1
        await app(scope, receive, send)

    return counted, services

bootstrap.sandbox_app = counting_app
started = time.monotonic()
report = bootstrap.contract_against_sandbox(ContractOptions(seed=int(sys.argv[1]), quiet=True))
wall = time.monotonic() - started
outcomes = [
    [o.phase, o.check, o.name, "failed" if o.failure else "skipped" if o.skipped else "passed"]
    for o in report.outcomes
]
print("KIT_SPEED " + json.dumps({
    "wall": wall, "seconds": report.seconds, "phases": dict(report.phase_seconds),
    "outcomes": outcomes, "requests": served[0],
}))
"""


def _worktree(ref: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), ref],
        check=True,
        capture_output=True,
    )
    return where


def _run(src: Path, seed: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(seed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=src.parent,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("KIT_SPEED ")), None)
    if line is None:
        raise SystemExit(f"the run in {src} produced no report:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(line.removeprefix("KIT_SPEED ")))


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    outcomes = run["outcomes"]
    ran = {o[1] for o in outcomes if o[3] != "skipped"}
    counts = {
        state: sum(1 for o in outcomes if o[3] == state)
        for state in ("passed", "failed", "skipped")
    }
    return {"checks": len(ran), "cases": len(outcomes), **counts, "requests": run["requests"]}


def _compare(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Problems: ``current`` checks less than ``before`` or ``baseline``, or differently."""
    problems = []
    current = runs["current"]
    keys = [{tuple(o[:3]) for o in run["outcomes"]} for run in current]
    states = [{tuple(o[:3]): o[3] for o in run["outcomes"]} for run in current]
    if any(k != keys[0] for k in keys) or any(s != states[0] for s in states):
        problems.append("current: two rounds with one seed had different outcomes")
    for side in ("before", "baseline"):
        if side not in runs:
            continue
        theirs = {tuple(o[:3]): o[3] for o in runs[side][0]["outcomes"]}
        ours = states[0]
        missing = sorted(set(theirs) - set(ours))
        before = {tuple(o[:3]) for o in runs["before"][0]["outcomes"]} if "before" in runs else None
        if missing and side == "baseline" and before is not None and not before & set(missing):
            # Not this work's: main already ran without them when it began.
            print(f"note: before and current both lack {len(missing)} case(s) of baseline: ")
            print(f"  {missing[:5]}")
        elif missing:
            problems.append(f"current lacks {len(missing)} case(s) of {side}: {missing[:5]}")
        their_checks = {k[1] for k, state in theirs.items() if state != "skipped"}
        our_checks = {k[1] for k, state in ours.items() if state != "skipped"}
        if not their_checks <= our_checks:
            problems.append(f"current runs fewer checks than {side}: {their_checks - our_checks}")
        if side == "before":
            if set(theirs) != set(ours):
                problems.append(f"current's cases differ from before's: {set(ours) ^ set(theirs)}")
            changed = {
                k: (theirs[k], ours[k]) for k in theirs if k in ours and theirs[k] != ours[k]
            }
            # Not a problem in itself: a skip that now runs is more checking, and the fuzz
            # phase's constants are now fixed, so a seed may draw other cases than before.
            for key, (was, now) in sorted(changed.items()):
                print(f"note: {'/'.join(key)} was {was}, now {now}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sides", default="baseline,before,current")
    parser.add_argument("--baseline", default=BASELINE, help="the commit the goal was set at")
    parser.add_argument("--before", default=BEFORE, help="the code before the speed work")
    arguments = parser.parse_args()
    sides = arguments.sides.split(",")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="kit_speed_") as scratch:
        sources = {"current": ROOT / "src"}
        try:
            for side in ("baseline", "before"):
                if side in sides:
                    ref = getattr(arguments, side)
                    sources[side] = _worktree(ref, Path(scratch) / side) / "src"
            for index in range(arguments.rounds):
                order = sides if index % 2 == 0 else list(reversed(sides))
                for side in order:
                    load = os.getloadavg()[0]
                    run = _run(sources[side], arguments.seed)
                    run["load"] = load
                    runs[side].append(run)
                    phases = ", ".join(f"{p} {s:.1f}" for p, s in run["phases"].items())
                    print(
                        f"round {index + 1} {side:8} {run['seconds']:6.1f} s ({phases}) "
                        f"{_figures(run)} load {load:.1f}",
                        flush=True,
                    )
        finally:
            for side in ("baseline", "before"):
                if side in sources:
                    subprocess.run(
                        [
                            "git",
                            "-C",
                            str(ROOT),
                            "worktree",
                            "remove",
                            "--force",
                            str(sources[side].parent),
                        ],
                        capture_output=True,
                    )
    print()
    print(
        "| side | median run (s) | rounds (s) | phases (median s) | checks | cases | passed "
        "| failed | skipped | requests |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    medians = {}
    for side in sides:
        seconds = [run["seconds"] for run in runs[side]]
        medians[side] = statistics.median(seconds)
        phase_names = list(runs[side][0]["phases"])
        phases = ", ".join(
            f"{p} {statistics.median(r['phases'][p] for r in runs[side]):.1f}" for p in phase_names
        )
        figures = _figures(runs[side][0])
        rounds = ", ".join(f"{s:.1f}" for s in seconds)
        counts = " | ".join(
            str(figures[k]) for k in ("checks", "cases", "passed", "failed", "skipped", "requests")
        )
        print(f"| {side} | {medians[side]:.1f} | {rounds} | {phases} | {counts} |")
    for side in sides:
        if side != "current" and "current" in medians:
            print(f"current / {side}: {medians['current'] / medians[side]:.2f}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"kit_speed-{stamp}.json").write_text(json.dumps(runs, indent=1))
    if "current" in runs:
        problems = _compare(runs)
        for problem in problems:
            print("PROBLEM:", problem)
        if problems:
            raise SystemExit(1)
        print("current runs the same checks and cases as the sides it was compared with")


if __name__ == "__main__":
    main()
