"""HTTPS and mutual TLS, with certificates made here (trustme) and a real TLS client (httpx).

The server is ``gledger-sandbox serve`` with the TLS options; webhooks go to an HTTPS receiver
that requires a client certificate, so the worker's certificate is really presented.
"""

from __future__ import annotations

import dataclasses
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from gledger_sandbox.api.settings import WebhookSettings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app
from tests.conftest import TEST_SETTINGS, new_sandbox
from tests.served import ServedProcess


@dataclasses.dataclass
class Pki:
    """A server CA with a loopback certificate, and a client CA with a partner's certificate."""

    server_ca: trustme.CA
    client_ca: trustme.CA
    partner: trustme.LeafCert
    files: Path

    def path(self, name: str, blob: trustme.Blob) -> str:
        target = self.files / name
        blob.write_to_path(str(target))
        return str(target)

    def client(self, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.server_ca.configure_trust(context)
        if cert is not None:
            cert.configure_cert(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    client_ca = trustme.CA(organization_name="Partner CA")
    return Pki(
        trustme.CA(organization_name="Sandbox CA"),
        client_ca,
        client_ca.issue_cert("partner.example.test"),
        tmp_path_factory.mktemp("pki"),
    )


def tls_options(pki: Pki, *, mutual: bool) -> list[str]:
    leaf = pki.server_ca.issue_cert("127.0.0.1", "localhost")
    options = [
        "--tls-cert",
        pki.path("server.pem", leaf.cert_chain_pems[0]),
        "--tls-key",
        pki.path("server.key", leaf.private_key_pem),
    ]
    if mutual:
        options += ["--tls-client-ca", pki.path("client-ca.pem", pki.client_ca.cert_pem)]
    return options


def test_serve_speaks_https_with_the_given_certificate(pki: Pki) -> None:
    with ServedProcess(*tls_options(pki, mutual=False), "--fixture", "empty") as served:
        assert served.url.startswith("https://127.0.0.1:")
        auth = {"Authorization": f"Bearer {served.api_key}"}
        with httpx.Client(verify=pki.client(), headers=auth) as client:
            assert client.get(f"{served.url}/v1/ledgers").status_code == 200
        with pytest.raises(httpx.ConnectError):  # the system's CAs do not know this one
            httpx.get(f"{served.url}/healthz")
        plain = served.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/healthz")
    served.close()


def test_mutual_tls_admits_only_clients_with_a_certificate_of_the_client_ca(pki: Pki) -> None:
    stranger = trustme.CA(organization_name="Someone else").issue_cert("stranger.example.test")
    with ServedProcess(*tls_options(pki, mutual=True), "--fixture", "empty") as served:
        auth = {"Authorization": f"Bearer {served.api_key}"}
        with httpx.Client(verify=pki.client(pki.partner), headers=auth) as client:
            assert client.get(f"{served.url}/v1/ledgers").status_code == 200
        for context in (pki.client(), pki.client(stranger)):
            with (
                pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
                httpx.Client(verify=context) as client,
            ):
                client.get(f"{served.url}/healthz")
        assert served.alive()
    served.close()


class _MutualTlsReceiver:
    """An HTTPS webhook receiver that requires a client certificate, recording the subjects."""

    def __init__(self, pki: Pki, client_ca: trustme.CA) -> None:
        self.subjects: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                peer = self.connection.getpeercert()  # type: ignore[attr-defined]
                names = [v for rdn in peer["subject"] for k, v in rdn if k == "organizationName"]
                receiver.subjects.append(names[0] if names else "?")
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        pki.server_ca.issue_cert("127.0.0.1").configure_cert(context)
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(pki: Pki) -> Iterator[_MutualTlsReceiver]:
    webhook_ca = trustme.CA(organization_name="Sandbox webhooks")
    running = _MutualTlsReceiver(pki, webhook_ca)
    running.webhook_ca = webhook_ca  # type: ignore[attr-defined]
    yield running
    running.close()


@pytest.mark.parametrize("presents", [True, False])
def test_webhooks_present_the_configured_client_certificate(
    pki: Pki, receiver: _MutualTlsReceiver, presents: bool
) -> None:
    webhook_ca: trustme.CA = receiver.webhook_ca  # type: ignore[attr-defined]
    ours = webhook_ca.issue_cert(
        "gledger-sandbox.example.test", organization_name="Sandbox webhooks"
    )
    hooks = WebhookSettings(
        timeout_seconds=3.0,
        ca_file=pki.path("receiver-ca.pem", pki.server_ca.cert_pem),
        client_cert=pki.path("hooks.pem", ours.cert_chain_pems[0]) if presents else None,
        client_key=pki.path("hooks.key", ours.private_key_pem) if presents else None,
    )
    app, services = sandbox_app(dataclasses.replace(TEST_SETTINGS, webhooks=hooks))
    with LoopbackServer(app, services=services) as running:
        box = new_sandbox(running)
        with box.client:
            endpoint = box.client.post("/v1/webhook-endpoints", json={"url": receiver.url})
            assert endpoint.status_code == 201, endpoint.text
            ping = box.client.post(f"/v1/webhook-endpoints/{endpoint.json()['id']}/test").json()
    attempt = ping["attempts"][-1]
    if presents:
        assert attempt["response_status"] == 204, attempt
        assert receiver.subjects == ["Sandbox webhooks"]
    else:
        assert attempt["response_status"] is None and attempt["error"], attempt
        assert receiver.subjects == []
