"""The fuzz phase over several worker processes, with the cases and outcomes of one process.

Drawing cases (Hypothesis) and checking answers take most of a run's CPU; in one process they
also share the interpreter with an in-process sandbox. Here operations are dealt to worker
processes (each with its own schema and connections to the target) and fuzzed there as
``fuzz.fuzz_operation`` fuzzes them in one process. Each operation's cases come from its own
Hypothesis run under the run's seed, so which worker fuzzes it, and when, changes nothing it
sends; its outcomes come back and are filed in operation order, so the report reads the same.

One thing Hypothesis draws from besides the seed is the process itself: constants it finds in
the source of the (non-library) modules loaded so far, which differ between this process (the
in-process sandbox loaded) and a fresh worker. ``frozen_constants`` fixes them for the phase to
those of this process when it starts, here and in every worker, so one seed makes one set of
cases whatever the number of workers.

The operations that change the tenant for every other call (its clock, its fault rules, its
allowed networks, a restore: ``ALONE``) are fuzzed first, in this process, one at a time, so
that no other operation's answers depend on when they ran.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gledger_sandbox.contract.console import Console
from gledger_sandbox.contract.known_ids import KnownIds
from gledger_sandbox.contract.options import TENANT_WIDE, ContractOptions
from gledger_sandbox.contract.report import Outcome, Results
from gledger_sandbox.contract.spec import ApiSpec
from gledger_sandbox.contract.target import Credential, Deadline, Target

ALONE = TENANT_WIDE | {"setAllowedNetworks", "restoreSnapshot"}
"""Operations fuzzed with nothing else running: each can change every other call's answer."""


@dataclass(frozen=True, slots=True)
class WorkerStart:
    """What a worker process needs to rebuild the run's target (all of it picklable)."""

    base_url: str
    spec: ApiSpec
    options: ContractOptions
    credential: dict[str, Any]
    budget: float | None
    started: float
    seed: int
    known: dict[str, str]
    constants: dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Fuzzed:
    """One operation fuzzed in a worker: its outcomes, progress lines and what it created."""

    outcomes: tuple[Outcome, ...]
    progress: str
    endpoints: list[str] = field(default_factory=list)
    cut_short: bool = False


_worker: tuple[Target, Any, Any] | None = None
"""This worker process's target, schemathesis schema and validator (set by ``_start``)."""


def fuzz_in_workers(
    target: Target,
    schema: Any,
    validator: Any,
    console: Console,
    operations: list[str],
    constants: dict[str, list[Any]],
) -> None:
    """Fuzz the ``ALONE`` operations here, then the rest over ``target.options.workers``."""
    from gledger_sandbox.contract.fuzz import fuzz_operation

    shared = [op for op in operations if op not in ALONE]
    start = WorkerStart(
        target.base_url,
        target.spec,
        target.options,
        target.credential.state(),
        target.deadline.budget,
        target.deadline.started,
        target.seed,
        dict(target.known.values),
        constants,
    )
    # Before the rest, as one process fuzzes them (they come early in the spec): after it, an
    # advanceClock would also move everything fuzzing made on, and take minutes doing so.
    for operation_id in operations:
        if operation_id in ALONE:
            fuzz_operation(target, schema, validator, operation_id, console)
    workers = min(target.options.workers or 1, len(shared))
    for fuzzed in _in_workers(start, shared, workers):
        for line in fuzzed.progress.splitlines():
            console.progress(line)
        target.results.absorb(fuzzed.outcomes)
        target.fuzzed_endpoints.extend(fuzzed.endpoints)
        target.deadline.cut_short |= fuzzed.cut_short


def _in_workers(start: WorkerStart, operations: list[str], count: int) -> Iterator[Fuzzed]:
    """Each operation fuzzed by one of ``count`` worker processes, yielded in their order.

    Workers are ``python -m gledger_sandbox.contract.fuzz_worker`` with this interpreter and
    import path, spoken to in pickles over their standard input and output (not
    ``multiprocessing``, which re-runs the caller's main script in each worker unless it is
    guarded by ``if __name__ == "__main__"``). Each takes the next operation when it is done
    with one.
    """
    pending: queue.SimpleQueue[tuple[str, Future[Fuzzed]]] = queue.SimpleQueue()
    futures: list[Future[Fuzzed]] = []
    for operation_id in operations:
        futures.append(Future())
        pending.put((operation_id, futures[-1]))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gledger_sandbox.contract.fuzz_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
        )
        for _ in range(count)
    ]
    threads = [
        threading.Thread(target=_feed, args=(p, start, pending), daemon=True) for p in processes
    ]
    try:
        for thread in threads:
            thread.start()
        for future in futures:
            yield future.result()
    finally:
        for process in processes:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()
        for thread in threads:
            thread.join(timeout=10)


