"""Faults injected into API calls: the tenant's rules, and the one-off request header.

Every handler is wrapped (``api/operations.resolve``) by :func:`with_faults`, so a fault applies
after authentication and validation (it needs the caller's tenant; bad input still gets its
4xx), and before the handler: a forced error or a dropped connection applies nothing. With
``after_commit`` the handler runs first (a write commits, its idempotency key stores the
success) and the answer is the fault: the "did it go through?" case keys exist for.

A forced error is a problem like any other, marked as injected (``injected: true``, the
``fault_id``, and the ``GLedger-Sandbox-Fault-Injected`` header naming the injection), so a
client, the contract kit and the logs can tell it from a fault of the sandbox itself.
A dropped connection aborts the socket (the ASGI server's transport, which
``api/transport.py`` puts in the scope); a server that gives none answers a 503 instead.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from gledger_sandbox import specfile
from gledger_sandbox.api.middleware import scope_header
from gledger_sandbox.api.problems import problem_response
from gledger_sandbox.api.request_context import current_context, current_scope
from gledger_sandbox.domain.errors import MalformedInput
from gledger_sandbox.domain.sandbox.faults import Effect, Injected
from gledger_sandbox.domain.sandbox.tenant import Tenant

FAULT_HEADER = "GLedger-Sandbox-Fault"
"""The one-off request header: ``status=503; code=...; retry_after=2; latency_ms=200;
after_commit`` or ``drop``."""
INJECTED_HEADER = "GLedger-Sandbox-Fault-Injected"
"""On an answer a fault decided (or delayed): the id of the injection on the record."""
TRANSPORT_KEY = "gledger.transport"
_FAULT_HEADER_NAME = FAULT_HEADER.lower().encode()
FORCED_STATUSES = frozenset({408, 409, 422, 429, 500, 502, 503, 504})
DEFAULT_CODES = {
    408: "request_timeout",
    409: "sandbox.fault.conflict",
    422: "sandbox.fault.unprocessable",
    429: "rate_limited",
    500: "internal_error",
    502: "sandbox.fault.bad_gateway",
    503: "sandbox.fault.service_unavailable",
    504: "sandbox.fault.gateway_timeout",
}
UNFAULTED = frozenset(
    {"createFault", "listFaults", "getFault", "deleteFault", "listFaultInjections"}
)
"""The fault rules' own operations: never faulted, so a rule can always be seen and removed."""
_CODE = re.compile(r"^[a-z][a-z0-9_.]{0,99}$")
_HEADER_POINTER = "/header/" + FAULT_HEADER

Handler = Callable[..., Awaitable[Response]]


