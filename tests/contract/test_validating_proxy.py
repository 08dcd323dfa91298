"""The validating proxy (``contract proxy``): a scripted partner integration drives it.

Through the real sandbox the proxy reports nothing, and every check it has met its data. Through
a faulty deployment (the fault proxy of ``tests/contract/faults`` in front of the sandbox) each
fault is reported on the right check and operation, with a curl that reproduces it. The HAR file
it writes is read back. The proxy is the real thing: uvicorn on loopback, httpx upstream.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gledger_sandbox.bootstrap import LoopbackServer
from gledger_sandbox.contract import ContractReport
from gledger_sandbox.contract.proxy import PROXY_CHECKS, ProxySession, ValidatingProxy
from tests.conftest import ServerThread, free_port, new_sandbox
from tests.contract.faults.faults import make_fault
from tests.contract.faults.proxy import Fault, fault_proxy


@contextmanager
def validating(upstream: str, har: Path | None = None) -> Iterator[tuple[str, ProxySession]]:
    """The validating proxy to ``upstream`` on loopback; the session holds what it found."""
    session = ProxySession(upstream, har=har, out=io.StringIO())
    with LoopbackServer(ValidatingProxy(session)) as running:
        yield running.url, session


def integration(base_url: str, api_key: str) -> None:
    """What a partner's integration does: books, an entry (replayed), reads, pages, events."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        # ``.get``: a faulty deployment may drop a field; the integration goes on, as the proxy does.
        ledger = client.post("/v1/ledgers", json={"name": "Shop"}).json().get("id")
        accounts = {}
        for code, kind in (("cash", "asset"), ("revenue", "revenue")):
            answer = client.post(
                f"/v1/ledgers/{ledger}/accounts",
                json={"code": code, "name": code, "kind": kind, "currency": "USD"},
            )
            accounts[code] = answer.json().get("id")
        for amount in (100, 250, 75):
            entry = {
                "ledger_id": ledger,
                "lines": [
                    {"account_id": accounts["cash"], "direction": "debit", "amount": amount},
                    {"account_id": accounts["revenue"], "direction": "credit", "amount": amount},
                ],
            }
            key = {"Idempotency-Key": f"sale-{amount}"}
            first = client.post("/v1/entries", json=entry, headers=key)
            client.post("/v1/entries", json=entry, headers=key)  # a retry, as a client does
        created = first.json().get("id")
        client.get(f"/v1/entries/{created}")
        client.get(f"/v1/accounts/{accounts['cash']}/balance")
        cursor = None
        for _ in range(5):  # the entries, one a page
            params = {"ledger_id": ledger, "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/entries", params=params).json()
            if not page.get("has_more"):
                break
            cursor = page.get("next_cursor")
        after = 0
        for _ in range(4):  # the event log, three a page
            page = client.get("/v1/events", params={"after": after, "limit": 3}).json()
            after = page.get("next_after", after)
        with client.stream(
            "GET", "/v1/events/stream", params={"after": 0, "max_events": 4, "timeout": 1}
        ) as stream:
            stream.read()


def _report(session: ProxySession, tmp_path: Path) -> tuple[ContractReport, ET.Element]:
    report = session.close(tmp_path / "proxy.xml")
    return report, ET.parse(tmp_path / "proxy.xml").getroot()


def test_through_the_sandbox_nothing_is_reported(server: ServerThread, tmp_path: Path) -> None:
    tenant = new_sandbox(server)
    har = tmp_path / "traffic.har"
    with validating(server.url, har) as (url, session):
        integration(url, tenant.credentials["api_key"])
    report, junit = _report(session, tmp_path)
    assert report.ok, session.console.out.getvalue()  # type: ignore[attr-defined]
    ran = {outcome.check for outcome in report.outcomes}
    # Every check met its data: none of them passed by never looking.
    assert ran == set(PROXY_CHECKS) - {"problem_json"}, ran
    assert junit.find("testsuite").get("name") == "proxy"  # type: ignore[union-attr]
    log = json.loads(har.read_text())["log"]
    assert log["version"] == "1.2"
    assert session.exchanges == len(log["entries"]) >= 15
    first = log["entries"][0]
    assert first["request"]["method"] == "POST"
    assert first["request"]["url"] == f"{server.url}/v1/ledgers"
    assert json.loads(first["request"]["postData"]["text"]) == {"name": "Shop"}
    assert first["response"]["status"] == 201
    assert json.loads(first["response"]["content"]["text"])["name"] == "Shop"
    sent = {h["name"].lower(): h["value"] for h in first["request"]["headers"]}
    assert sent["authorization"] == "Bearer $GLEDGER_TOKEN"  # no credential in the file
    stream = next(
        e for e in log["entries"] if e["request"]["url"].split("?")[0].endswith("/stream")
    )
    assert "id: " in stream["response"]["content"]["text"]


class Unbalanced(Fault):
    """The entry a create answers no longer balances (its first line one more)."""

    def response(self, call, answer):  # type: ignore[no-untyped-def]
        document = answer.json()
        if call.method == "POST" and call.path == "/v1/entries" and answer.status == 201:
            document["lines"][0]["amount"] += 1
            return self.rewritten(answer, document)
        return answer


