"""Debian's chromium as the browser tests drive it: headless, never downloaded, loopback only."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("GLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def loopback_only(outside: list[str], requested: list[str] | None = None) -> Any:
    """A playwright route handler: loopback requests go on, any other is aborted and noted."""

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if requested is not None:
            requested.append(url)
        host = urlsplit(url).hostname or ""
        if host.startswith("127.") or host in ("localhost", "::1"):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    return route