def _feed(
    process: subprocess.Popen[bytes],
    start: WorkerStart,
    pending: queue.SimpleQueue[tuple[str, Future[Fuzzed]]],
) -> None:
    """Hand one worker its start, then operations one by one until none is left."""
    assert process.stdin is not None and process.stdout is not None
    broken: BaseException | None = None
    try:
        pickle.dump(start, process.stdin)
        process.stdin.flush()
    except OSError as error:
        broken = error
    while True:
        try:
            operation_id, future = pending.get_nowait()
        except queue.Empty:
            return
        if broken is not None:
            future.set_exception(RuntimeError(f"a fuzz worker failed: {broken!r}"))
            continue
        try:
            pickle.dump(operation_id, process.stdin)
            process.stdin.flush()
            future.set_result(pickle.load(process.stdout))
        except (OSError, EOFError, pickle.UnpicklingError) as error:
            broken = error
            future.set_exception(RuntimeError(f"a fuzz worker failed on {operation_id}: {error!r}"))


def serve_parent(requests: BinaryIO, answers: BinaryIO) -> None:
    """A worker's life: its start, then one ``Fuzzed`` answer per operation asked for."""
    _start(pickle.load(requests))
    while True:
        try:
            operation_id = pickle.load(requests)
        except EOFError:
            return
        pickle.dump(_fuzz_one(operation_id), answers)
        answers.flush()


def _start(start: WorkerStart) -> None:
    """A worker's set-up: the target as the parent has it, its own schema and validator."""
    from gledger_sandbox.contract.fuzz import load_schema
    from gledger_sandbox.contract.validator import Validator

    global _worker
    _freeze(start.constants)  # for the worker's life
    known = KnownIds()
    known.values = dict(start.known)
    target = Target(
        start.base_url,
        start.spec,
        start.options,
        Credential(**start.credential),
        Deadline(start.budget, start.started),
        Results(),
        start.seed,
        known,
    )
    _worker = (target, load_schema(target), Validator(target, "fuzz"))


def _fuzz_one(operation_id: str) -> Fuzzed:
    from gledger_sandbox.contract.fuzz import fuzz_operation

    assert _worker is not None, "the worker was not started"
    target, schema, validator = _worker
    target.results = Results()
    target.fuzzed_endpoints = []
    progress = io.StringIO()
    fuzz_operation(target, schema, validator, operation_id, Console(progress, False))
    outcomes = target.results.report("", 0, 0, False).outcomes
    return Fuzzed(outcomes, progress.getvalue(), target.fuzzed_endpoints, target.deadline.cut_short)


def local_constants() -> dict[str, list[Any]]:
    """The constants Hypothesis found in this process's own modules so far, as plain lists."""
    from hypothesis.internal.conjecture import providers

    found = providers._get_local_constants()
    return {
        "integers": list(found.integers),
        "floats": list(found.floats),
        "bytes": list(found.bytes),
        "strings": list(found.strings),
    }


@contextmanager
def frozen_constants(constants: dict[str, list[Any]]) -> Iterator[None]:
    """Within, Hypothesis draws its local constants from ``constants`` and no others."""
    restore = _freeze(constants)
    try:
        yield
    finally:
        restore()


def _freeze(constants: dict[str, list[Any]]) -> Callable[[], None]:
    # Hypothesis has no setting for this: its provider asks the module function each time.
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants
    from hypothesis.internal.floats import float_to_int
    from sortedcontainers import SortedSet

    frozen = Constants(
        integers=SortedSet(constants["integers"]),
        floats=SortedSet(constants["floats"], key=float_to_int),
        bytes=SortedSet(constants["bytes"]),
        strings=SortedSet(constants["strings"]),
    )
    found = providers._get_local_constants
    providers._get_local_constants = lambda: frozen
    providers.CONSTANTS_CACHE.cache.clear()

    def restore() -> None:
        providers._get_local_constants = found
        providers.CONSTANTS_CACHE.cache.clear()

    return restore
