"""Work a start keeps off the way to the first answer still gets done, a moment later."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from starlette.responses import PlainTextResponse

from gledger_sandbox import cli
from gledger_sandbox.api.settings import ConnectionSettings
from gledger_sandbox.api.transport import AFTER_START_DELAY, SandboxServer, server_config

SRC = Path(__file__).resolve().parents[1] / "src"

FROZEN_GARBAGE = """
import gc, weakref
from gledger_sandbox.bootstrap import collect_start_garbage, tune_garbage_collector

class Node:
    pass

gc.disable()  # as the command line starts
node = Node()
node.itself = node  # a cycle: only the cyclic collector frees it
alive = weakref.ref(node)
del node
tune_garbage_collector()
gc.enable()
gc.collect()
print("frozen", alive() is not None)
collect_start_garbage()
print("collected", alive() is None)
"""


def test_the_garbage_a_start_leaves_is_frozen_then_collected_once_serving() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FROZEN_GARBAGE],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["frozen", "True", "collected", "True"]


def test_the_server_runs_its_after_start_work_once_it_listens() -> None:
    ran = threading.Event()
    config = server_config(
        PlainTextResponse("ok"), ConnectionSettings(), host="127.0.0.1", port=0,
        log_level="warning", lifespan="off",
    )  # fmt: skip
    server = SandboxServer(config, None, after_start=ran.set)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        listening_at = time.monotonic()
        assert ran.wait(AFTER_START_DELAY + 10)
        assert time.monotonic() - listening_at >= AFTER_START_DELAY * 0.5
    finally:
        server.should_exit = True
        thread.join(timeout=10)


SERVE_ARGS = ["serve", "--port", "0", "--seed", "3", "--cors-origin", "*", "--public"]


def test_the_serve_only_command_line_reads_serve_exactly_as_the_whole_one() -> None:
    whole, serve_only = cli._parser(), cli._parser(serve_only=True)
    assert serve_only.parse_args(SERVE_ARGS) == whole.parse_args(SERVE_ARGS)

    def serve_help(parser: object) -> str:
        (commands,) = [a for a in parser._subparsers._group_actions]  # type: ignore[attr-defined]
        return str(commands.choices["serve"].format_help())

    assert serve_help(serve_only) == serve_help(whole)
