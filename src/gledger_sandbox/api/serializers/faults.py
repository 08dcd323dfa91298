"""Fault rules and injections, both ways: the rule a body asks for, and their JSON.

The spec checks each field's shape; the rules that tie fields together (an effect's own
settings, a match the effect can use, an operation the sandbox has) are checked here, every
offending field at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gledger_sandbox.api.faults import DEFAULT_CODES, UNFAULTED, operation_routes
from gledger_sandbox.api.serializers import Json, parse_timestamp, timestamp
from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import FieldError, InvalidRequest
from gledger_sandbox.domain.sandbox.faults import (
    Distribution,
    Effect,
    FaultMatch,
    FaultRule,
    FaultSpec,
    Injection,
    Latency,
)
from gledger_sandbox.resources import path_pattern

_NEEDS_LATENCY = (Effect.LATENCY, Effect.WEBHOOK_DELAY)


def _invalid(pointer: str, detail: str) -> FieldError:
    return FieldError(pointer, "validation.invalid_value", detail)


def _match(body: Json, effect: Effect, errors: list[FieldError]) -> FaultMatch:
    operation_id = body.get("operation_id")
    method = body.get("method")
    path = body.get("path")
    routes = operation_routes()
    if effect.on_webhooks:
        for name in ("operation_id", "method", "path"):
            if body.get(name) is not None:
                errors.append(_invalid(f"/match/{name}", f"A {effect} rule matches deliveries."))
    else:
        for name in ("webhook_endpoint_id", "event_types"):
            if body.get(name):
                errors.append(_invalid(f"/match/{name}", f"A {effect} rule matches API calls."))
        if operation_id is None and path is None:
            errors.append(_invalid("/match", "Name an operation_id or a path to match."))
        if operation_id is not None and (operation_id not in routes or operation_id in UNFAULTED):
            errors.append(
                _invalid("/match/operation_id", f"No operation {operation_id!r} can be faulted.")
            )
        if path is not None:
            pairs = routes.values()
            if not any(
                (method is None or method == m) and (path == t or path_pattern(t).match(path))
                for m, t in pairs
            ):
                errors.append(_invalid("/match/path", f"No operation at {method or ''} {path}."))
        if operation_id in routes and method is not None and routes[operation_id][0] != method:
            errors.append(_invalid("/match/method", f"{operation_id} is not a {method}."))
    return FaultMatch(
        operation_id=operation_id,
        method=method,
        path=path,
        webhook_endpoint_id=body.get("webhook_endpoint_id"),
        event_types=tuple(body.get("event_types") or ()),
    )


def _latency(body: Json, effect: Effect, errors: list[FieldError]) -> Latency | None:
    ms = body.get("latency_ms")
    maximum = body.get("latency_max_ms")
    distribution = Distribution(body.get("distribution", "fixed"))
    if ms is None:
        if effect in _NEEDS_LATENCY:
            errors.append(_invalid("/effect/latency_ms", f"A {effect} effect needs latency_ms."))
        return None
    if distribution is Distribution.UNIFORM and (maximum is None or maximum < ms):
        errors.append(
            _invalid(
                "/effect/latency_max_ms", "A uniform latency needs latency_max_ms >= latency_ms."
            )
        )
    return Latency(float(ms), distribution, float(maximum) if maximum is not None else None)


def _effect_errors(body: Json, effect: Effect, errors: list[FieldError]) -> None:
    if effect is Effect.ERROR and body.get("status") is None:
        errors.append(_invalid("/effect/status", "An error effect needs a status."))
    if effect is not Effect.ERROR:
        for name in ("status", "code", "retry_after_seconds"):
            if body.get(name) is not None:
                errors.append(_invalid(f"/effect/{name}", f"Only an error effect has {name}."))
    if body.get("after_commit") and not effect.ends_call:
        errors.append(_invalid("/effect/after_commit", "Only error and drop effects end a call."))
    if body.get("copies") is not None and effect is not Effect.WEBHOOK_DUPLICATE:
        errors.append(_invalid("/effect/copies", "Only webhook_duplicate sends copies."))


def fault_spec(body: Json, clock: SandboxClock) -> FaultSpec:
    effect_body = body["effect"]
    effect = Effect(effect_body["type"])
    errors: list[FieldError] = []
    match = _match(body.get("match") or {}, effect, errors)
    latency = _latency(effect_body, effect, errors)
    _effect_errors(effect_body, effect, errors)
    expires_at = None
    if body.get("expires_at") is not None:
        expires_at = parse_timestamp(body["expires_at"], "/expires_at")
        if body.get("expires_in_seconds") is not None:
            errors.append(_invalid("/expires_in_seconds", "Give expires_at or expires_in_seconds."))
    elif body.get("expires_in_seconds") is not None:
        expires_at = clock.now() + timedelta(seconds=body["expires_in_seconds"])
    if errors:
        raise InvalidRequest.collected(errors)
    status = effect_body.get("status")
    return FaultSpec(
        match=match,
        effect=effect,
        status=status,
        code=effect_body.get("code") or (DEFAULT_CODES.get(status) if status else None),
        retry_after_seconds=effect_body.get("retry_after_seconds"),
        latency=latency,
        after_commit=bool(effect_body.get("after_commit", False)),
        copies=effect_body.get("copies") or 2,
        times=body.get("times"),
        probability=float(body.get("probability", 1.0)),
        seed=body.get("seed", 0),
        expires_at=expires_at,
        description=body.get("description"),
    )


def _effect(spec: FaultSpec) -> Json:
    latency = spec.latency
    shown: dict[str, Any] = {"type": spec.effect.value}
    if spec.effect is Effect.ERROR:
        shown |= {
            "status": spec.status,
            "code": spec.code,
            "retry_after_seconds": spec.retry_after_seconds,
        }
    if latency is not None:
        shown |= {
            "latency_ms": latency.ms,
            "distribution": latency.distribution.value,
            "latency_max_ms": latency.max_ms,
        }
    if spec.effect.ends_call:
        shown["after_commit"] = spec.after_commit
    if spec.effect is Effect.WEBHOOK_DUPLICATE:
        shown["copies"] = spec.copies
    return shown


def fault(rule: FaultRule, clock: SandboxClock) -> Json:
    spec = rule.spec
    match = spec.match
    return {
        "id": rule.id,
        "status": rule.status(clock.now()).value,
        "match": {
            "operation_id": match.operation_id,
            "method": match.method,
            "path": match.path,
            "webhook_endpoint_id": match.webhook_endpoint_id,
            "event_types": list(match.event_types),
        },
        "effect": _effect(spec),
        "times": spec.times,
        "remaining": rule.remaining,
        "probability": spec.probability,
        "seed": spec.seed,
        "expires_at": timestamp(spec.expires_at),
        "description": spec.description,
        "matched_count": rule.matched,
        "injected_count": rule.injected,
        "created_at": timestamp(rule.created_at),
    }


def injection(found: Injection) -> Json:
    what = found.what
    return {
        "id": found.id,
        "sequence": found.seq,
        "created_at": timestamp(found.at),
        "fault_id": what.fault_id,
        "effect": what.effect.value,
        "status": what.status,
        "code": what.code,
        "latency_ms": what.latency_ms,
        "after_commit": what.after_commit,
        "request_id": what.request_id,
        "operation_id": what.operation_id,
        "method": what.method,
        "path": what.path,
        "webhook_endpoint_id": what.webhook_endpoint_id,
        "delivery_id": what.delivery_id,
        "event_id": what.event_id,
    }
