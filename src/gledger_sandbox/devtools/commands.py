"""The ``listen`` and ``events tail`` commands: running them until ^C (arguments: ``arguments``).

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

from gledger_sandbox.devtools.arguments import BASE_VARIABLE, DEFAULT_BASE_URL, KEY_VARIABLE
from gledger_sandbox.devtools.feed import Connected, Disconnected, EventFeed, FeedRefused, Notice
from gledger_sandbox.devtools.forward import Forwarder, ForwardOptions, signing_secret
from gledger_sandbox.devtools.tail import tail


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
