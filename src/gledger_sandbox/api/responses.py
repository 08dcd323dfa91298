"""Answers of the handlers: JSON bodies, and idempotent replays of POSTs.

Handlers build their answer with :func:`json_response`. A POST handler wrapped in
:func:`idempotent` honours ``Idempotency-Key``: the first answer (success or refusal by the
ledger) is stored as bytes and replayed as is, with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ParamSpec

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.middleware import scope_header
from gledger_sandbox.api.problems import ledger_error_response
from gledger_sandbox.api.request_context import current_scope
from gledger_sandbox.api.security import principal
from gledger_sandbox.domain.errors import LedgerError
from gledger_sandbox.domain.sandbox.idempotency import IdempotencyStore, StoredAnswer
from gledger_sandbox.domain.sandbox.tenant import Tenant

P = ParamSpec("P")
Handler = Callable[P, Awaitable[Response]]

JSON = "application/json"
REPLAYED = "Idempotent-Replayed"


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(serializers.dumps(document), status, headers=headers, media_type=JSON)


def request_id() -> str:
    return str(current_scope()["gledger.request_id"])


def header(name: str) -> str | None:
    """The request's first ``name`` header (any case), or None."""
    return scope_header(current_scope(), name.lower().encode("latin-1"))


def fingerprint(path: str, body: Any) -> str:
    """What makes two requests "the same": the path and the body, keys in any order."""
    canonical = json.dumps([path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(answer: StoredAnswer) -> Response:
    return Response(
        answer.body, answer.status, headers={REPLAYED: "true"}, media_type=answer.content_type
    )


def store_answer(response: Response) -> StoredAnswer:
    return StoredAnswer(response.status_code, bytes(response.body), response.media_type or JSON)


def answer_or_refusal(
    store: IdempotencyStore, scope: tuple[str, str], print_: str, now: datetime
) -> Response | None:
    """The stored answer to replay, a refusal of a clashing key, or None to go ahead."""
    try:
        stored = store.begin(scope, print_, now)
    except LedgerError as error:
        return ledger_error_response(error, request_id())
    return replay(stored) if stored is not None else None


KeySpace = Callable[[], tuple[IdempotencyStore, datetime]]
"""Where a route's keys live, and the time that ages them."""


def tenant_keys() -> tuple[IdempotencyStore, datetime]:
    """The caller's tenant keys, aged by its sandbox clock: the scope of every ledger write."""
    caller = principal().tenant
    return caller.idempotency, caller.clock.now()


def client_address() -> str:
    """The caller's address: the socket's peer, or what a trusted proxy says it is."""
    client = current_scope().get("client") or ("?", 0)
    return str(client[0])


def idempotent(
    route: str, keys: KeySpace = tenant_keys, by_address: bool = False
) -> Callable[[Handler[P]], Handler[P]]:
    """Make a POST handler honour ``Idempotency-Key``, scoped to ``keys`` and ``route`` (and to
    the client's address with ``by_address``: a key sent from elsewhere is another key)."""

    def wrap(handler: Handler[P]) -> Handler[P]:
        @functools.wraps(handler)
        async def with_key(*args: P.args, **kwargs: P.kwargs) -> Response:
            key = header("idempotency-key")
            if key is None:
                return await handler(*args, **kwargs)
            store, now = keys()
            scope = (f"{route}@{client_address()}" if by_address else route, key)
            print_ = fingerprint(current_scope()["path"], kwargs.get("body"))
            early = answer_or_refusal(store, scope, print_, now)
            if early is not None:
                return early
            try:
                response = await handler(*args, **kwargs)
            except LedgerError as error:
                response = ledger_error_response(error, request_id())
            except BaseException:
                store.abandon(scope)
                raise
            if response.status_code == 429:
                store.abandon(scope)  # a limit of the moment: the key stays free for a retry
            else:
                store.complete(scope, store_answer(response))
            return response

        return with_key

    return wrap


def services() -> Any:
    """The app's services (registry, settings), set on every request by the outer middleware."""
    return current_scope()["gledger.services"]


def tenant() -> Tenant:
    return principal().tenant
