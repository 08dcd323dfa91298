"""The arguments of ``listen`` and ``events tail``.

The command line builds every command's arguments at each start, ``serve``'s included, so this
imports nothing of the tools themselves (``commands`` runs them).
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
KEY_VARIABLE = "GLEDGER_API_KEY"
BASE_VARIABLE = "GLEDGER_BASE_URL"

CLIENT_NOTE = f"""\
It starts no sandbox: it follows one that runs (`gledger-sandbox serve`, local or remote;
no public URL needed). The sandbox is --base-url, else ${BASE_VARIABLE}, else
{DEFAULT_BASE_URL}; the API key is --api-key, else ${KEY_VARIABLE}. When the stream breaks
(the server restarts, the network drops) it reconnects with backoff and resumes after the
last event it handled; a restarted in-memory sandbox has a new log, which it follows from its
head (it says so)."""


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url", help=f"the sandbox (default: ${BASE_VARIABLE} or {DEFAULT_BASE_URL})"
    )
    parser.add_argument("--api-key", help=f"the tenant's API key (default: ${KEY_VARIABLE})")
    parser.add_argument(
        "--after",
        type=int,
        metavar="SEQ",
        help="start after this event sequence (default: new events only)",
    )


def add_parsers(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """``listen`` and ``events tail`` on the command line's subcommands."""
    listen = commands.add_parser(
        "listen",
        formatter_class=formatter,
        help="forward the tenant's events to a local URL as signed webhooks",
        description="Follows the tenant's event feed and POSTs each event to --forward-to as a "
        "Standard Webhooks request (webhook-id, webhook-timestamp, webhook-signature), signed "
        "with a secret printed once at start; one line per delivery (time, type, event id, "
        "the receiver's status, latency); a failed forward is retried with backoff. " + CLIENT_NOTE,
    )
    listen.add_argument(
        "--forward-to", required=True, metavar="URL", help="where to POST each event"
    )
    listen.add_argument(
        "--events",
        type=_names,
        default=(),
        metavar="TYPE,TYPE",
        help="only these event types (default: all)",
    )
    listen.add_argument(
        "--secret", help="sign with this whsec_ secret (default: a new one, printed)"
    )
    listen.add_argument("--retries", type=int, default=5, help="attempts after a failed forward")
    listen.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per forward"
    )
    _client_options(listen)

    events = commands.add_parser("events", help="the tenant's event feed")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    tail_parser = event_commands.add_parser(
        "tail",
        formatter_class=formatter,
        help="print the live event feed, one line per event",
        description="Prints each event as it commits: sandbox time, sequence, type, event id "
        "and what it is about. " + CLIENT_NOTE,
    )
    tail_parser.add_argument(
        "--types",
        type=_names,
        default=(),
        metavar="TYPE,TYPE",
        help="only these event types (default: all)",
    )
    _client_options(tail_parser)
