"""Webhooks in public mode never reach the host's own network (SSRF), through a real server.

No test here sends traffic off loopback: internal targets are refused at creation (nothing is
sent), and the delivery-time checks use names the guard resolves to 127.0.0.1 (its fixed
answers, as ``--webhook-resolve``), with a loopback listener that counts its connections.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from gledger_sandbox.api.public import public_settings
from gledger_sandbox.api.settings import Services
from gledger_sandbox.bootstrap import sandbox_app
from gledger_sandbox.webhooks.outbound import parse_ports
from tests.conftest import TEST_SETTINGS, Sandbox, ServerThread, new_sandbox
from tests.receiver import ConnectionCounter, Receiver

PUBLIC_LOOKING = "93.184.216.34"
"""A public address the guard is told a test name has at creation; never contacted (nothing
is delivered before the name is pointed at loopback)."""

INTERNAL_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9/",
    "http://[::1]:9/",
    "http://10.0.0.1/",
    "http://localhost:9/",
    "http://LOCALHOST./",
    "http://hooks.localhost/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://127.0.0.1./",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://100.64.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://240.0.0.1/",
    "https://127.0.0.1:8443/hooks",
]


def _public_server(**options: object) -> tuple[ServerThread, Services]:
    # Every test here makes tenants from one address: no hourly quota in the way.
    bounds = public_settings(True, creations_per_hour=0, **options)  # type: ignore[arg-type]
    app, services = sandbox_app(replace(TEST_SETTINGS, public=bounds))
    return ServerThread(app, services=services), services


@pytest.fixture(scope="module")
def public() -> Iterator[tuple[ServerThread, Services]]:
    """Public mode, any port (the loopback listeners have random ones)."""
    server, services = _public_server(
        webhook_ports=parse_ports("1-65535"),
        webhook_resolve=[("rebind.test", PUBLIC_LOOKING)],
    )
    with server:
        yield server, services


@pytest.fixture
def tenant(public: tuple[ServerThread, Services]) -> Iterator[Sandbox]:
    box = new_sandbox(public[0])
    yield box
    box.client.close()


@contextlib.contextmanager
def _tenant_of(server: ServerThread) -> Iterator[Sandbox]:
    box = new_sandbox(server)
    try:
        yield box
    finally:
        box.client.close()


def _create(box: Sandbox, url: str) -> httpx.Response:
    # Subscribed to an event this test never causes: even an accepted endpoint gets nothing.
    return box.client.post(
        "/v1/webhook-endpoints", json={"url": url, "event_types": ["payout.paid"]}
    )


@pytest.mark.parametrize("url", INTERNAL_TARGETS)
def test_internal_targets_are_refused_at_creation(tenant: Sandbox, url: str) -> None:
    refused = _create(tenant, url)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "webhook.url_not_allowed"
    assert problem["errors"][0]["pointer"] == "/url"
    assert tenant.client.get("/v1/webhook-endpoints").json()["data"] == []


def test_an_octal_address_is_refused_too(tenant: Sandbox) -> None:
    """httpx will not read a leading-zero IPv4 at all; it is refused before the guard looks."""
    refused = _create(tenant, "http://0177.0.0.1/")
    assert refused.status_code == 400
    assert refused.json()["code"] == "validation.invalid_url"


def test_a_url_changed_to_an_internal_target_is_refused(tenant: Sandbox) -> None:
    created = _create(tenant, "http://rebind.test/hooks")
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    changed = tenant.client.patch(
        f"/v1/webhook-endpoints/{endpoint}", json={"url": "http://[::ffff:10.0.0.1]/"}
    )
    assert changed.status_code == 422, changed.text
    assert changed.json()["code"] == "webhook.url_not_allowed"
    kept = tenant.client.get(f"/v1/webhook-endpoints/{endpoint}").json()
    assert kept["url"] == "http://rebind.test/hooks"


def test_a_name_that_later_points_inside_fails_the_attempt_and_sends_nothing(
    public: tuple[ServerThread, Services], tenant: Sandbox
) -> None:
    """DNS rebinding: public at creation, loopback at delivery; the attempt is refused with its
    reason recorded, and the listener behind the new address sees no connection at all."""
    listener = ConnectionCounter()
    try:
        created = _create(tenant, f"http://rebind.test:{listener.port}/hooks")
        assert created.status_code == 201, created.text
        public[1].outbound.hosts["rebind.test"] = [ipaddress.ip_address("127.0.0.1")]
        ping = tenant.client.post(f"/v1/webhook-endpoints/{created.json()['id']}/test")
        assert ping.status_code == 200, ping.text
        attempt = ping.json()["attempts"][-1]
        assert attempt["response_status"] is None
        assert "refused" in attempt["error"] and "127.0.0.1" in attempt["error"]
        time.sleep(0.3)
        assert listener.connections == 0
    finally:
        listener.close()


def test_ports_may_be_restricted(tenant: Sandbox) -> None:
    server, _ = _public_server(webhook_resolve=[("rebind.test", PUBLIC_LOOKING)])
    with server, _tenant_of(server) as box:
        refused = _create(box, "http://rebind.test:22/")
        assert refused.status_code == 422
        assert "port 22" in refused.json()["detail"]
        assert _create(box, "https://rebind.test/").status_code == 201  # 443: open


@pytest.fixture(scope="module")
def allowing() -> Iterator[ServerThread]:
    """Public mode whose allow-list names the loopback network and one internal host name."""
    server, _ = _public_server(
        webhook_ports=parse_ports("1-65535"),
        webhook_allow="127.0.0.0/8,hooks.internal",
        webhook_resolve=[("hooks.internal", "127.0.0.1")],
    )
    with server:
        yield server


def test_the_allow_list_names_exceptions_and_the_connection_goes_to_the_checked_address(
    allowing: ServerThread,
) -> None:
    receiver = Receiver().start()
    box = new_sandbox(allowing)
    try:
        for url in (receiver.url, f"http://hooks.internal:{receiver.port}/hooks"):
            created = _create(box, url)
            assert created.status_code == 201, created.text
            ping = box.client.post(f"/v1/webhook-endpoints/{created.json()['id']}/test")
            assert ping.json()["status"] == "succeeded", ping.text
        # Pinned to the address checked, while naming its host (Host header kept).
        assert receiver.received[-1].headers["host"] == f"hooks.internal:{receiver.port}"
        assert _create(box, "http://10.0.0.1/").status_code == 422  # not in the allow-list
    finally:
        box.client.close()
        receiver.stop()


def _redirector(location: str) -> ThreadingHTTPServer:
    """A loopback receiver that answers every POST with 307 to ``location``."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(307)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_redirects_are_never_followed(allowing: ServerThread) -> None:
    target = ConnectionCounter()
    redirector = _redirector(f"http://127.0.0.1:{target.port}/elsewhere")
    box = new_sandbox(allowing)
    try:
        created = _create(box, f"http://127.0.0.1:{redirector.server_address[1]}/hooks")
        ping = box.client.post(f"/v1/webhook-endpoints/{created.json()['id']}/test")
        assert ping.json()["attempts"][-1]["response_status"] == 307
        assert ping.json()["status"] != "succeeded"
        time.sleep(0.3)
        assert target.connections == 0
    finally:
        box.client.close()
        redirector.shutdown()
        redirector.server_close()
        target.close()


def test_local_mode_keeps_loopback_receivers(sandbox: Sandbox) -> None:
    """Without --public nothing changes: a loopback receiver is a partner's laptop."""
    created = _create(sandbox, "http://127.0.0.1:9/")
    assert created.status_code == 201, created.text
