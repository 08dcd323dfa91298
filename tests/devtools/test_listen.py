"""``gledger-sandbox listen`` as a partner runs it: a real sandbox, a real receiver, real processes.

The receiver (``tests/receiver.py``) verifies every request with the independent
``standardwebhooks`` library and the secret the listener printed. The stream is broken two
ways: a relay cut while the sandbox runs (the same log: the listener resumes from its cursor,
missing and repeating nothing), and a real ``serve`` process stopped and started on the same
port (a new in-memory log: the listener says so and forwards what the new sandbox makes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import Sandbox, ServerThread, free_port
from tests.devtools.processes import Command, SandboxProcess
from tests.devtools.relay import Relay
from tests.receiver import Behaviour, Receiver

SECRET_LINE = r"Your webhook signing secret is (whsec_\S+)"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def listen(base_url: str, api_key: str, receiver: Receiver, *extra: str) -> Command:
    args = ("listen", "--forward-to", receiver.url, "--base-url", base_url, *extra)
    command = Command(args, env={**Command(()).env, "GLEDGER_API_KEY": api_key}).start()
    command.wait_for("following the event feed", stderr=True)
    return command


def secret_of(command: Command) -> str:
    match = re.search(SECRET_LINE, command.wait_for(SECRET_LINE)[0])
    assert match is not None
    return match.group(1)


def verified(receiver: Receiver, secret: str, count: int) -> list[dict[str, object]]:
    """The first ``count`` deliveries, each verified by standardwebhooks (raises if one fails)."""
    hook = Webhook(secret)
    return [hook.verify(got.body, got.headers) for got in receiver.wait_for(count)[:count]]


def test_each_event_arrives_signed_with_the_printed_secret_and_one_line_per_delivery(
    sandbox: Sandbox, server: ServerThread, receiver: Receiver
) -> None:
    command = listen(
        server.url,
        sandbox.credentials["api_key"],
        receiver,
        "--events",
        "ledger.created,entry.created",
    )
    try:
        secret = secret_of(command)
        ledger = sandbox.client.post("/v1/ledgers", json={"name": "Listened"}).json()
        sandbox.client.post(
            f"/v1/ledgers/{ledger['id']}/accounts",
            json={"code": "cash", "name": "Cash", "kind": "asset", "currency": "USD"},
        )
        events = sandbox.client.get("/v1/events", params={"types": "ledger.created"}).json()["data"]
        payloads = verified(receiver, secret, 1)
        assert payloads[0]["id"] == events[0]["id"] and payloads[0]["type"] == "ledger.created"
        assert receiver.received[0].headers["webhook-id"] == events[0]["id"]
        line = command.wait_for(r"ledger\.created")[0]
        assert re.search(
            rf"\d\d:\d\d:\d\d  --> ledger\.created +{events[0]['id']}  \[204\]  \d+ ms$", line
        ), line
        assert command.out.count(line) == 1
    finally:
        command.stop()
    assert len(receiver.received) == 1, "account.created was not asked for"


def test_a_failed_forward_is_retried_with_the_same_webhook_id(
    sandbox: Sandbox, server: ServerThread, receiver: Receiver
) -> None:
    receiver.behaviour = Behaviour(fail_every=1, fail_status=503)
    command = listen(server.url, sandbox.credentials["api_key"], receiver)
    try:
        secret = secret_of(command)
        sandbox.client.post("/v1/ledgers", json={"name": "Flaky receiver"})
        command.wait_for(r"\[503\].*retrying in 0\.5 s")
        receiver.behaviour = Behaviour()
        command.wait_for(r"\[204\].*\(attempt 2\)")
        verified(receiver, secret, 1)
        first, second = receiver.received[:2]
        assert first.answered == 503 and second.answered == 204
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
    finally:
        command.stop()


def test_a_broken_stream_resumes_from_its_cursor_missing_and_repeating_nothing(
    sandbox: Sandbox, server: ServerThread, receiver: Receiver
) -> None:
    relay = Relay(server.port).up()
    command = listen(relay.url, sandbox.credentials["api_key"], receiver)
    try:
        secret = secret_of(command)
        sandbox.client.post("/v1/ledgers", json={"name": "Before the cut"})
        verified(receiver, secret, 1)
        relay.down()
        command.wait_for("lost the event stream", stderr=True)
        for name in ("While down 1", "While down 2"):  # straight to the sandbox, not the relay
            assert sandbox.client.post("/v1/ledgers", json={"name": name}).status_code == 201
        relay.up()
        command.wait_for(r"resumed after #1", stderr=True)
        payloads = verified(receiver, secret, 3)
        names = [p["data"]["name"] for p in payloads]  # type: ignore[index]
        assert names == ["Before the cut", "While down 1", "While down 2"]
        assert len(receiver.received) == 3
    finally:
        command.stop()
        relay.down()


def test_across_a_restart_of_the_sandbox_process_it_reconnects_and_follows_the_new_log(
    receiver: Receiver,
) -> None:
    key = "gls_test_listen_restart_key"
    sandbox = SandboxProcess(free_port(), key).start()
    command = listen(sandbox.url, key, receiver)
    try:
        secret = secret_of(command)
        client = httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"})
        client.post("/v1/ledgers", json={"name": "Before the restart"})
        verified(receiver, secret, 1)

        sandbox.stop()
        command.wait_for("lost the event stream", stderr=True)
        sandbox.start()  # same port, key and seed; an in-memory sandbox starts a new log
        command.wait_for("event log is a new one", stderr=True)
        command.wait_for("following the event feed from the head", stderr=True, count=2)
        client.post("/v1/ledgers", json={"name": "After the restart"})
        payloads = verified(receiver, secret, 2)
        names = [p["data"]["name"] for p in payloads]  # type: ignore[index]
        assert names == ["Before the restart", "After the restart"]
        assert payloads[1]["sequence"] == 1  # the new log's first event
        client.close()
    finally:
        command.stop()
        sandbox.stop()


def test_without_a_key_it_says_how_to_give_one() -> None:
    command = Command(
        ("listen", "--forward-to", "http://127.0.0.1:9/hooks"),
        env={**Command(()).env, "GLEDGER_API_KEY": ""},
    ).start()
    assert command.process is not None
    assert command.process.wait(timeout=30) == 2
    command.stop()
    assert any("--api-key or $GLEDGER_API_KEY" in line for line in command.err), command.err
