"""Run ``gledger-sandbox serve`` with a record of the garbage collector's full collections.

Used by ``growth.py``: every generation-2 collection is appended to the file named by
``BENCH_GC_LOG`` as one JSON line (when it ended, how long it took). The server itself is the
unchanged CLI; the callback costs microseconds per collection.

    BENCH_GC_LOG=/tmp/gc.jsonl python bench/gc_serve.py --port 18080 --api-key gls_bench
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from typing import Any

from gledger_sandbox.cli import main

_started: list[float] = [0.0]


def _record(path: str) -> None:
    def callback(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - _started[0]) * 1000
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"at": time.time(), "pause_ms": round(pause_ms, 2)}) + "\n")

    gc.callbacks.append(callback)


if __name__ == "__main__":
    log = os.environ.get("BENCH_GC_LOG")
    if log:
        _record(log)
    raise SystemExit(main(["serve", *sys.argv[1:]]))
