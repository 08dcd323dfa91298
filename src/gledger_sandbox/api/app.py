"""The web app: connexion serving the spec around the services ``bootstrap`` wires.

Nothing is built at import time. ``create_app`` wires connexion (validators, security, error
handlers), the outer request-context middleware, and the ticker that runs each tenant's
scheduled work, around services built by ``gledger_sandbox.bootstrap``.
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
from starlette.types import ASGIApp

from gledger_sandbox import resources
from gledger_sandbox.api import problems
from gledger_sandbox.api.middleware import RequestContext
from gledger_sandbox.api.operations import resolve
from gledger_sandbox.api.ratelimit import RateLimiter
from gledger_sandbox.api.security import security_map
from gledger_sandbox.api.settings import Services
from gledger_sandbox.api.validation import VALIDATORS
from gledger_sandbox.domain.errors import LedgerError


def run_due_work(services: Services) -> None:
    """Post what became due on each tenant's clock; forget tenants with nothing left to do."""
    for tenant_id in list(services.scheduled):
        tenant = services.registry.tenants.get(tenant_id)
        if tenant is None or tenant.schedule.next_due() is None:
            services.scheduled.discard(tenant_id)
            continue
        tenant.schedule.run_due(tenant.store, tenant.clock.now())


def _lifespan(services: Services) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async def tick() -> None:
            while True:
                await asyncio.sleep(services.settings.tick_seconds)
                run_due_work(services)

        ticker = asyncio.create_task(tick())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    return lifespan


def create_app(services: Services) -> ASGIApp:
    """A complete sandbox server as an ASGI app, serving ``services``."""
    settings = services.settings
    ui = SwaggerUIOptions(spec_path="/v1/openapi.json", swagger_ui_path="/v1/ui")
    app = connexion.AsyncApp(
        __name__,
        specification_dir=str(resources.spec_dir()),
        lifespan=_lifespan(services),
    )
    app.add_api(
        "openapi.yaml",
        resolver=Resolver(function_resolver=resolve),
        validator_map=VALIDATORS,
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
    limited = RateLimiter(app, settings.rate_limit) if settings.rate_limit else app
    return RequestContext(
        limited,
        max_body_bytes=settings.max_body_bytes,
        allow_for=resources.allow_table(),
        services=services,
    )