FAULTS = [
    # (fault, the check that must report it, on this operation)
    ("alter_line_amount", "entries_balance", "getEntry"),
    ("different_replay_body", "idempotent_replay", "createEntry"),
    ("repeat_item_between_pages", "pages_complete", "listEntries"),
    ("events_out_of_order", "event_sequence", "listEvents"),
    ("drop_required_field", "response_schema_conformance", "createLedger"),
    ("undocumented_status", "status_code_conformance", "getEntry"),
    ("mislabelled_json", "content_type_conformance", "getEntry"),
    ("drop_request_id", "request_id", "getEntry"),
]


@pytest.mark.parametrize(("fault_name", "check", "operation"), FAULTS)
def test_each_fault_is_reported_with_its_curl(
    server: ServerThread, tmp_path: Path, fault_name: str, check: str, operation: str
) -> None:
    tenant = new_sandbox(server)
    fault = make_fault(fault_name, api_key=tenant.credentials["api_key"])
    with fault_proxy(server.url, fault) as faulty, validating(faulty.url) as (url, session):
        integration(url, tenant.credentials["api_key"])
    report, junit = _report(session, tmp_path)
    assert fault.hits, "the fault never fired"
    found = {(f.check, f.operation): f for f in report.failures}
    assert (check, operation) in found, sorted(found)
    failure = found[(check, operation)]
    assert failure.curl is not None and failure.curl.startswith("curl -X ")
    assert faulty.url in failure.curl and '"Authorization: Bearer $GLEDGER_TOKEN"' in failure.curl
    cases = junit.findall(f".//testcase[@classname='{check}'][@name='{operation}']/failure")
    assert cases and "Reproduce with:\ncurl" in (cases[0].text or "")


def test_an_unbalanced_entry_is_reported_on_the_create(
    server: ServerThread, tmp_path: Path
) -> None:
    tenant = new_sandbox(server)
    fault = Unbalanced()
    with fault_proxy(server.url, fault) as faulty, validating(faulty.url) as (url, session):
        integration(url, tenant.credentials["api_key"])
    report, _ = _report(session, tmp_path)
    failure = next(f for f in report.failures if f.check == "entries_balance")
    assert failure.operation == "createEntry"
    assert "USD debits 101 != credits 100" in failure.message
    assert (
        "--data-raw" in (failure.curl or "")
        and "idempotency-key: sale-100" in (failure.curl or "").lower()
    )


def test_an_invalid_request_of_the_client_is_reported(server: ServerThread, tmp_path: Path) -> None:
    tenant = new_sandbox(server)
    with (
        validating(server.url) as (url, session),
        httpx.Client(
            base_url=url,
            timeout=30,
            headers={"Authorization": f"Bearer {tenant.credentials['api_key']}"},
        ) as client,
    ):
        client.get("/v1/ledgers", params={"limit": "many"})
        client.post("/v1/ledgers", json={"description": "no name"})
    report, _ = _report(session, tmp_path)
    found = {f.operation: f for f in report.failures if f.check == "request_schema_conformance"}
    assert set(found) == {"listLedgers", "createLedger"}, report.failures
    assert "limit='many'" in found["listLedgers"].message
    assert "name" in found["createLedger"].message


async def _stream_out_of_order(scope, receive, send):  # type: ignore[no-untyped-def]
    """An upstream whose event stream goes back in sequence (3, then 2)."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"x-gledger-request-id", b"req_1"),
            ],
        }
    )
    for sequence in (3, 2):
        event = json.dumps(
            {"id": f"evt_{sequence}", "sequence": sequence, "type": "ledger.created"}
        )
        chunk = f"id: {sequence}\nevent: ledger.created\ndata: {event}\n\n".encode()
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_a_stream_going_back_in_sequence_is_reported(tmp_path: Path) -> None:
    with (
        LoopbackServer(_stream_out_of_order) as upstream,
        validating(upstream.url) as (url, session),
    ):
        relayed = httpx.get(f"{url}/v1/events/stream", params={"after": 1}, timeout=10)
    assert relayed.text.count("id: ") == 2  # the client got the stream whole
    report, _ = _report(session, tmp_path)
    found = {(f.check, f.operation): f for f in report.failures}
    assert (
        "event sequence 2 (ledger.created) follows 3"
        in found[("event_sequence", "streamEvents")].message
    )


def test_the_command_reports_at_sigterm(server: ServerThread, tmp_path: Path) -> None:
    tenant = new_sandbox(server)
    port = free_port()
    junit = tmp_path / "proxy.xml"
    command = [
        sys.executable,
        "-m",
        "gledger_sandbox",
        "contract",
        "proxy",
        "--upstream",
        server.url,
        "--port",
        str(port),
        "--junit-xml",
        str(junit),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proxy:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proxy.poll() is None, (
                    "the proxy did not start"
                )
                time.sleep(0.2)
        key = {"Authorization": f"Bearer {tenant.credentials['api_key']}"}
        httpx.get(f"{url}/v1/ledgers", params={"limit": "many"}, headers=key, timeout=10)
        proxy.send_signal(signal.SIGTERM)
        output, _ = proxy.communicate(timeout=30)
    assert proxy.returncode == 1, output
    assert "request_schema_conformance failed on listLedgers" in output
    assert f"curl -X GET '{server.url}/v1/ledgers?limit=many'" in output
    assert "proxy (2 exchanges) FAILED" in output
    case = (
        ET.parse(junit)
        .getroot()
        .find(".//testcase[@classname='request_schema_conformance'][@name='listLedgers']/failure")
    )
    assert case is not None and "limit='many'" in (case.get("message") or "")
