"""Every error as ``application/problem+json`` (RFC 9457): the one table from code to HTTP status.

A problem carries a machine-readable ``code``, the ``request_id`` and ``errors[]`` with JSON
pointers. Domain errors, connexion's validation, routing and security errors, and anything
unexpected all end here; nothing else writes an error body, and no stack trace ever leaves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from connexion.exceptions import (
    BadRequestProblem,
    ExtraParameterProblem,
    OAuthProblem,
    OAuthScopeProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gledger_sandbox.api import jsontext
from gledger_sandbox.api.validation import RequestInvalid
from gledger_sandbox.domain.errors import (
    AccessError,
    AccountDisabled,
    Conflict,
    CursorExpired,
    FieldError,
    GrantRefused,
    IdempotencyError,
    InsufficientFunds,
    InvalidRequest,
    LedgerError,
    MalformedInput,
    NotFound,
)
from gledger_sandbox.domain.quotas import QuotaExceeded

logger = logging.getLogger("gledger_sandbox.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://docs.gledger.dev/problems/"
REALM = 'Bearer realm="gledger-sandbox"'
CLIENT_REALM = 'Basic realm="gledger-sandbox"'
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""On every answer of the token endpoint (RFC 6749 5.1)."""
OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
"""The ``error`` values of RFC 6749 5.2."""
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
"""What RFC 6749 5.2 keeps out of ``error_description`` (a form field's name may bring it)."""

_STATUS_BY_CLASS: dict[type[LedgerError], int] = {
    MalformedInput: 400,
    InvalidRequest: 422,
    InsufficientFunds: 422,
    AccountDisabled: 422,
    NotFound: 404,
    Conflict: 409,
    CursorExpired: 410,
    IdempotencyError: 409,
    AccessError: 400,
    QuotaExceeded: 422,
    LedgerError: 400,
}
_STATUS_BY_CODE = {
    "idempotency.key_reused": 422,
    "invalid_client": 401,
    "tenant.evicted": 401,
    "tenant_limit_reached": 429,
    "quota.tenant_creations": 429,
    "streams.limit_reached": 429,
    "allowlist.excludes_caller": 422,
    "insufficient_scope": 403,
    "api_key_revoked": 401,
    "api_key_expired": 401,
    "api_key_rotated": 401,
}
_TITLES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def status_of(error: LedgerError) -> int:
    """The HTTP status of a domain error: by its code where listed, else by its class."""
    if error.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[error.code]
    return next(_STATUS_BY_CLASS[c] for c in type(error).__mro__ if c in _STATUS_BY_CLASS)


def problem_body(
    status: int,
    code: str,
    detail: str,
    request_id: str,
    errors: Iterable[FieldError] = (),
    **extra: Any,
) -> bytes:
    document = {
        "type": TYPE_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
        "errors": [{"pointer": e.pointer, "code": e.code, "detail": e.detail} for e in errors],
        **extra,
    }
    return jsontext.dumps(document)


