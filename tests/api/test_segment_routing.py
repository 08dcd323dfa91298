"""Routing by the leading segments picks the route Starlette's linear routing picks, for every path.

Both routing middlewares get the shipped spec the way the app adds it; then every operation's
path (parameters filled in), with its own method and with others, plus paths the spec lacks and
trailing-slash variants, goes through each. What reaches the next app (operation, path
parameters) or what the router answered itself (405, redirect) must be the same.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from connexion.middleware.routing import ROUTING_CONTEXT, RoutingMiddleware
from connexion.resolver import Resolver
from connexion.spec import Specification

from gledger_sandbox import specfile
from gledger_sandbox.api.operations import resolve
from gledger_sandbox.api.routing import SegmentRoutingMiddleware, leading_segments

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


async def _reached(scope: dict[str, Any], receive: Any, send: Any) -> None:
    routing = scope.get("extensions", {}).get(ROUTING_CONTEXT, {})
    await send({"reached": routing.get("operation_id"), "params": scope.get("path_params")})


def _routed(middleware: Any) -> Any:
    spec = Specification.load(specfile.bundle())
    middleware.add_api(spec, resolver=Resolver(function_resolver=resolve))
    return middleware


async def _route(middleware: Any, method: str, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"sandbox.test")],
        "scheme": "http",
        "server": ("sandbox.test", 80),
    }
    await middleware(scope, receive, send)
    return sent


def _paths() -> list[str]:
    document = specfile.bundle()
    base = document["servers"][0]["url"].rstrip("/") if document.get("servers") else ""
    filled = [base + re.sub(r"\{[^}]+\}", "x_1", path) for path in document["paths"]]
    odd = [base + "/nowhere", base + "/", base, "/elsewhere/entries", base + "/entries/x_1/y/z"]
    return filled + [p + "/" for p in filled] + odd


@pytest.fixture(scope="module")
def routers() -> tuple[Any, Any]:
    return _routed(RoutingMiddleware(_reached)), _routed(SegmentRoutingMiddleware(_reached))


def test_every_path_and_method_routes_as_starlette_routes_it(routers: tuple[Any, Any]) -> None:
    linear, by_segment = routers
    paths = _paths()
    assert len(paths) > 60

    async def compare() -> int:
        operations = set()
        for path in paths:
            for method in METHODS:
                expected = await _route(linear, method, path)
                assert await _route(by_segment, method, path) == expected, (method, path)
                operations.update(m.get("reached") for m in expected)
        return len(operations - {None})

    assert asyncio.run(compare()) > 50  # most operations were reached, not only 404s


def test_leading_segments() -> None:
    assert leading_segments("/v1/entries/en_1") == "v1/entries"
    assert leading_segments("/v1") == "v1"
    assert leading_segments("/v1/") == "v1/"
    assert leading_segments("/") == ""
    assert leading_segments("v1/entries") is None
