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
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.spec import Specification
from starlette.exceptions import HTTPException

from gledger_sandbox import specfile
from gledger_sandbox.api.operations import resolve
from gledger_sandbox.api.routing import (
    SegmentRoutingMiddleware,
    SwaggerUIOnItsPaths,
    leading_segments,
)

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


async def _reached(scope: dict[str, Any], receive: Any, send: Any) -> None:
    routing = scope.get("extensions", {}).get(ROUTING_CONTEXT, {})
    await send({"reached": routing.get("operation_id"), "params": scope.get("path_params")})


def _routed(middleware: Any) -> Any:
    spec = Specification.load(specfile.bundle())
    ui = SwaggerUIOptions(spec_path="/v1/openapi.json", swagger_ui_path="/v1/ui")  # as the app
    middleware.add_api(spec, resolver=Resolver(function_resolver=resolve), swagger_ui_options=ui)
    return middleware


async def _route(middleware: Any, method: str, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays: file answers listen for it leaving
        raise AssertionError("unreachable")

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
    try:
        await middleware(scope, receive, send)
    except HTTPException as raised:  # Swagger UI's static files refuse a POST so
        sent.append({"raised": raised.status_code})
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


def test_swagger_ui_answers_its_paths_and_hands_on_the_others_as_before() -> None:
    plain, skipping = _routed(SwaggerUIMiddleware(_reached)), _routed(SwaggerUIOnItsPaths(_reached))
    ui = ["/v1/ui", "/v1/ui/", "/v1/ui/index.html", "/v1/ui/swagger-ui.css", "/v1/ui/nothing"]
    spec = ["/v1/openapi.json", "/v1/openapi.json/", "/v1/openapi.yaml", "/v1/u", "/v1/uix"]

    async def compare() -> list[list[dict[str, Any]]]:
        answers = []
        for path in [*_paths(), *ui, *spec]:
            for method in ("GET", "POST"):
                expected = await _route(plain, method, path)
                assert await _route(skipping, method, path) == expected, (method, path)
                answers.append(expected)
        return answers

    answers = asyncio.run(compare())
    answered_by_ui = [a for a in answers if a and "reached" not in a[0]]
    assert len(answered_by_ui) >= 6  # the UI's pages, its redirect, the spec documents


def test_leading_segments() -> None:
    assert leading_segments("/v1/entries/en_1") == "v1/entries"
    assert leading_segments("/v1") == "v1"
    assert leading_segments("/v1/") == "v1/"
    assert leading_segments("/") == ""
    assert leading_segments("v1/entries") is None