def problem_response(
    status: int,
    code: str,
    detail: str,
    request_id: str,
    errors: Iterable[FieldError] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = problem_body(status, code, detail, request_id, errors, **extra)
    return Response(body, status, headers=headers, media_type=PROBLEM_JSON)


def ledger_error_response(error: LedgerError, request_id: str) -> Response:
    status = status_of(error)
    if isinstance(error, GrantRefused):
        return grant_refused_response(error, status, request_id)
    if isinstance(error, QuotaExceeded):
        return quota_response(error, status, request_id)
    headers = {"WWW-Authenticate": REALM + ', error="invalid_token"'} if status == 401 else None
    return problem_response(status, error.code, error.detail, request_id, error.errors, headers)


def quota_response(error: QuotaExceeded, status: int, request_id: str) -> Response:
    """A quota's refusal names the quota and its limit (and, for an hourly one, when to retry)."""
    wait = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return problem_response(
        status,
        error.code,
        error.detail,
        request_id,
        error.errors,
        wait,
        quota=error.quota,
        limit=error.limit,
    )


def grant_refused_response(error: GrantRefused, status: int, request_id: str) -> Response:
    """A problem that is also an RFC 6749 5.2 error: ``error`` and ``error_description`` (a
    form's ``validation.*`` codes are ``invalid_request``); a 401 challenges with Basic."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = CLIENT_REALM
    oauth_error = error.code if error.code in OAUTH_ERRORS else "invalid_request"
    return problem_response(
        status,
        error.code,
        error.detail,
        request_id,
        error.errors,
        headers,
        error=oauth_error,
        error_description=_NOT_IN_DESCRIPTION.sub("?", error.detail),
    )


def request_id_of(request: ConnexionRequest) -> str:
    return str(request.scope.get("gledger.request_id", ""))


# -- connexion error handlers ---------------------------------------------------------------
# Connexion wants its own response type from error handlers; these convert at that boundary.


def _for_connexion(response: Response) -> ConnexionResponse:
    extra = {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
    return ConnexionResponse(
        status_code=response.status_code,
        mimetype=PROBLEM_JSON,
        content_type=PROBLEM_JSON,
        body=bytes(response.body),
        headers=extra,
    )


def _on_ledger_error(request: ConnexionRequest, error: LedgerError) -> Response:
    return ledger_error_response(error, request_id_of(request))


def _on_problem(
    request: ConnexionRequest, problem: ProblemException | OAuthScopeProblem
) -> Response:
    """Connexion's own problems (validation, security, media type), in our shape."""
    rid = request_id_of(request)
    detail = str(problem.detail or problem.title or "")
    if isinstance(problem, RequestInvalid):
        return problem_response(400, problem.code, detail, rid, problem.errors)
    if isinstance(problem, OAuthScopeProblem):
        header = REALM + ', error="insufficient_scope"'
        return problem_response(
            403, "insufficient_scope", detail, rid, headers={"WWW-Authenticate": header}
        )
    if isinstance(problem, OAuthProblem):
        header = REALM + ', error="invalid_token"'
        detail = "A valid API key or access token is required: Authorization: Bearer <credential>."
        return problem_response(
            401, "unauthorized", detail, rid, headers={"WWW-Authenticate": header}
        )
    if isinstance(problem, UnsupportedMediaTypeProblem):
        at = [FieldError("/header/Content-Type", "unsupported_media_type", detail)]
        return problem_response(415, "unsupported_media_type", detail, rid, at)
    if isinstance(problem, ExtraParameterProblem):
        errors = [FieldError("/query", "validation.unknown_field", detail)]
        return problem_response(400, "validation.unknown_field", detail, rid, errors)
    if isinstance(problem, BadRequestProblem):
        code = (
            "validation.required_field_missing"
            if "required" in detail
            else "validation.invalid_value"
        )
        return problem_response(400, code, detail, rid, [FieldError("", code, detail)])
    if 400 <= problem.status < 500:
        return problem_response(problem.status, "validation.invalid_value", detail, rid)
    return _on_unexpected(request, problem)


def _on_http_error(request: ConnexionRequest, error: HTTPException) -> Response:
    """Routing: an unknown path is 404; a known path with another method is 405 with ``Allow``."""
    rid = request_id_of(request)
    if error.status_code == 405:
        allow = request.scope.get("gledger.allow_for", lambda _path: "")(request.url.path)
        detail = f"{request.method} is not allowed here; allowed: {allow}."
        return problem_response(405, "method_not_allowed", detail, rid, headers={"Allow": allow})
    if error.status_code == 404:
        detail = f"No operation at {request.url.path}."
        return problem_response(404, "not_found", detail, rid)
    return problem_response(error.status_code, "invalid_request", str(error.detail), rid)


def _on_unexpected(request: ConnexionRequest, error: Exception) -> Response:
    """A bug of ours: log it with the request id, answer 500 without a trace."""
    rid = request_id_of(request)
    logger.error("unhandled error in request %s", rid, exc_info=error)
    return problem_response(500, "internal_error", "An unexpected error occurred.", rid)


def on_ledger_error(request: ConnexionRequest, error: LedgerError) -> ConnexionResponse:
    return _for_connexion(_on_ledger_error(request, error))


def on_problem(
    request: ConnexionRequest, problem: ProblemException | OAuthScopeProblem
) -> ConnexionResponse:
    return _for_connexion(_on_problem(request, problem))


def on_http_error(request: ConnexionRequest, error: HTTPException) -> ConnexionResponse:
    return _for_connexion(_on_http_error(request, error))


def on_unexpected(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    return _for_connexion(_on_unexpected(request, error))
