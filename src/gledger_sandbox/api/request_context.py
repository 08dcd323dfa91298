"""The request connexion is serving: its scope, receive channel and context, read directly.

``connexion.context`` offers them as werkzeug ``LocalProxy`` objects over context variables.
Every item read through a proxy looks its variable up again (three Python calls a read), and
an object built over a proxy (a ``ConnexionRequest``, Starlette's ``Headers``) pays that on
each of its own reads: about twenty lookups per request on the hot path (bench/README.md). The
values here are the same objects the proxies stand for, looked up once by whoever asks.
Outside a request each raises ``LookupError``, as reading a proxy does.
"""

from __future__ import annotations

from typing import Any

from connexion.context import _context, _operation, _receive, _scope
from connexion.operations import AbstractOperation
from starlette.types import Receive, Scope


def current_scope() -> Scope:
    """The ASGI scope of the request being served."""
    scope: Scope = _scope.get()
    return scope


def current_receive() -> Receive:
    receive: Receive = _receive.get()
    return receive


def current_context() -> dict[str, Any]:
    """connexion's context of the request (``token_info`` and the like)."""
    context: dict[str, Any] = _context.get()
    return context


def current_operation() -> AbstractOperation:
    operation: AbstractOperation = _operation.get()
    return operation
