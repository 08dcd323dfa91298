"""Liveness, for load balancers and the Docker HEALTHCHECK."""

from __future__ import annotations

from starlette.responses import Response

from gledger_sandbox import __version__
from gledger_sandbox.api.responses import json_response, services


async def get_health() -> Response:
    return json_response(
        {"status": "ok", "version": __version__, "tenants": len(services().registry.tenants)}
    )
