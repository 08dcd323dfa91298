"""The time a ``--state-dir`` write holds the event loop, on a tenant with a webhook endpoint.

In process, with the server's own parts (``build_services``: the registry, the runner, the
durable delivery worker, ``api.durability``): a ``merchant`` tenant grown to ``--entries``
entries (posted through the domain's commands), a webhook endpoint to a loopback receiver
(a standard-library HTTP server in a thread, answering 204), the garbage collector tuned as
``serve`` tunes it, then ``--writes`` entries
posted one at a time as ``POST /v1/entries`` posts them (in a journaled request's context),
each followed by its commit, its delivery's attempt and the attempt's outcome being written.

Measured: the time spent on the loop's thread building what a commit writes (a journal record,
or the tenant's full document) and writing what is written there (journal records are written
on the loop; full documents on the writer thread, not counted), per write, and how many
journal records and full documents were written. The same script runs on another revision's
code with ``--before REV`` (exported aside), side by side.

    python bench/journal_commit.py --entries 200 20000 --before main
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


class _Answer204(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer204)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()


class LoopTime:
    """Seconds spent on the loop's thread in ``Durability._batch`` and ``state_dir.write``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.records = 0
        self.documents = 0
        self.loop_thread = threading.get_ident()

    def timed(self, function: Any, batch_result: bool = False) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self.loop_thread:
                return function(*args, **kwargs)
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
            if batch_result:
                self.records += len(result.deltas)
                self.documents += len(result.rows)
            return result

        return wrapper


async def measure(entries: int, writes: int) -> dict[str, float]:
    from gledger_sandbox.api import durability as durable_module
    from gledger_sandbox.api import state_dir
    from gledger_sandbox.api.settings import Settings, WebhookSettings
    from gledger_sandbox.bootstrap import build_services, tune_garbage_collector
    from gledger_sandbox.domain.journal import TRUSTED
    from gledger_sandbox.domain.ledger import postings
    from gledger_sandbox.domain.ledger.models import EntrySpec, LineSpec
    from gledger_sandbox.domain.ledger.money import Direction
    from gledger_sandbox.domain.live.webhook_models import EndpointSpec

    with tempfile.TemporaryDirectory() as folder, receiver() as url:
        settings = Settings(
            state_dir=Path(folder) / "state",
            default_tenant=False,
            webhooks=WebhookSettings(retry_scale=0.001),
        )
        services = build_services(settings)
        durability = services.durability
        assert durability is not None
        registry = services.registry
        tenant = registry.create("merchant", seed=1)
        store = tenant.store
        ledger = next(iter(store.ledgers.values()))
        cash = store.account_by_code(ledger.id, "cash").id
        revenue = store.account_by_code(ledger.id, "revenue").id

        def entry(amount: int) -> EntrySpec:
            lines = (
                LineSpec(Direction.DEBIT, amount, account_id=cash),
                LineSpec(Direction.CREDIT, amount, account_id=revenue),
            )
            return EntrySpec(ledger.id, lines)

        while len(store.entries) < entries:
            postings.create_entry(store, entry(100))
        tenant.webhooks.create_endpoint(EndpointSpec(url), "whsec_" + "A" * 32)
        tune_garbage_collector()  # as serve does: no full collection walks the whole ledger
        await services.runner.start(registry)
        durability.mark(tenant.id)
        await durability.commit()  # the full document the journal starts from

        loop_time = LoopTime()
        durability._batch = loop_time.timed(durability._batch, batch_result=True)  # type: ignore[method-assign]
        durable_module.state_dir.write = loop_time.timed(state_dir.write)  # type: ignore[attr-defined]
        started = time.perf_counter()
        for n in range(writes):
            trusted = TRUSTED.set(True)  # as DurableWrites sets it for POST /v1/entries
            try:
                postings.create_entry(store, entry(n + 1))
            finally:
                TRUSTED.reset(trusted)
            durability.mark_journaled(tenant.id)
            await durability.commit()
            await asyncio.sleep(0.01)  # its attempt ends meanwhile: the worker's mark
        await asyncio.sleep(durable_module.BACKGROUND_SECONDS * 2 + 0.1)  # the last outcomes
        elapsed = time.perf_counter() - started
        delivered = sum(
            1 for d in tenant.webhooks.deliveries.values() if d.status.value == "succeeded"
        )
        await services.runner.stop()
        return {
            "entries": len(store.entries),
            "writes": writes,
            "loop_ms_per_write": loop_time.seconds / writes * 1000,
            "records": loop_time.records,
            "documents": loop_time.documents,
            "delivered": delivered,
            "elapsed_s": elapsed,
        }


def run_here(entries: int, writes: int) -> None:
    print(repr(asyncio.run(measure(entries, writes))))


def run_at(src: Path, entries: int, writes: int) -> dict[str, float]:
    """This script's measure, on the code of ``src`` (a fresh process)."""
    import harness  # as main does: the measured process never imports it

    code = f"import journal_commit; journal_commit.run_here({entries}, {writes})"
    return harness.measured_at(src, code, timeout=3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[200, 20_000])
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", metavar="REV", help="also measure this git revision")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    import harness

    ours = BENCH.parent / "src"
    with contextlib.ExitStack() as stack:
        sides = [("after", ours)]
        if args.before:
            sides.insert(
                0, (f"before ({args.before})", stack.enter_context(harness.exported(args.before)))
            )
        rows = []
        for entries in args.entries:
            for round_no in range(args.rounds):
                order = sides if round_no % 2 == 0 else list(reversed(sides))
                for name, src in order:
                    found = run_at(src, entries, args.writes)
                    rows.append((name, entries, found))
                    print(name, found, flush=True)
    print()
    print(
        "| code | entries | writes | loop ms per write (median round) | journal records "
        "| full documents | delivered |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for entries in args.entries:
        for name, _ in sides:
            mine = [r for n, e, r in rows if n == name and e == entries]
            loop = statistics.median(r["loop_ms_per_write"] for r in mine)
            last = mine[-1]
            print(
                f"| {name} | {int(last['entries']):,} | {int(last['writes'])} | {loop:.2f} "
                f"| {int(last['records'])} | {int(last['documents'])} | {int(last['delivered'])} |"
            )


if __name__ == "__main__":
    main()
