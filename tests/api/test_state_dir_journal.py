"""``serve --state-dir`` journals the writes partners make most: a real server process, killed
(SIGKILL) after journaled writes and started again, serves byte for byte what it served before;
on a tenant with a webhook endpoint (deliveries and attempt outcomes are journal records too)
and one with fault rules (their counters and injections). What the journal cannot hold (a
change it does not record, a record that cannot be written) costs a full document, never the
change."""

from __future__ import annotations

import resource
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from gledger_sandbox.api import journal_file
from tests.api.durable import (
    Server,
    api_client,
    books,
    check_books,
    entries_come_back,
    entry_lines,
    journal_rows,
    killed_mid_load,
    post,
    start_books,
    state,
    webhooks_arrive,
)
from tests.receiver import Receiver

__all__ = ["state"]  # the fixture


def _paged(client: httpx.Client, path: str) -> list[bytes]:
    """Every page of a listing, as the bytes served."""
    pages, cursor = [], None
    while True:
        answer = client.get(path, params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, (path, answer.text)
        pages.append(answer.content)
        body = answer.json()
        if not body.get("has_more"):
            return pages
        cursor = body["next_cursor"]


def _served(client: httpx.Client, ledger: str) -> list[bytes]:
    """What the tenant serves of everything its journaled writes touch."""
    served = [client.get("/v1/events", params={"limit": 500}).content]
    for path in ["/v1/ledgers", f"/v1/ledgers/{ledger}/accounts", "/v1/entries"]:
        served += _paged(client, path)
    accounts = client.get(f"/v1/ledgers/{ledger}/accounts", params={"limit": 200}).json()
    for account_id in [account["id"] for account in accounts["data"]]:
        served += [client.get(f"/v1/accounts/{account_id}/balance").content]
        served += _paged(client, f"/v1/accounts/{account_id}/lines")
    served += _paged(client, "/v1/sandbox/faults") + _paged(client, "/v1/sandbox/fault-injections")
    for endpoint in client.get("/v1/webhook-endpoints").json()["data"]:
        served += _paged(client, f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")
    return served


def _written(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def _every_journaled_write(client: httpx.Client, ledger: str, state: Path, name: str) -> None:
    """One of each journaled kind of write; each is at least one journal record."""
    before = journal_rows(state)
    ledgers = "/v1/ledgers"
    other = _written(client.post(ledgers, json={"name": "Other", "metadata": {"k": "v"}}))
    _written(client.patch(f"{ledgers}/{other['id']}", json={"metadata": {"k": "w"}}))
    account = {"code": name, "name": "Fees", "kind": "expense", "currency": "USD"}
    fees = _written(client.post(f"{ledgers}/{ledger}/accounts", json=account))
    _written(client.patch(f"/v1/accounts/{fees['id']}", json={"metadata": {"team": "ops"}}))
    body = {"ledger_id": ledger, "lines": entry_lines(40)}
    keyed = {"Idempotency-Key": f"{name}-entry"}
    entry = _written(client.post("/v1/entries", json=body, headers=keyed))
    _written(client.patch(f"/v1/entries/{entry['id']}", json={"metadata": {"order": "o-1"}}))
    _written(client.post(f"/v1/entries/{entry['id']}/reverse", json={"description": "Undo"}))
    for then in ("post", "void"):
        pending = _written(client.post("/v1/entries", json={**body, "status": "pending"}))
        _written(client.post(f"/v1/entries/{pending['id']}/{then}"))
    batch = {"entries": [body, {**body, "idempotency_key": f"{name}-item"}]}
    _written(client.post("/v1/entries/batch", json=batch))
    assert journal_rows(state) - before >= 12  # no full document since: records only


def test_each_journaled_write_replays_to_what_was_served(state: Path) -> None:
    receiver = Receiver().start()
    server, ledger, _ = start_books(state)
    with api_client(server) as client:
        _every_journaled_write(client, ledger, state, "fees")  # no endpoints, no rules yet
        hook = client.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
        latency = {"type": "latency", "latency_ms": 1, "latency_max_ms": 3}
        rule = {
            "match": {"operation_id": "createEntry"},
            "effect": {**latency, "distribution": "uniform"},
            "probability": 0.5,
            "seed": 3,
        }
        assert client.post("/v1/sandbox/faults", json=rule).status_code == 201
        assert journal_rows(state) == 0  # both are full documents
        _every_journaled_write(client, ledger, state, "costs")  # with an endpoint and a rule
        _all_delivered(client, hook.json()["id"])
        time.sleep(1.0)  # the worker's outcomes are written within half a second
        assert journal_rows(state) >= 12  # the outcomes too: no full document
        served = _served(client, ledger)
        injections = client.get("/v1/sandbox/fault-injections").json()["data"]
        assert injections, "the rule fired on some of the entries"
    server.stop(signal.SIGKILL)
    server.start()  # replays the journal
    with api_client(server) as client:
        assert _served(client, ledger) == served
        again = client.post(
            "/v1/entries",
            json={"ledger_id": ledger, "lines": entry_lines(40)},
            headers={"Idempotency-Key": "costs-entry"},
        )
        assert again.headers.get("Idempotent-Replayed") == "true", again.text
    server.stop(signal.SIGTERM)
    receiver.stop()


def _all_delivered(client: httpx.Client, endpoint_id: str) -> None:
    deadline = time.monotonic() + 30
    path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
    while client.get(path, params={"status": "pending", "limit": 1}).json()["data"]:
        assert time.monotonic() < deadline, "deliveries still pending"
        time.sleep(0.05)


def test_webhook_tenant_killed_mid_load_on_the_journal(state: Path) -> None:
    receiver = Receiver().start()
    server = Server(state).start()
    with api_client(server) as client:
        ledger, accounts = books(client)
        hook = client.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
    acked = killed_mid_load(server, ledger, workers=4, answered=150)
    # Journal records, not full documents: one commit holds at most the four requests under
    # way, and a full document would have cleared the records before it.
    assert journal_rows(state) >= len(acked) // 4
    delivered_before = len(receiver.delivered())

    server.start()
    entries_come_back(server, acked)
    with api_client(server) as client:
        check_books(client, ledger, accounts)
    webhooks_arrive(receiver, acked)
    assert delivered_before > 0  # most were delivered before the kill, the rest after
    server.stop(signal.SIGTERM)
    receiver.stop()


def test_a_change_the_journal_does_not_hold_costs_a_full_document(state: Path) -> None:
    server, ledger, _ = start_books(state)
    acked: dict[str, Any] = {}
    with api_client(server) as client:
        rule = {"match": {"operation_id": "getLedger"}, "probability": 0.5, "seed": 9}
        rule["effect"] = {"type": "latency", "latency_ms": 1}
        assert client.post("/v1/sandbox/faults", json=rule).status_code == 201
        post(client, ledger, "first", acked)
        assert journal_rows(state) == 1
        # A read the rule matches moves its counters: no write records that.
        for _ in range(6):
            assert client.get(f"/v1/ledgers/{ledger}").status_code == 200
        post(client, ledger, "second", acked)
        assert journal_rows(state) == 0  # the tainted journal gave way to a full document
        served = _served(client, ledger)
        matched = client.get("/v1/sandbox/faults").json()["data"][0]["matched_count"]
        assert matched == 6
    server.stop(signal.SIGKILL)
    server.start()
    entries_come_back(server, acked)
    with api_client(server) as client:
        assert _served(client, ledger) == served
    server.stop(signal.SIGTERM)


def test_a_journal_record_that_cannot_be_written_is_answered_503_and_written_whole_later(
    state: Path,
) -> None:
    server, ledger, accounts = start_books(state)
    acked: dict[str, Any] = {}
    with api_client(server) as client:
        post(client, ledger, "first", acked)
        # The journal file refuses to grow: the server may write no file past its size (the
        # kernel's file size limit for the process, EFBIG; Python ignores SIGXFSZ).
        assert server.process is not None
        pid, limit = server.process.pid, resource.RLIMIT_FSIZE
        soft, hard = resource.prlimit(pid, limit)
        resource.prlimit(pid, limit, (journal_file.segments(state)[-1].stat().st_size, hard))
        body = {"ledger_id": ledger, "lines": entry_lines(7)}
        keyed = {"Idempotency-Key": "unwritten"}
        refused = client.post("/v1/entries", json=body, headers=keyed)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "state.write_failed"
        assert refused.headers["retry-after"] == "1"
        resource.prlimit(pid, limit, (soft, hard))
        # The server writes the tenant whole (a full document needs no record) and the
        # stored answer is then served.
        retried = client.post("/v1/entries", json=body, headers=keyed)
        assert retried.status_code == 201, retried.text
        assert retried.headers.get("Idempotent-Replayed") == "true"
        acked["unwritten"] = retried.json()
        post(client, ledger, "after", acked)
        assert journal_rows(state) == 1  # records again, after the full document
        served = _served(client, ledger)
    server.stop(signal.SIGKILL)
    server.start()
    entries_come_back(server, acked)
    with api_client(server) as client:
        assert _served(client, ledger) == served
        check_books(client, ledger, accounts)
    server.stop(signal.SIGTERM)
