"""Run ``gledger-sandbox serve`` with a loop-lag probe: how long the event loop was held.

Used by ``loop_block.py``. A task on the server's own loop asks to wake every millisecond;
whenever it wakes late by more than 2 ms it appends one JSON line to ``BENCH_LAG_LOG`` (when,
how late, and the CPU time the process used meanwhile). A late wake-up means the loop ran
something else that long without yielding, or the machine did not run the process: on a shared
machine ``cpu_ms`` tells the two apart (the loop busy for ``cpu_ms`` of the ``lag_ms``). The
server itself is the unchanged CLI of whatever code is on ``PYTHONPATH``.

    BENCH_LAG_LOG=/tmp/lag.jsonl python bench/lag_serve.py --port 18080 --api-key gls_bench
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import uvicorn

from gledger_sandbox.cli import main

TICK = 0.001
REPORTED = 0.002


async def _probe(path: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        while True:
            began, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(TICK)
            late = time.perf_counter() - began - TICK
            if late > REPORTED:
                busy = time.process_time() - cpu
                row = {"at": time.time(), "lag_ms": round(late * 1000, 2)}
                out.write(json.dumps({**row, "cpu_ms": round(busy * 1000, 2)}) + "\n")
                out.flush()


def _with_probe(path: str) -> None:
    serve = uvicorn.Server.serve

    async def probed(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        probe = asyncio.get_running_loop().create_task(_probe(path))
        try:
            await serve(self, *args, **kwargs)
        finally:
            probe.cancel()

    uvicorn.Server.serve = probed  # type: ignore[method-assign]


if __name__ == "__main__":
    log = os.environ.get("BENCH_LAG_LOG")
    if log:
        _with_probe(log)
    sys.exit(main(["serve", *sys.argv[1:]]))
