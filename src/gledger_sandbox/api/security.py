"""Who is calling: API keys and OAuth2 access tokens, both sent as ``Authorization: Bearer``.

Connexion checks each operation's ``security`` from the spec: the ``oauth2`` scheme checks the
token's scopes (403 ``insufficient_scope``), the ``apiKey`` scheme accepts an API key that
holds every scope (the key a tenant is created with does). A key the tenant made with fewer
scopes (``POST /v1/sandbox/api-keys``) is checked as an access token is, by the ``oauth2``
scheme, so that it gets the same 403 on an operation beyond its scopes. A made key that no
longer works is refused with its own code (``CredentialRefused``: revoked, expired, rotated).
The handlers are bound to one registry per app, not found through dotted names in the spec, so
the spec stays the public document it is.

The token endpoint authenticates its OAuth2 client itself, by HTTP Basic or by form fields
(RFC 6749 2.3.1): its ``clientBasic`` scheme only tells clients that Basic is accepted.
"""

from __future__ import annotations

import base64
import binascii
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from connexion.security import (
    NO_VALUE,
    AbstractSecurityHandler,
    BasicSecurityHandler,
    BearerSecurityHandler,
    OAuthSecurityHandler,
)

from gledger_sandbox.api.request_context import current_context
from gledger_sandbox.domain.errors import AccessError, GrantRefused
from gledger_sandbox.domain.sandbox.tenants import SCOPES, Principal, TenantRegistry

TokenInfo = dict[str, Any]
ALL_SCOPES = frozenset(SCOPES)

_ACCEPTS: weakref.WeakKeyDictionary[Callable[..., Any], dict[str, bool]] = (
    weakref.WeakKeyDictionary()
)


class _SignatureOnce:
    """Connexion asks ``inspect.signature`` of a credential function whether it takes
    ``required_scopes`` and ``request`` on every check (four times a request, one scheme of
    two failing first): the answer is the function's, remembered per function."""

    @staticmethod
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        known = _ACCEPTS.setdefault(func, {})
        if keyword not in known:
            known[keyword] = AbstractSecurityHandler._accepts_kwarg(func, keyword)
        return known[keyword]


def _token_info(principal: Principal | None) -> TokenInfo | None:
    if principal is None:
        return None
    return {
        "sub": principal.tenant.id,
        "scope": sorted(principal.scopes),
        "principal": principal,
    }


class CredentialRefused(AccessError):
    """A key the tenant made that no longer works (401 with the refusal's code).

    Both schemes raise it for such a key, so whichever connexion reports, the code is the same.
    """


def security_map(registry: TenantRegistry) -> dict[str, type]:
    """Connexion security handlers that look credentials up in ``registry``."""

    def refuse(token: str) -> None:
        refusal = registry.refusal(token)
        if refusal is not None:
            raise CredentialRefused(refusal.code, refusal.detail)

    def by_token(token: str) -> TokenInfo | None:
        found = registry.by_access_token(token) or registry.by_api_key(token)
        if found is None:
            refuse(token)
        return _token_info(found)

    def by_api_key(token: str) -> TokenInfo | None:
        found = registry.by_api_key(token)
        if found is None:
            refuse(token)
        return _token_info(found) if found and found.scopes >= ALL_SCOPES else None

    class AccessTokens(_SignatureOnce, OAuthSecurityHandler):
        def get_tokeninfo_func(self, security_definition: dict[str, Any]) -> Callable[..., Any]:
            return by_token

    class ApiKeys(_SignatureOnce, BearerSecurityHandler):
        def _resolve_func(self, security_scheme: dict[str, Any]) -> Callable[..., Any]:
            return by_api_key

    return {"oauth2": AccessTokens, "bearer": ApiKeys, "basic": ClientBasic}


class ClientBasic(BasicSecurityHandler):
    """HTTP Basic, offered by the token endpoint only: left to its handler, which also takes
    the client from form fields (so connexion lets every request through to it)."""

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: list[str]) -> Any:
        return lambda _request: NO_VALUE


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header, None for no Basic header.

    RFC 6749 2.3.1: each is form-urlencoded, then ``id:secret`` is base64-encoded. A Basic
    header that does not decode so is a failed client authentication (``invalid_client``).
    """
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        client_id, colon, secret = pair.partition(":")
        if not colon:
            raise ValueError("no ':' between client id and secret")
        return unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise GrantRefused(
            "invalid_client",
            "The Authorization header is not HTTP Basic as RFC 6749 2.3.1 has it: "
            "base64 of client_id:client_secret, each form-urlencoded.",
        ) from None


def principal() -> Principal:
    """The caller of the current request (set by connexion's security layer)."""
    found: Principal = current_context()["token_info"]["principal"]
    return found
