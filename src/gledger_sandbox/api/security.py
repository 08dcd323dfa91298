"""Who is calling: API keys and OAuth2 access tokens, both sent as ``Authorization: Bearer``.

Connexion checks each operation's ``security`` from the spec: the ``oauth2`` scheme checks the
token's scopes (403 ``insufficient_scope``), the ``apiKey`` scheme accepts a tenant's API key,
which holds every scope. The handlers are bound to one registry per app, not found through
dotted names in the spec, so the spec stays the public document it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connexion.context import context
from connexion.security import BearerSecurityHandler, OAuthSecurityHandler

from gledger_sandbox.domain.tenants import Principal, TenantRegistry

TokenInfo = dict[str, Any]


def _token_info(principal: Principal | None) -> TokenInfo | None:
    if principal is None:
        return None
    return {
        "sub": principal.tenant.id,
        "scope": sorted(principal.scopes),
        "principal": principal,
    }


def security_map(registry: TenantRegistry) -> dict[str, type]:
    """Connexion security handlers that look credentials up in ``registry``."""

    def by_token(token: str) -> TokenInfo | None:
        return _token_info(registry.by_access_token(token))

    def by_api_key(token: str) -> TokenInfo | None:
        return _token_info(registry.by_api_key(token))

    class AccessTokens(OAuthSecurityHandler):
        def get_tokeninfo_func(self, security_definition: dict[str, Any]) -> Callable[..., Any]:
            return by_token

    class ApiKeys(BearerSecurityHandler):
        def _resolve_func(self, security_scheme: dict[str, Any]) -> Callable[..., Any]:
            return by_api_key

    return {"oauth2": AccessTokens, "bearer": ApiKeys}


def principal() -> Principal:
    """The caller of the current request (set by connexion's security layer)."""
    found: Principal = context["token_info"]["principal"]
    return found