@functools.cache
def operation_routes() -> dict[str, tuple[str, str]]:
    """Every operationId of the spec: its method (upper case) and path template."""
    routes = {}
    for template, item in specfile.bundle()["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                routes[operation["operationId"]] = (method.upper(), template)
    return routes


@dataclass(frozen=True, slots=True)
class Planned:
    """One fault to apply to this call: from a rule (``fault_id``) or the header (None)."""

    fault_id: str | None
    effect: Effect
    status: int | None = None
    code: str | None = None
    retry_after_seconds: int | None = None
    latency_ms: float | None = None
    after_commit: bool = False


def _header_fault(value: str) -> Planned:
    """The one-off header, read strictly: an unreadable one is a 400, never ignored."""
    fields: dict[str, str] = {}
    for part in value.split(";"):
        name, _, setting = part.strip().partition("=")
        if name:
            fields[name.strip().lower()] = setting.strip()
    try:
        known = {"status", "code", "retry_after", "latency_ms", "after_commit", "drop"}
        if not fields or set(fields) - known:
            raise ValueError
        latency = float(fields["latency_ms"]) if "latency_ms" in fields else None
        if latency is not None and not 0 <= latency <= 30_000:
            raise ValueError
        after_commit = "after_commit" in fields
        if "drop" in fields:
            return Planned(None, Effect.DROP, latency_ms=latency, after_commit=after_commit)
        if "status" not in fields:
            if latency is None or after_commit:
                raise ValueError
            return Planned(None, Effect.LATENCY, latency_ms=latency)
        status = int(fields["status"])
        code = fields.get("code") or DEFAULT_CODES.get(status, "")
        retry = int(fields["retry_after"]) if "retry_after" in fields else None
        if status not in FORCED_STATUSES or not _CODE.match(code) or (retry or 0) < 0:
            raise ValueError
    except ValueError:
        detail = (
            f"{FAULT_HEADER} reads like 'status=503; code=...; retry_after=2; latency_ms=200; "
            f"after_commit' or 'drop': status one of {sorted(FORCED_STATUSES)}, "
            "latency_ms 0 to 30000."
        )
        raise MalformedInput.at(_HEADER_POINTER, "validation.invalid_value", detail) from None
    return Planned(None, Effect.ERROR, status, code, retry, latency, after_commit)


def _planned(caller: Tenant, operation_id: str) -> list[Planned]:
    """The faults of this call: the header's first, then every rule that fires, in order."""
    method, template = operation_routes()[operation_id]
    plan = []
    scope = current_scope()
    value = scope_header(scope, _FAULT_HEADER_NAME)
    if value is not None:
        plan.append(_header_fault(value))
        if plan[0].effect.ends_call:
            return plan  # the header decides this call: the rules are not asked
    for rule in caller.faults.for_call(operation_id, method, scope["path"], template):
        spec = rule.spec
        latency = spec.latency.sample(rule.rng) if spec.latency is not None else None
        plan.append(
            Planned(
                rule.id,
                spec.effect,
                spec.status,
                spec.code,
                spec.retry_after_seconds,
                latency,
                spec.after_commit,
            )
        )
    return plan


def _record(caller: Tenant, operation_id: str, fault: Planned) -> str:
    request_scope = current_scope()
    injection = caller.faults.record(
        Injected(
            fault.fault_id,
            fault.effect,
            status=fault.status if fault.effect is Effect.ERROR else None,
            code=fault.code if fault.effect is Effect.ERROR else None,
            latency_ms=fault.latency_ms,
            after_commit=fault.after_commit,
            request_id=str(request_scope.get("gledger.request_id")),
            operation_id=operation_id,
            method=request_scope["method"],
            path=request_scope["path"],
        )
    )
    return injection.id


def _caller() -> Tenant | None:
    info = current_context().get("token_info")
    found = info.get("principal") if isinstance(info, dict) else None
    return found.tenant if found is not None else None


async def _dropped(injection_id: str, fault: Planned) -> Response:
    transport = current_scope().get(TRANSPORT_KEY)
    if transport is None or transport.is_closing():
        return _forced(injection_id, Planned(fault.fault_id, Effect.ERROR, 503, None))
    transport.abort()
    # Let the server see the connection lost before the (unsent) answer: it then sends nothing.
    for _ in range(3):
        await asyncio.sleep(0)
    return Response(status_code=204)


def _forced(injection_id: str, fault: Planned) -> Response:
    status = fault.status or 503
    code = fault.code or DEFAULT_CODES.get(status, "sandbox.fault.injected")
    headers = {INJECTED_HEADER: injection_id}
    if fault.retry_after_seconds is not None:
        headers["Retry-After"] = str(fault.retry_after_seconds)
    origin = f"fault rule {fault.fault_id}" if fault.fault_id else f"the {FAULT_HEADER} header"
    committed = " The request was applied first (after_commit)." if fault.after_commit else ""
    detail = f"Injected by {origin}; not a fault of the sandbox.{committed}"
    rid = str(current_scope().get("gledger.request_id"))
    return problem_response(
        status, code, detail, rid, headers=headers, injected=True, fault_id=fault.fault_id
    )


def with_faults(operation_id: str, handler: Handler) -> Handler:
    """``handler``, with the caller's faults applied around it."""
    operation_routes()  # read the spec's routes now, while the app is built, not on a request

    @functools.wraps(handler)
    async def faulted(*args: Any, **kwargs: Any) -> Response:
        caller = _caller()
        plan = _planned(caller, operation_id) if caller is not None else []
        if not plan or caller is None:
            return await handler(*args, **kwargs)
        ending = next((fault for fault in plan if fault.effect.ends_call), None)
        ids = [_record(caller, operation_id, f) for f in plan if not f.effect.ends_call]
        delay = sum(fault.latency_ms or 0.0 for fault in plan)
        if delay:
            await asyncio.sleep(delay / 1000)
        if ending is None:
            response = await handler(*args, **kwargs)
            response.headers[INJECTED_HEADER] = ", ".join(ids)
            return response
        if ending.after_commit:
            response = await handler(*args, **kwargs)
            if response.status_code >= 400:
                return response  # nothing committed: the refusal is the honest answer
        injection_id = _record(caller, operation_id, ending)
        if ending.effect is Effect.DROP:
            return await _dropped(injection_id, ending)
        return _forced(injection_id, ending)

    return faulted
