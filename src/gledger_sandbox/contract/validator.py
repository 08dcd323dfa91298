"""How the kit judges each fuzzed answer: schemathesis' checks and the kit's own, filed under
the kit's check names (``Validator``), and the cases whose finding would be the kit's doing,
not the target's (a fault rule's injected answer, a replay, an invalid part that vanished on
the wire)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gledger_sandbox.contract.curl import hide_credential
from gledger_sandbox.contract.options import BUILTIN_CHECKS
from gledger_sandbox.contract.report import Failure
from gledger_sandbox.contract.response_checks import NOT_APPLICABLE, SCHEMATHESIS_CHECKS
from gledger_sandbox.contract.target import REQUEST_TIMEOUT, Target

# Schemathesis' checks, filed under the kit's four built-in names. ``ignored_auth`` is left
# out: the configured Authorization header replaces the bad credential it sends, so it would
# flag every operation (``auth_enforced`` proves the 401s instead); ``object_level_authorization``
# needs identities schemathesis is not given (``auth_enforced`` covers other tenants' ids).
SCHEMATHESIS_GROUPS: dict[str, str] = {
    "not_a_server_error": "not_a_server_error",
    "status_code_conformance": "status_code_conformance",
    "positive_data_acceptance": "status_code_conformance",
    "negative_data_rejection": "status_code_conformance",
    "missing_required_header": "status_code_conformance",
    "unsupported_method": "status_code_conformance",
    "allow_header_conformance": "status_code_conformance",
    "use_after_free": "status_code_conformance",
    "ensure_resource_availability": "status_code_conformance",
    "content_type_conformance": "content_type_conformance",
    "response_schema_conformance": "response_schema_conformance",
    "response_headers_conformance": "response_schema_conformance",
}


def _checks(target: Target) -> list[tuple[str, Callable[..., Any]]]:
    """(kit check name, schemathesis check function) for every selected check."""
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    selected: list[tuple[str, Callable[..., Any]]] = [
        (kit, CHECKS.get_one(name))
        for name, kit in SCHEMATHESIS_GROUPS.items()
        if kit in BUILTIN_CHECKS and target.options.wants(kit)
    ]
    selected += [
        (name, fn) for name, fn in SCHEMATHESIS_CHECKS.items() if target.options.wants(name)
    ]
    return selected


class Validator:
    """Runs the selected checks on each response, filing each finding under its kit check.

    Every check is wrapped so that it records its own findings (with its kit name and the
    case as curl) and returns quietly: one ``validate_response`` per case runs them all, and
    none of them stops the run.
    """

    def __init__(self, target: Target, phase: str) -> None:
        self.target = target
        self.phase = phase
        self.checks = _checks(target)
        self._wrapped = [self._wrap(kit, function) for kit, function in self.checks]

    def _wrap(self, kit_check: str, function: Callable[..., Any]) -> Callable[..., Any]:
        from schemathesis.core.failures import Failure as Finding
        from schemathesis.core.failures import FailureGroup

        name = function.__name__

        def check(ctx: Any, response: Any, case: Any) -> None:
            operation_id = case_operation_id(case)
            if name == "ensure_resource_availability" and (
                _follows_a_replay(ctx, case) or _follows_a_fault_rule(ctx, case)
            ):
                return None
            if name == "negative_data_rejection" and _invalid_part_vanished(case):
                return None
            try:
                result = function(ctx, response, case)
            except FailureGroup as group:
                for found in group.exceptions:
                    self.record(case, response, operation_id, kit_check, name, found)
            except Finding as found:
                self.record(case, response, operation_id, kit_check, name, found)
            except AssertionError as error:
                self.record(case, response, operation_id, kit_check, name, error)
            else:
                if result is not NOT_APPLICABLE:
                    self.target.results.passed(self.phase, kit_check, operation_id)
            return None

        check.__name__ = name
        return check

    def skip(self, name: str, reason: str) -> None:
        """Every selected check of this phase skipped on ``name``, for ``reason``."""
        for kit_check, _ in self.checks:
            self.target.results.skip(self.phase, kit_check, name, reason)

    def validate(self, case: Any, response: Any, **kwargs: Any) -> None:
        if _injected(response):
            return  # the tenant's own fault rule answered: not the deployment's behaviour
        # The checks that send requests of their own (use_after_free...) send this credential.
        transport = {
            "base_url": self.target.base_url,
            "timeout": REQUEST_TIMEOUT,
            "headers": {"Authorization": self.target.authorization},
        }
        case.validate_response(response, checks=self._wrapped, transport_kwargs=transport, **kwargs)

    def record(
        self, case: Any, response: Any, operation_id: str, kit_check: str, name: str, found: Any
    ) -> None:
        label = "" if name == kit_check else f" (schemathesis check {name})"
        title = getattr(found, "title", "")
        text = getattr(found, "message", None) or str(found)
        message = f"{title}{label}: {text}".strip(": ")
        message += f"\n  answered {response.status_code}"
        curl = case.as_curl_command(
            headers=dict(response.request.headers), base_url=self.target.base_url
        )
        failure = Failure(
            kit_check, operation_id, message, hide_credential(curl, *self.target.credential.sent)
        )
        self.target.results.failed(self.phase, failure)

    def unreachable(self, case: Any, error: Exception) -> None:
        curl = case.as_curl_command(base_url=self.target.base_url)
        failure = Failure(
            "not_a_server_error",
            case_operation_id(case),
            f"the request failed without an answer: {error!r}",
            hide_credential(curl, *self.target.credential.sent),
        )
        self.target.results.failed(self.phase, failure)


def _injected(response: Any) -> bool:
    """An error a fault rule of the tenant forced (a sandbox marks it so): never a finding."""
    headers = {name.lower() for name in response.headers}
    return bool(response.status_code >= 400 and INJECTED_HEADER in headers)


INJECTED_HEADER = "gledger-sandbox-fault-injected"


def _follows_a_replay(ctx: Any, case: Any) -> bool:
    """Whether the step before ``case`` created nothing: its answer was an idempotent replay.

    Hypothesis draws the same ``Idempotency-Key`` and body again now and then; the target then
    rightly replays the first answer, whose resource a later step may have deleted. Schemathesis
    would call the 404 that follows a created resource gone missing.
    """
    internals: Any = getattr(ctx, "internals", None)
    if internals is None:
        return False
    parent = internals.find_parent(case_id=case.id)
    answer = internals.find_response(case_id=parent.id) if parent is not None else None
    if answer is None:
        return False
    headers = {name.lower(): values for name, values in answer.headers.items()}
    return "true" in [value.lower() for value in headers.get("idempotent-replayed", [])]


def _invalid_part_vanished(case: Any) -> bool:
    """Whether a query value of the case is sent as nothing: an empty object or array.

    Schemathesis may make a query parameter invalid as ``{}`` (``limit={}`` becomes no
    ``limit`` at all), or an array parameter invalid as ``[""]``, which a form-style array
    sends as ``types=``: the very bytes of the empty array, a valid value. When that was the
    invalid part, the request that reaches the target is valid, and its 2xx is no finding.
    """
    query = case.query or {}
    arrays = _array_parameters(case)
    return any(
        value in ({}, [], [""]) or (value == "" and name in arrays) for name, value in query.items()
    )


def _array_parameters(case: Any) -> set[str]:
    """The names of the case's query parameters whose schema is an array."""
    names = set()
    for parameter in getattr(case.operation, "query", ()):
        definition = getattr(parameter, "definition", None) or {}
        if (definition.get("schema") or {}).get("type") == "array":
            names.add(parameter.name)
    return names


def _follows_a_fault_rule(ctx: Any, case: Any) -> bool:
    """Whether the step before ``case`` made a fault rule, which the kit deletes at once."""
    internals: Any = getattr(ctx, "internals", None)
    parent = internals.find_parent(case_id=case.id) if internals is not None else None
    return parent is not None and case_operation_id(parent) == "createFault"


def case_operation_id(case: Any) -> str:
    return str(case.operation.definition.raw.get("operationId", case.operation.label))
