"""TLS both ways: the server's HTTPS (mutual, when given a client CA), and the webhooks'.

``serve --tls-cert --tls-key`` serves HTTPS through uvicorn's own TLS; with ``--tls-client-ca``
the handshake requires a client certificate signed by that CA (a client without one never gets
to send a request). The delivery worker presents ``--webhook-client-cert`` to receivers that
ask for one, and checks receivers against ``--webhook-ca`` when given (else the system's CAs).
Files are read once, at start-up: a missing or unreadable file stops the server with its reason.
"""

from __future__ import annotations

import ssl
from typing import Any

from gledger_sandbox.api.settings import TlsSettings, WebhookSettings


def server_tls_options(tls: TlsSettings | None) -> dict[str, Any]:
    """uvicorn's ``ssl_*`` options for the server's TLS (none for plain HTTP)."""
    if tls is None:
        return {}
    options: dict[str, Any] = {"ssl_certfile": tls.cert_file, "ssl_keyfile": tls.key_file}
    if tls.client_ca_file:
        options |= {"ssl_ca_certs": tls.client_ca_file, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def webhook_tls(hooks: WebhookSettings) -> ssl.SSLContext | None:
    """The delivery worker's TLS context, or None for httpx's default (the system's CAs)."""
    if hooks.client_cert is None and hooks.ca_file is None:
        return None
    context = ssl.create_default_context(cafile=hooks.ca_file)
    if hooks.client_cert is not None:
        context.load_cert_chain(hooks.client_cert, hooks.client_key)
    return context
