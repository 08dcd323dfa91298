"""What building a journal record costs, per ``POST /v1/entries`` of the mix, in process.

The server's own app (``sandbox_app`` with a state directory), a fresh ``merchant`` tenant,
then ``--writes`` entries posted through it over ASGI, each with its own ``Idempotency-Key``
(as ``mixed.lua`` posts them), each answered once its record is written. Measured around
``tenant_state.delta`` (the record built from the recorded changes): its time per record
(median), the record's bytes as written (orjson), the time orjson takes for it, how many
changes and new objects it holds, and the process's CPU time per POST (all of it: the client,
the app, the commit). ``--before REV`` measures another revision's code (exported
aside) in turns with this one, each in a fresh process.

    python bench/journal_record.py --before main
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


async def measure(writes: int) -> dict[str, float]:
    import httpx
    import orjson

    from gledger_sandbox.api import durability
    from gledger_sandbox.api.settings import Settings
    from gledger_sandbox.bootstrap import sandbox_app, tune_garbage_collector
    from gledger_sandbox.domain.sandbox import tenant_state

    records: list[dict[str, Any]] = []
    seconds: list[float] = []
    changes: list[int] = []
    build = tenant_state.delta

    def timed(tenant: Any, encoder: Any, recorded: list[Any]) -> dict[str, Any]:
        started = time.perf_counter()
        record = build(tenant, encoder, recorded)
        seconds.append(time.perf_counter() - started)
        changes.append(len(recorded))
        records.append(record)
        return record

    durability.tenant_state.delta = timed  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:  # its writer thread
        settings = Settings(state_dir=Path(folder) / "state", default_tenant=False)
        app, services = sandbox_app(settings)
        tenant = services.registry.create("merchant", seed=1)
        store = tenant.store
        ledger = next(iter(store.ledgers.values()))
        lines = [
            {"account_id": store.account_by_code(ledger.id, "cash").id, "direction": "debit"},
            {"account_id": store.account_by_code(ledger.id, "revenue").id, "direction": "credit"},
        ]
        body = {"ledger_id": ledger.id, "lines": [{**line, "amount": 100} for line in lines]}
        tune_garbage_collector()  # as serve does
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            auth = {"Authorization": f"Bearer {tenant.api_key}"}
            for n in range(writes + 1):  # the first: the journal's first record (its shapes)
                if n == 1:
                    for measured in (records, seconds, changes):
                        measured.clear()
                    posting = time.process_time()
                headers = {**auth, "Idempotency-Key": f"key-{n}"}
                answer = await client.post("/v1/entries", json=body, headers=headers)
                assert answer.status_code == 201, answer.text
        post_cpu = (time.process_time() - posting) / writes
    written = [orjson.dumps(record) for record in records]
    started = time.perf_counter()
    for record in records:
        orjson.dumps(record)
    dumps = (time.perf_counter() - started) / len(records)
    return {
        "records": len(records),
        "delta_us": statistics.median(seconds) * 1e6,
        "post_us": post_cpu * 1e6,
        "bytes": statistics.mean(len(text) for text in written),
        "orjson_us": dumps * 1e6,
        "changes": statistics.mean(changes),
        "objects": statistics.mean(len(r["delta"]["objects"]) for r in records),
    }


def run_here(writes: int) -> None:
    print(repr(asyncio.run(measure(writes))))


def run_at(src: Path, writes: int) -> dict[str, float]:
    import harness  # as main does: the measured process never imports it

    code = f"import journal_record; journal_record.run_here({writes})"
    return harness.measured_at(src, code, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", metavar="REV", help="also measure this git revision")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    import harness

    with contextlib.ExitStack() as stack:
        sides = [("after", BENCH.parent / "src")]
        if args.before:
            before = stack.enter_context(harness.exported(args.before))
            sides.insert(0, (f"before ({args.before})", before))
        rows: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
        for round_no in range(args.rounds):
            for name, src in sides if round_no % 2 == 0 else sides[::-1]:
                found = run_at(src, args.writes)
                rows[name].append(found)
                print(name, found, flush=True)
    print()
    print(
        "| code | records | delta us (median) | bytes | orjson us | changes | objects "
        "| CPU us per POST, all of it |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rounds in rows.items():
        row = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(
            f"| {name} | {int(row['records']):,} | {row['delta_us']:.1f} | {row['bytes']:,.0f} "
            f"| {row['orjson_us']:.1f} | {row['changes']:.1f} | {row['objects']:.1f} "
            f"| {row['post_us']:.0f} |"
        )


if __name__ == "__main__":
    main()
