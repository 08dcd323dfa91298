"""The option groups of ``gledger-sandbox serve`` and the argument types they parse with.

``cli`` builds the ``serve`` parser and hands it to each group: connections (timeouts, trusted
proxies), a public deployment (quotas, webhook limits), trust (TLS, metrics, logs) and scale-out
(workers, shard). Each type raises ``argparse.ArgumentTypeError`` with a message for the partner.
"""

from __future__ import annotations

import argparse
from typing import Any


def names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _addresses(text: str) -> tuple[str, ...]:
    import ipaddress

    addresses = names(text)
    if addresses == ("*",):
        return addresses
    for address in addresses:
        if "%" in address:  # a zone (fe80::1%eth0): HAProxy refuses it (serve --workers)
            raise argparse.ArgumentTypeError(
                f"{address!r} names an interface: give the address without its '%' zone "
                f"({address.split('%', 1)[0]})"
            )
        try:
            ipaddress.ip_network(address)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{address!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24; "
                "or * alone for any)"
            ) from None
    return addresses


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"give a positive number of seconds, not {text!r}")
    return seconds


def connection_options(serve: Any) -> None:
    from gledger_sandbox.api.settings import ConnectionSettings

    defaults = ConnectionSettings()
    timeouts = {
        "--keep-alive-timeout": (
            defaults.keep_alive_timeout,
            "close a connection that sends no request for this long",
        ),
        "--header-timeout": (
            defaults.header_timeout,
            "answer 408 to a request whose headers take longer to arrive",
        ),
        "--body-timeout": (
            defaults.body_timeout,
            "answer 408 to a request whose body takes longer to arrive after its headers",
        ),
        "--shutdown-timeout": (
            defaults.shutdown_timeout,
            "on SIGTERM/SIGINT, let requests under way finish for this long, then exit",
        ),
    }
    for flag, (default, text) in timeouts.items():
        serve.add_argument(
            flag,
            type=_positive_seconds,
            default=default,
            metavar="SECONDS",
            help=f"{text} (default: {default:g})",
        )
    serve.add_argument(
        "--trust-proxy",
        type=_addresses,
        default=(),
        metavar="ADDR,ADDR",
        help="reverse proxies (addresses or networks, or * for any) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (default: none, the socket's peer is the client)",
    )


def _checked(parse: Any) -> Any:
    """An argparse type from a parser that raises ValueError with a message for the partner."""

    def parsed(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parsed


def public_options(serve: Any) -> None:
    from gledger_sandbox.api import public
    from gledger_sandbox.webhooks.outbound import parse_ports

    serve.add_argument(
        "--public",
        action="store_true",
        help="serve as a public try-it-now backend: webhooks to public addresses only, "
        "per-tenant quotas, 20 tenant creations per address and hour, 5 streams per "
        "credential, a rate limit of 600/60 unless --rate-limit (README: Public deployment)",
    )
    serve.add_argument(
        "--quota",
        action="append",
        type=_checked(public.parse_quota),
        default=[],
        metavar="NAME=N",
        help=f"a per-tenant quota ({', '.join(public.QUOTA_OPTIONS)}); repeat for several",
    )
    serve.add_argument(
        "--tenant-creations-per-hour",
        type=int,
        metavar="N",
        help="tenants one client address may create per hour (0: unbounded; --public: 20)",
    )
    serve.add_argument(
        "--max-streams",
        type=int,
        metavar="N",
        help="open SSE/WebSocket feeds per credential (0: unbounded; --public: 5)",
    )
    serve.add_argument(
        "--max-rss",
        type=int,
        metavar="MIB",
        help="keep the resident memory under this many MiB: past 85%% of it the least "
        "recently used tenants are evicted (never the default one), and their credentials "
        "answer 401 tenant.evicted (0 or unset: no cap)",
    )
    serve.add_argument(
        "--webhook-allow",
        default="",
        metavar="CIDR|HOST,...",
        help="with --public: networks and host names webhooks may reach although internal",
    )
    serve.add_argument(
        "--webhook-ports",
        type=_checked(parse_ports),
        metavar="PORTS",
        help="ports webhook targets may use, e.g. 443,8000-8999 (--public: 80,443,1024-65535)",
    )
    serve.add_argument(
        "--webhook-resolve",
        action="append",
        type=_checked(public.parse_resolve),
        default=[],
        metavar="HOST:ADDRESS",
        help="with --public: resolve HOST to ADDRESS for webhooks (as curl --resolve); repeat",
    )


def trust_options(serve: Any) -> None:
    """TLS, mutual TLS, webhooks' client certificates, metrics and logs."""
    from gledger_sandbox.api.logs import LOG_FORMATS
    from gledger_sandbox.api.metrics import METRICS_ACCESS

    serve.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    serve.add_argument("--tls-key", metavar="PEM", help="its private key (default: in --tls-cert)")
    serve.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="mutual TLS: require a client certificate signed by these CAs (with --tls-cert)",
    )
    serve.add_argument(
        "--webhook-client-cert",
        metavar="PEM",
        help="present this certificate to webhook receivers that ask for one (mutual TLS)",
    )
    serve.add_argument("--webhook-client-key", metavar="PEM", help="its private key")
    serve.add_argument(
        "--webhook-ca",
        metavar="PEM",
        help="trust webhook receivers' certificates signed by these CAs (default: the system's)",
    )
    serve.add_argument(
        "--metrics",
        choices=METRICS_ACCESS,
        default="loopback",
        help="who may read GET /metrics (Prometheus): loopback clients, anyone, or nobody",
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="json: one JSON object per log line, one line per request",
    )


def _count(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 999:
        raise argparse.ArgumentTypeError(f"give a whole number from 0 to 999, not {text!r}")
    return int(text)


def scale_options(serve: Any) -> None:
    serve.add_argument(
        "--workers",
        type=_count,
        default=1,
        metavar="N",
        help="with N >= 2: run N shard processes on loopback and HAProxy on --host/--port in "
        "front; each tenant lives on one shard, routed by its credential (needs haproxy)",
    )
    serve.add_argument(
        "--shard",
        type=_count,
        default=0,
        metavar="N",
        help="this server is shard N of a sharded deployment (deploy/): its tenant ids and "
        "credentials name it; only shard 0 has a default tenant",
    )
