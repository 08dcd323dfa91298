"""The web app: connexion serving the spec around the services ``bootstrap`` wires.

Nothing is built at import time. ``create_app`` wires connexion (validators, security, error
handlers), the WebSocket feed and the spec documents in front of it (connexion cannot route
WebSockets, and would serve the spec dereferenced), the outer
request-context middleware, and the runner that does each tenant's work between requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import connexion
from connexion.exceptions import OAuthScopeProblem
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketClose

from gledger_sandbox import resources, specfile
from gledger_sandbox.api import problems
from gledger_sandbox.api.allowlist import NetworkAllowlist
from gledger_sandbox.api.cors import Cors
from gledger_sandbox.api.dashboard import allowed_methods, with_dashboard
from gledger_sandbox.api.metrics import with_metrics_route
from gledger_sandbox.api.middleware import RequestContext
from gledger_sandbox.api.operations import resolve
from gledger_sandbox.api.per_operation import SandboxApp
from gledger_sandbox.api.ratelimit import RateLimiter
from gledger_sandbox.api.security import security_map
from gledger_sandbox.api.settings import Services
from gledger_sandbox.api.spec_documents import with_spec_documents
from gledger_sandbox.api.telemetry import Observed
from gledger_sandbox.api.validation import VALIDATORS, QueryArrays
from gledger_sandbox.api.ws_feed import websocket_feed
from gledger_sandbox.domain.errors import LedgerError

WEBSOCKET_PATH = "/v1/events/ws"
UI_PATH = "/v1/ui"
ROOT_METHODS = ("GET", "HEAD")


def _lifespan(services: Services) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await services.runner.start(services.registry)
        memory = services.memory
        watch = asyncio.get_running_loop().create_task(memory.watch()) if memory else None
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
            await services.runner.stop()

    return lifespan


def _with_websocket_feed(app: ASGIApp) -> ASGIApp:
    """The event WebSocket in front of connexion; everything else goes on to connexion."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if scope["path"] == WEBSOCKET_PATH:
                await websocket_feed(WebSocket(scope, receive, send))
            else:
                await WebSocketClose(code=4404, reason="no such WebSocket")(scope, receive, send)
            return
        await app(scope, receive, send)

    return route


def _with_root_redirect(app: ASGIApp) -> ASGIApp:
    """``GET /`` leads a browser to Swagger UI; the API itself lives under ``/v1``."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] in ROOT_METHODS:
            await RedirectResponse(UI_PATH + "/", status_code=302)(scope, receive, send)
            return
        await app(scope, receive, send)

    return route


def create_app(services: Services) -> ASGIApp:
    """A complete sandbox server as an ASGI app, serving ``services``."""
    settings = services.settings
    ui = SwaggerUIOptions(spec_path="/v1/openapi.json", swagger_ui_path=UI_PATH)
    app = SandboxApp(__name__, lifespan=_lifespan(services))
    document = specfile.bundle()
    # The bundle, not the file: connexion then reads one document whose refs stay internal
    # (and renders no Jinja2), and validates with the same schemas partners see.
    app.add_api(
        document,
        resolver=Resolver(function_resolver=resolve),
        validator_map=VALIDATORS,
        uri_parser_class=QueryArrays,
        security_map=security_map(services.registry),
        strict_validation=True,
        validate_responses=settings.validate_responses,
        swagger_ui_options=ui,
    )
    app.add_error_handler(LedgerError, problems.on_ledger_error)
    app.add_error_handler(connexion.ProblemException, problems.on_problem)
    # Connexion's 403 for missing scopes is a Starlette HTTPException, not a ProblemException.
    app.add_error_handler(OAuthScopeProblem, problems.on_problem)
    app.add_error_handler(HTTPException, problems.on_http_error)
    app.add_error_handler(Exception, problems.on_unexpected)
    routed = with_dashboard(with_spec_documents(_with_root_redirect(_with_websocket_feed(app))))
    guarded = NetworkAllowlist(routed, services.registry)
    limited: ASGIApp = (
        RateLimiter(guarded, settings.rate_limit, services.registry)
        if settings.rate_limit
        else guarded
    )
    allow_for = resources.allow_table(
        document, extra={"/": list(ROOT_METHODS), **allowed_methods()}
    )
    assert services.telemetry.metrics is not None  # attached by bootstrap
    # /metrics is not rate limited: a scraper must not use up the loopback address's quota.
    limited = with_metrics_route(limited, services.telemetry.metrics)
    served = RequestContext(
        limited,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.connections.body_timeout,
        allow_for=allow_for,
        services=services,
    )
    # Preflights are answered before auth and rate limits, and every answer
    # (a 413 of RequestContext too) carries the CORS headers.
    cors = Cors(served, origins=settings.cors_origins, allow_for=allow_for)
    # Outermost: metrics, the access log and the request's span see every answer.
    return Observed(cors, services.telemetry)
