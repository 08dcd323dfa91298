"""``gledger-sandbox events tail``: the live feed as lines a person reads, from a real process."""

from __future__ import annotations

import re

from tests.conftest import Books, Sandbox, ServerThread, entry_body
from tests.devtools.processes import Command


def test_tail_prints_one_readable_line_per_event_of_the_types_asked(
    sandbox: Sandbox, server: ServerThread, books: Books
) -> None:
    args = ("events", "tail", "--types", "entry.created,entry.voided", "--base-url", server.url)
    command = Command(
        args, env={**Command(()).env, "GLEDGER_API_KEY": sandbox.credentials["api_key"]}
    ).start()
    try:
        command.wait_for("following the event feed", stderr=True)
        body = entry_body(
            books,
            ("cash", "debit", 10800),
            ("revenue", "credit", 10000),
            ("tax", "credit", 800),
            status="pending",
            source_type="invoice",
            source_id="in_1001",
        )
        entry = sandbox.client.post("/v1/entries", json=body).json()
        sandbox.client.post(f"/v1/entries/{entry['id']}/void", json={})
        created, voided = command.wait_for(entry["id"], count=2)
        events = sandbox.client.get(
            "/v1/events", params={"types": "entry.created,entry.voided"}
        ).json()["data"]
        assert re.fullmatch(
            rf"\d\d:\d\d:\d\d  #{events[0]['sequence']} +entry\.created +{events[0]['id']}  "
            rf"entry {entry['id']} pending 10800 USD \(invoice in_1001\)",
            created,
        ), created
        assert re.search(
            rf"entry\.voided +{events[1]['id']}  entry {entry['id']} voided", voided
        ), voided
        assert len(command.out) == 2  # no account or ledger lines: not asked for
    finally:
        command.stop()


def test_an_unknown_type_is_refused_with_the_sandbox_s_reason(
    sandbox: Sandbox, server: ServerThread
) -> None:
    args = (
        "events",
        "tail",
        "--types",
        "entry.nope",
        "--base-url",
        server.url,
        "--api-key",
        sandbox.credentials["api_key"],
    )
    command = Command(args).start()
    assert command.process is not None and command.process.wait(timeout=30) == 2
    command.stop()
    assert any(
        "validation.invalid_value" in line and "entry.nope" in line for line in command.err
    ), command.err
