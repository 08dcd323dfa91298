#!/usr/bin/env python3
"""Swagger UI's time to the first visible operation, in headless Debian chromium.

Starts ``gledger-sandbox serve`` on a free loopback port, then per round opens a fresh browser
context (empty cache) on ``/v1/ui/`` and times from navigation to the first operation
(``.opblock``) being visible. Also reports the size of the spec the page downloaded. Goal:
under 2 s. Requests leaving loopback are aborted (and counted).

    python bench/swagger_ui.py --rounds 5
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import RESULTS, sandbox

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _time_round(browser: Any, url: str, outside: list[str]) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def loopback_only(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host.startswith("127."):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.locator(".opblock").first.wait_for(state="visible", timeout=60_000)
        return time.perf_counter() - started
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh page loads (default: 5)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sandbox("swagger-ui") as server:
        spec = httpx.get(f"{server.url}/v1/openapi.json", timeout=60).content
        outside: list[str] = []
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                _time_round(browser, f"{server.url}/v1/ui/", outside)  # warm the server
                seconds = [
                    _time_round(browser, f"{server.url}/v1/ui/", outside)
                    for _ in range(args.rounds)
                ]
            finally:
                browser.close()
    result = {
        "spec_bytes": len(spec),
        "spec_gzip_bytes": len(gzip.compress(spec)),
        "rounds": [round(s, 3) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 3),
        "goal_seconds": 2.0,
        "requests_outside_loopback": len(outside),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "swagger_ui.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"Swagger UI, navigation -> first visible operation: median {result['median_seconds']} s "
        f"over {args.rounds} fresh loads {result['rounds']} (goal < 2 s); served spec "
        f"{len(spec) / 1024:.0f} KiB ({result['spec_gzip_bytes'] / 1024:.0f} KiB gzipped)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
