"""Events over HTTP: the list and its cursor, SSE with a real SSE client, the WebSocket feed."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, connect_sse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import Books, Sandbox, ServerThread, entry_body, new_sandbox


def events(box: Sandbox, **params: Any) -> dict[str, Any]:
    page = box.client.get("/v1/events", params=params)
    assert page.status_code == 200, page.text
    found: dict[str, Any] = page.json()
    return found


def test_an_entry_created_posted_is_entry_created_then_entry_posted_with_its_request_ids(
    sandbox: Sandbox, books: Books
) -> None:
    head = events(sandbox, limit=500)["next_after"]
    sent = sandbox.client.post(
        "/v1/entries",
        json=entry_body(books, ("cash", "debit", 500), ("revenue", "credit", 500)),
        headers={"X-Correlation-Id": "order-1234"},
    )
    created, posted = events(sandbox, after=head)["data"]
    assert [created["type"], posted["type"]] == ["entry.created", "entry.posted"]
    assert [created["sequence"], posted["sequence"]] == [head + 1, head + 2]
    for event in (created, posted):
        assert event["data"] == sent.json()
        assert event["request_id"] == sent.headers["x-gledger-request-id"]
        assert event["correlation_id"] == "order-1234"
        assert sandbox.client.get(f"/v1/events/{event['id']}").json() == event
    # A refused write and an idempotent replay add nothing.
    unbalanced = entry_body(books, ("cash", "debit", 5), ("revenue", "credit", 4))
    assert sandbox.client.post("/v1/entries", json=unbalanced).status_code == 422
    keyed = entry_body(books, ("cash", "debit", 7), ("revenue", "credit", 7))
    for _ in range(2):
        sandbox.client.post("/v1/entries", json=keyed, headers={"Idempotency-Key": "k-1"})
    assert [
        (e["type"], e["data"]["lines"][0]["amount"]) for e in events(sandbox, after=head)["data"]
    ] == [("entry.created", 500), ("entry.posted", 500), ("entry.created", 7), ("entry.posted", 7)]


def test_an_asynchronous_posting_emits_entry_posted_with_the_original_request_ids(
    sandbox: Sandbox, books: Books
) -> None:
    head = events(sandbox)["next_after"]
    accepted = sandbox.client.post(
        "/v1/entries",
        json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1)),
        headers={"Prefer": "respond-async", "X-Correlation-Id": "async-1"},
    )
    assert accepted.status_code == 202
    deadline = time.monotonic() + 10
    while len(page := events(sandbox, after=head)["data"]) < 2:
        assert time.monotonic() < deadline, page
        time.sleep(0.05)
    created, posted = page
    assert (created["type"], posted["type"]) == ("entry.created", "entry.posted")
    assert posted["data"]["status"] == "posted"
    assert posted["request_id"] == accepted.headers["x-gledger-request-id"]
    assert posted["correlation_id"] == "async-1"


def test_pages_filter_by_type_and_bad_cursors_are_refused_clearly(
    server: ServerThread, sandbox: Sandbox, books: Books
) -> None:
    only = events(sandbox, types="account.created", limit=4)
    assert [e["type"] for e in only["data"]] == ["account.created"] * 4 and only["has_more"]
    rest = events(sandbox, types="account.created,ledger.created", after=only["next_after"])
    assert len(rest["data"]) == 2 and not rest["has_more"]
    ahead = sandbox.client.get("/v1/events", params={"after": 10_000})
    assert ahead.status_code == 400 and ahead.json()["code"] == "events.cursor_out_of_range"
    unknown = sandbox.client.get("/v1/events", params={"types": "entry.exploded"})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["pointer"].startswith(
        "/query/types"
    )
    # A reset starts a new log after the old one: old cursors are gone, never a silent gap.
    last = events(sandbox, limit=500)["next_after"]
    assert sandbox.client.post("/v1/sandbox/reset", json={"fixture": "merchant"}).status_code == 200
    gone = sandbox.client.get("/v1/events", params={"after": 1})
    assert gone.status_code == 410 and gone.json()["code"] == "events.cursor_expired"
    assert gone.json()["errors"][0]["pointer"] == "/query/after"
    # Even a reader that was at the old head is told (one sequence is skipped at a reset) ...
    at_head = sandbox.client.get("/v1/events", params={"after": last})
    assert at_head.status_code == 410 and at_head.json()["code"] == "events.cursor_expired"
    # ... and after=0 reads the new log from its start.
    fresh = events(sandbox, after=0, limit=3)["data"]
    assert [e["sequence"] for e in fresh] == [last + 2, last + 3, last + 4]
    assert fresh[0]["type"] == "ledger.created"
    huge = sandbox.client.get("/v1/events/stream", headers={"Last-Event-ID": "9" * 5000})
    assert huge.status_code == 400 and huge.json()["errors"][0]["pointer"].startswith("/header")
    too_big = sandbox.client.get("/v1/events", params={"after": "9" * 30})
    assert too_big.status_code == 400


def read_sse(client: httpx.Client, limit: int, **params: Any) -> list[Any]:
    headers = params.pop("headers", {})
    with connect_sse(
        client,
        "GET",
        "/v1/events/stream",
        params={"max_events": limit, "timeout": 10, **params},
        headers=headers,
    ) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return list(source.iter_sse())


def test_sse_resumes_after_last_event_id_without_skipping_or_repeating(
    sandbox: Sandbox, books: Books
) -> None:
    for amount in range(1, 7):
        body = entry_body(books, ("cash", "debit", amount), ("revenue", "credit", amount))
        sandbox.client.post("/v1/entries", json=body)
    first = read_sse(sandbox.client, 4, after=0)
    assert [e.event for e in first] == ["ledger.created"] + ["account.created"] * 3
    assert [int(e.id) for e in first] == [1, 2, 3, 4]
    assert json.loads(first[0].data)["type"] == "ledger.created"
    resumed = read_sse(sandbox.client, 100, headers={"Last-Event-ID": first[-1].id}, after=0)
    sequences = [int(e.id) for e in first + resumed]
    assert sequences == list(range(1, sequences[-1] + 1))
    assert [(e.event, json.loads(e.data)["data"]["lines"][0]["amount"]) for e in resumed[-12:]] == [
        (kind, amount) for amount in range(1, 7) for kind in ("entry.created", "entry.posted")
    ]


def test_sse_delivers_live_events_and_keeps_an_idle_stream_alive(
    sandbox: Sandbox, books: Books
) -> None:
    received: list[Any] = []

    def listen() -> None:
        with sandbox.client.stream(
            "GET", "/v1/events/stream", params={"types": "entry.posted", "timeout": 3}
        ) as response:
            for event in EventSource(response).iter_sse():
                received.append(event)
                if len(received) == 2:
                    return

    reader = threading.Thread(target=listen)
    reader.start()
    time.sleep(0.8)  # idle long enough for keep-alive comments
    pending = entry_body(books, ("cash", "debit", 9), ("revenue", "credit", 9), status="pending")
    for _ in range(2):
        created = sandbox.client.post("/v1/entries", json=pending).json()
        sandbox.client.post(f"/v1/entries/{created['id']}/post")
    reader.join(timeout=10)
    assert [e.event for e in received] == ["entry.posted", "entry.posted"]
    assert all(json.loads(e.data)["data"]["status"] == "posted" for e in received)
    # Keep-alives keep coming to a filtered reader while other events wake it all the time.
    busy = threading.Event()

    def write_ledgers() -> None:
        while not busy.is_set():
            sandbox.client.post("/v1/ledgers", json={"name": "noise"})
            time.sleep(0.05)

    writer = threading.Thread(target=write_ledgers)
    writer.start()
    try:
        with sandbox.client.stream(
            "GET", "/v1/events/stream", params={"timeout": 1.2, "types": "entry.voided"}
        ) as response:
            raw = response.read()
    finally:
        busy.set()
        writer.join(timeout=10)
    comments = [line for line in raw.split(b"\n") if line.startswith(b":")]
    assert b"retry: 3000" in raw and comments.count(b": keep-alive") >= 3
    assert b"ledger.created" not in raw


def test_sse_refuses_bad_cursors_and_credentials_before_streaming(
    sandbox: Sandbox, anonymous: httpx.Client
) -> None:
    gone = sandbox.client.get("/v1/events/stream", headers={"Last-Event-ID": "x1"})
    assert gone.status_code == 400 and gone.json()["errors"][0]["pointer"] == (
        "/header/Last-Event-ID"
    )
    ahead = sandbox.client.get("/v1/events/stream", params={"after": 99_999})
    assert ahead.status_code == 400 and ahead.json()["code"] == "events.cursor_out_of_range"
    assert anonymous.get("/v1/events/stream").status_code == 401


def test_a_stalled_reader_is_dropped_and_a_reader_far_behind_catches_up_losing_nothing(
    server: ServerThread, sandbox: Sandbox, books: Books
) -> None:
    head = events(sandbox)["next_after"]
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    key = sandbox.credentials["api_key"]
    stalled.sendall(
        b"GET /v1/events/stream?timeout=60 HTTP/1.1\r\nHost: sandbox\r\n"
        + f"Authorization: Bearer {key}\r\n\r\n".encode()
    )
    metadata = {f"k{n}": "x" * 500 for n in range(50)}  # about 26 kB per event
    count = 250  # about 6.5 MB: more than the kernel and the transport buffer together
    started = time.monotonic()
    try:
        for n in range(1, count + 1):
            body = entry_body(books, ("cash", "debit", n), ("revenue", "credit", n))
            created = sandbox.client.post("/v1/entries", json={**body, "metadata": metadata})
            assert created.status_code == 201, created.text
        time.sleep(2.5)  # past the test server's send timeout of 1 s
        stalled.settimeout(10)
        received = b""
        while chunk := stalled.recv(1 << 20):  # the server closed it: recv reaches the end
            received += chunk
    finally:
        stalled.close()
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert len(received) < count * 26_000  # dropped before it got them all
    assert time.monotonic() - started < 50  # long before the stream's own 60 s bound
    # The log is the buffer: a reader far behind reads every event, in order.
    resumed = read_sse(sandbox.client, count, after=head)
    assert [int(e.id) for e in resumed] == list(range(head + 1, head + count + 1))


def test_the_websocket_feed_shares_the_cursor_and_the_credentials(
    server: ServerThread, sandbox: Sandbox, books: Books
) -> None:
    url = server.url.replace("http", "ws") + "/v1/events/ws"
    key = sandbox.credentials["api_key"]
    with connect(f"{url}?access_token={key}&after=0&max_events=3") as socket:
        assert json.loads(socket.recv(timeout=5)) == {"kind": "ready", "after": 0}
        got = [json.loads(socket.recv(timeout=5)) for _ in range(3)]
        assert [m["event"]["sequence"] for m in got] == [1, 2, 3]
        assert json.loads(socket.recv(timeout=5)) == {"kind": "end"}
    with connect(url) as socket:  # the credential in a first message
        socket.send(json.dumps({"access_token": key, "types": ["entry.voided"]}))
        assert json.loads(socket.recv(timeout=5))["kind"] == "ready"
        pending = entry_body(
            books, ("cash", "debit", 3), ("revenue", "credit", 3), status="pending"
        )
        created = sandbox.client.post("/v1/entries", json=pending).json()
        sandbox.client.post(f"/v1/entries/{created['id']}/void")
        message = json.loads(socket.recv(timeout=5))
        assert message["event"]["type"] == "entry.voided"
        assert message["event"]["data"]["id"] == created["id"]
    with connect(url) as socket:
        socket.send(json.dumps({"access_token": key, "after": -1}))
        refusal = json.loads(socket.recv(timeout=5))
        assert refusal["problem"]["code"] == "validation.invalid_cursor"
    with connect(url) as socket:
        socket.send(json.dumps({"access_token": key, "after": 1.5}))
        assert json.loads(socket.recv(timeout=5))["problem"]["status"] == 400
    with connect(url) as socket:
        socket.send(b"\x00binary")
        assert json.loads(socket.recv(timeout=5))["problem"]["code"] == "validation.invalid_json"
    with connect(f"{url}?access_token=nope") as socket:
        refusal = json.loads(socket.recv(timeout=5))
        assert refusal["kind"] == "error" and refusal["problem"]["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    other = new_sandbox(server)
    try:
        with connect(
            f"{url}?after=1",
            additional_headers={"Authorization": f"Bearer {other.credentials['api_key']}"},
        ) as socket:
            refusal = json.loads(socket.recv(timeout=5))
            assert refusal["problem"]["code"] == "events.cursor_out_of_range"
    finally:
        other.client.close()
