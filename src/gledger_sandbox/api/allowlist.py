"""Enforces each tenant's allowed client networks (``domain.allowlist``) before connexion.

A request whose ``Authorization: Bearer`` credential (an API key or an access token) belongs
to a tenant with a list of networks, from an address in none of them, is refused with 403
``client_network_not_allowed``: the same answer for every operation, SSE included, before the
operation is even routed. The client's address is the socket's peer, or what a trusted proxy
says it is (``serve --trust-proxy``: uvicorn has rewritten ``scope["client"]`` by then). The
WebSocket feed checks the same in ``streams`` (its credential may come in its first message).
Unknown credentials pass on, to be refused as such (401) by connexion.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gledger_sandbox.api.middleware import scope_header
from gledger_sandbox.api.problems import problem_response
from gledger_sandbox.domain.sandbox.allowlist import admits
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry

REFUSED = "client_network_not_allowed"


def client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def refusal_detail(scope: Scope) -> str:
    seen = client_address(scope) or "an unknown address"
    return (
        f"This tenant's credentials are not accepted from {seen}: it lists the client "
        "networks they work from (GET /v1/sandbox/allowed-networks)."
    )


def admitted(tenant: Tenant, scope: Scope) -> bool:
    return admits(tenant.allowed_networks, client_address(scope))


class NetworkAllowlist:
    def __init__(self, app: ASGIApp, registry: TenantRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            tenant = self._tenant(scope)
            if tenant is not None and not admitted(tenant, scope):
                request_id = scope.get("gledger.request_id", "")
                answer = problem_response(403, REFUSED, refusal_detail(scope), request_id)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _tenant(self, scope: Scope) -> Tenant | None:
        scheme, _, token = (scope_header(scope, b"authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        found = self.registry.by_api_key(token) or self.registry.by_access_token(token)
        if found is None or not found.tenant.allowed_networks:
            return None
        return found.tenant
