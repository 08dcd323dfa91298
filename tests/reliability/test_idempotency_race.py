"""200 concurrent POSTs with one Idempotency-Key: one entry, whatever the interleaving."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from typing import Any

import httpx

from tests.reliability.conftest import Chart, new_tenant, open_books
from tests.served import ServedProcess

CONCURRENT = 200


def _entry(chart: Chart, amount: int) -> dict[str, Any]:
    debit, credit = chart.accounts["USD"][:2]
    return {
        "ledger_id": chart.ledger_id,
        "lines": [
            {"account_id": debit, "direction": "debit", "amount": amount},
            {"account_id": credit, "direction": "credit", "amount": amount},
        ],
    }


async def _race(
    url: str, auth: dict[str, str], bodies: list[dict[str, Any]], key: str
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    headers = {**auth, "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        # Open every connection first, so the POSTs really arrive together.
        await asyncio.gather(*(client.get("/healthz") for _ in range(CONCURRENT)))
        return await asyncio.gather(
            *(client.post("/v1/entries", json=body, headers=headers) for body in bodies)
        )


def _setup(served: ServedProcess) -> tuple[dict[str, str], Chart]:
    tenant = new_tenant(served.url)
    with httpx.Client(base_url=served.url, headers=tenant.auth, timeout=30) as client:
        return tenant.auth, open_books(client, ("USD",))


def _entries(url: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    listed = httpx.get(f"{url}/v1/entries", params={"limit": 100}, headers=auth)
    assert listed.status_code == 200, listed.text
    entries: list[dict[str, Any]] = listed.json()["data"]
    return entries


def test_one_key_one_body_makes_exactly_one_entry(served: ServedProcess) -> None:
    auth, chart = _setup(served)
    began = time.perf_counter()
    answers = asyncio.run(
        _race(served.url, auth, [_entry(chart, 700)] * CONCURRENT, str(uuid.uuid4()))
    )
    seconds = time.perf_counter() - began
    statuses = collections.Counter(
        (a.status_code, a.headers.get("idempotent-replayed"), _code(a)) for a in answers
    )
    print(f"\n200 POSTs, one key, one body in {seconds:.2f} s: {dict(statuses)}")
    created = [
        a
        for a in answers
        if a.status_code == 201 and a.headers.get("idempotent-replayed") != "true"
    ]
    replays = [
        a
        for a in answers
        if a.status_code == 201 and a.headers.get("idempotent-replayed") == "true"
    ]
    in_flight = [
        a for a in answers if a.status_code == 409 and _code(a) == "idempotency.key_in_use"
    ]
    assert len(created) == 1
    assert len(created) + len(replays) + len(in_flight) == CONCURRENT, statuses
    entry_id = created[0].json()["id"]
    assert {a.json()["id"] for a in replays} <= {entry_id}
    assert [e["id"] for e in _entries(served.url, auth)] == [entry_id]


def test_one_key_two_bodies_makes_one_entry_and_refuses_the_other(served: ServedProcess) -> None:
    auth, chart = _setup(served)
    bodies = [_entry(chart, 100 if i % 2 else 200) for i in range(CONCURRENT)]
    answers = asyncio.run(_race(served.url, auth, bodies, str(uuid.uuid4())))
    statuses = collections.Counter((a.status_code, _code(a)) for a in answers)
    print(f"\n200 POSTs, one key, two bodies: {dict(statuses)}")
    made = [(b, a) for b, a in zip(bodies, answers, strict=True) if a.status_code == 201]
    assert made, statuses
    winner = made[0][0]["lines"][0]["amount"]
    entries = _entries(served.url, auth)
    assert len(entries) == 1 and entries[0]["lines"][0]["amount"] == winner
    assert {a.json()["id"] for _, a in made} == {entries[0]["id"]}
    assert all(b["lines"][0]["amount"] == winner for b, _ in made)  # only its body replays
    for body, answer in zip(bodies, answers, strict=True):
        if answer.status_code == 201:
            continue
        assert (answer.status_code, _code(answer)) in {
            (409, "idempotency.key_in_use"),
            (422, "idempotency.key_reused"),
        }, answer.text
        if body["lines"][0]["amount"] == winner:
            assert answer.status_code == 409  # the same body is never "reused"


def _code(answer: httpx.Response) -> str | None:
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        code: str = answer.json()["code"]
        return code
    return None
