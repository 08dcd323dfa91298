"""Reproducing requests as curl commands a person can paste, without leaking the credential."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

import httpx

CREDENTIAL_VARIABLE = "$GLEDGER_TOKEN"
"""Stands for the credential in every printed command (reports end up in CI logs)."""

# Headers every client sends by itself: printing them adds nothing to a reproduction.
_IMPLIED = frozenset(
    {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept"}
)


def curl_command(
    method: str, url: str, headers: Mapping[str, str], body: bytes | str | None = None
) -> str:
    """A curl command line for the request; ``Authorization`` shows ``$GLEDGER_TOKEN``."""
    parts = ["curl", "-X", method.upper(), shlex.quote(url)]
    for name, value in headers.items():
        if name.lower() in _IMPLIED:
            continue
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else "Bearer"
            # Double quotes so the shell expands the variable.
            parts += ["-H", f'"Authorization: {scheme} {CREDENTIAL_VARIABLE}"']
            continue
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        parts += ["--data-raw", shlex.quote(text)]
    return " ".join(parts)


def curl_for(request: httpx.Request) -> str:
    """The curl command of a request the kit sent."""
    return curl_command(request.method, str(request.url), request.headers, request.content)


def hide_credential(command: str, *authorizations: str) -> str:
    """A command generated elsewhere (schemathesis), with the kit's credentials replaced.

    ``authorizations`` are every ``Authorization`` value the run sent (a renewed OAuth token
    leaves its predecessors in earlier commands).
    """
    hidden = command
    for authorization in authorizations:
        secret = authorization.split(" ", 1)[-1]
        if secret:
            hidden = hidden.replace(secret, CREDENTIAL_VARIABLE)
    # Double quotes, so that the shell expands the variable.
    return re.sub(r"'(Authorization: \w+ )\$GLEDGER_TOKEN'", r'"\1$GLEDGER_TOKEN"', hidden)
