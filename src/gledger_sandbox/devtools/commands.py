"""The ``listen`` and ``events tail`` commands: their arguments, and running them until ^C.

Both are clients of a running sandbox (nothing is started here): ``--base-url`` (default
``$GLEDGER_BASE_URL``, else ``http://127.0.0.1:8080``, what ``serve`` listens on) and the API
key from ``--api-key`` or ``$GLEDGER_API_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any

from gledger_sandbox.devtools.feed import Connected, Disconnected, EventFeed, FeedRefused, Notice
from gledger_sandbox.devtools.forward import Forwarder, ForwardOptions, signing_secret
from gledger_sandbox.devtools.tail import tail

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


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _out(text: str) -> None:
    print(text, flush=True)


def _notice(notice: Notice) -> None:
    if isinstance(notice, Connected):
        where = f"after #{notice.after}" if notice.after else "from the head"
        _say(f"{'resumed' if notice.resumed else 'following the event feed'} {where}")
    elif isinstance(notice, Disconnected):
        _say(f"lost the event stream ({notice.reason}); reconnecting in {notice.retry_in:g} s")
    else:
        _say(
            f"the sandbox's event log is a new one (the server restarted or the tenant was "
            f"reset): #{notice.old_cursor} means nothing there; following the new log from "
            "its head"
        )


def _feed(args: argparse.Namespace, types: tuple[str, ...]) -> EventFeed | None:
    key = args.api_key or os.environ.get(KEY_VARIABLE)
    if not key:
        _say(f"gledger-sandbox: give the tenant's API key with --api-key or ${KEY_VARIABLE}")
        return None
    base = (args.base_url or os.environ.get(BASE_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
    return EventFeed(base, key, types=types, after=args.after, on_notice=_notice)


def _run(work: Coroutine[Any, Any, None], command: str) -> int:
    try:
        asyncio.run(work)
    except KeyboardInterrupt:
        return 0
    except FeedRefused as refused:
        _say(f"gledger-sandbox {command}: the sandbox refused: {refused}")
        return 2
    return 0


def run_listen(args: argparse.Namespace) -> int:
    feed = _feed(args, args.events)
    if feed is None:
        return 2
    secret = signing_secret(args.secret)
    options = ForwardOptions(args.forward_to, secret, retries=args.retries, timeout=args.timeout)
    _out(
        f"Ready! Forwarding events of {feed.base_url} to {args.forward_to}\n"
        f"Your webhook signing secret is {secret} (^C to quit)"
    )
    return _run(Forwarder(options, _out).run(feed), "listen")


def run_tail(args: argparse.Namespace) -> int:
    feed = _feed(args, args.types)
    if feed is None:
        return 2
    return _run(tail(feed, _out), "events tail")
