"""Is one core as fast while the other is busy? The ceiling of any 2-process scale-out here.

A fixed piece of CPU-bound Python (dict stores and str allocations, as a request's work is)
is timed on core 0 alone, on core 1 alone, then on both at once (a copy pinned to each), every
round. ``slowdown``: the CPU seconds the copies took side by side over what each took alone on
its core. On a machine whose two cores are independent it is 1.00; on a VM whose two vCPUs share
a physical core (SMT siblings) or a busy host, more: then 2 shards of one process's speed can
serve at most ``2 / slowdown`` times one process, before any proxy or load generator.

    python bench/two_cores.py                # 6 rounds, about 30 s
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from multiprocessing.queues import Queue
from pathlib import Path

import harness


def work(steps: int) -> float:
    """CPU seconds of ``steps`` dict stores of fresh strings."""
    table: dict[int, str] = {}
    started = time.process_time()
    for i in range(steps):
        table[i & 1023] = str(i)
    return time.process_time() - started


def pinned(cpu: int, steps: int, out: Queue[float]) -> None:
    os.sched_setaffinity(0, {cpu})
    out.put(work(steps))


def timed(cpus: tuple[int, ...], steps: int) -> list[float]:
    """CPU seconds of one copy of the work on each of ``cpus``, all at once."""
    fork = multiprocessing.get_context("fork")
    out: Queue[float] = fork.Queue()
    copies = [fork.Process(target=pinned, args=(cpu, steps, out)) for cpu in cpus]
    for copy in copies:
        copy.start()
    found = [out.get() for _ in copies]
    for copy in copies:
        copy.join()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=15_000_000, help="about 1.5 s of work")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))[:2]
    rows, slowdowns = [], []
    for round_no in range(1, args.rounds + 1):
        alone = [timed((cpu,), args.steps)[0] for cpu in cores]
        both = timed(tuple(cores), args.steps)
        slowdown = sum(both) / sum(alone)
        slowdowns.append(slowdown)
        rows.append(
            f"| {round_no} | {', '.join(f'{x:.3f}' for x in alone)} | "
            f"{', '.join(f'{x:.3f}' for x in both)} | {slowdown:.2f} |"
        )
        print(rows[-1], flush=True)
    middle = harness.median(slowdowns)
    text = "\n".join(
        [
            f"two_cores: {args.rounds} rounds, {args.steps:,} steps per copy, cores {cores}; "
            f"load average before: {LOADAVG_BEFORE}",
            "",
            "| round | CPU s alone, each core | CPU s each, both cores busy | slowdown |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            f"median slowdown {middle:.2f} ({min(slowdowns):.2f}-{max(slowdowns):.2f}): two busy "
            f"cores do {2 / middle:.2f}x one core's work",
        ]
    )
    print("\n" + text)
    harness.save_report("two_cores", text, [])


LOADAVG_BEFORE = Path("/proc/loadavg").read_text().split(" ", 3)[:3]


if __name__ == "__main__":
    main()
