"""The schemathesis phases: every operation fuzzed (positive and negative data), then stateful.

``fuzz`` draws cases from each operation's strategy with Hypothesis (``@given`` under the run's
seed); ``stateful`` runs the spec's OpenAPI links as a state machine. Each response goes through
schemathesis' own checks and the kit's response checks, one check at a time, so every finding
is filed under the kit's check name. Findings are recorded, not raised: the run goes on, and
Hypothesis never shrinks against a live target that keeps changing.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx

from gledger_sandbox import resources
from gledger_sandbox.contract.console import Console
from gledger_sandbox.contract.spec import SELF_DESTRUCTIVE
from gledger_sandbox.contract.target import REQUEST_TIMEOUT, Target
from gledger_sandbox.contract.throwaway import Throwaway
from gledger_sandbox.contract.validator import Validator, case_operation_id

STREAM_TIMEOUT = 0.2
"""Seconds a fuzzed event stream stays open (it would run until its bounds otherwise)."""


class BudgetSpent(BaseException):
    """Raised inside a Hypothesis test when the time budget runs out (not caught as a failure)."""


def load_schema(target: Target) -> Any:
    """The spec as a schemathesis schema, configured for the target and the kit's credential."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_path(resources.schemathesis_config())
    schema = schemathesis.openapi.from_dict(target.spec.document, config=config)
    schema.config.update(
        base_url=target.base_url,
        headers={"Authorization": target.authorization},
        request_timeout=REQUEST_TIMEOUT,
    )
    schema.config.generation.update(max_examples=target.options.examples)
    # The kit hides the credential itself (curl.hide_credential); schemathesis' sanitizing
    # would also hide the Idempotency-Key a reproduction needs.
    schema.config.output.sanitization.update(enabled=False)
    return schema


def fuzzed_operations(target: Target) -> list[str]:
    return [
        op.id
        for op in target.spec.operations.values()
        if op.id not in SELF_DESTRUCTIVE and target.options.selects(op.id)
    ]


def send(target: Target, case: Any, throwaway: Throwaway | None = None) -> Any:
    """Send a case with the run's current credential; a 401 to a token is sent again, renewed.
    A self-destructive operation's case goes with its ``throwaway`` tenant's key instead.

    (A token that expired mid-run is the kit's problem, not a contract failure.)
    """
    if throwaway is not None:
        headers = {"Authorization": throwaway.authorization() or ""}
        response = case.call(timeout=REQUEST_TIMEOUT, headers=headers)
        throwaway.after(case_operation_id(case), response)
        return response
    sent = target.authorization
    response = case.call(timeout=REQUEST_TIMEOUT, headers={"Authorization": sent})
    if response.status_code == 401 and target.credential.renew(sent):
        renewed = {"Authorization": target.authorization}
        response = case.call(timeout=REQUEST_TIMEOUT, headers=renewed)
    if case_operation_id(case) == "createFault" and response.status_code == 201:
        _delete_fault_at_once(target, response)
    if case_operation_id(case) == "createWebhookEndpoint" and response.status_code == 201:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            target.fuzzed_endpoints.append(str(response.json()["id"]))
    if case_operation_id(case) == "createApiKey" and response.status_code == 201:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            target.fuzzed_api_keys.append(str(response.json()["id"]))
    return response


def _delete_fault_at_once(target: Target, response: Any) -> None:
    """A fuzzed fault rule is deleted as soon as it is made: left in place it would fault the
    kit's next calls (its own answer has been received, and is checked as any other)."""
    with contextlib.suppress(ValueError, TypeError, KeyError, httpx.HTTPError):
        httpx.delete(
            f"{target.base_url.rstrip('/')}/v1/sandbox/faults/{response.json()['id']}",
            headers={"Authorization": target.authorization},
            timeout=REQUEST_TIMEOUT,
        )


def delete_fuzzed_endpoints(target: Target) -> None:
    """Delete the webhook endpoints fuzzing created (one a fuzzed delete took is a 404), and
    revoke the API keys it made (so that runs on one tenant never pile up working keys)."""
    undo = [("DELETE", f"/v1/webhook-endpoints/{e}") for e in target.fuzzed_endpoints]
    undo += [("POST", f"/v1/sandbox/api-keys/{k}/revoke") for k in target.fuzzed_api_keys]
    with httpx.Client(base_url=target.base_url, timeout=REQUEST_TIMEOUT) as client:
        for method, path in undo:
            with contextlib.suppress(httpx.HTTPError):
                client.request(method, path, headers={"Authorization": target.authorization})
    target.fuzzed_endpoints.clear()
    target.fuzzed_api_keys.clear()


def run_fuzz_phase(target: Target, console: Console) -> None:
    from gledger_sandbox.contract.fuzz_pool import (
        frozen_constants,
        fuzz_in_workers,
        local_constants,
    )

    schema = load_schema(target)
    validator = Validator(target, "fuzz")
    for operation_id in sorted(filter(target.options.spares, target.spec.operations)):
        reason = (
            f"{operation_id} changes the whole tenant of the credential (its clock, its fault "
            "rules): fuzzed "
            "only with --own-tenant or when --operations names it"
        )
        target.results.skip("fuzz", "not_a_server_error", operation_id, reason)
    operations = fuzzed_operations(target)
    # One process or several, the same local constants: the same cases for one seed.
    constants = local_constants()
    with frozen_constants(constants):
        if (target.options.workers or 1) > 1 and len(operations) > 1:
            fuzz_in_workers(target, schema, validator, console, operations, constants)
        else:
            for operation_id in operations:
                fuzz_operation(target, schema, validator, operation_id, console)
        fuzz_on_throwaway_tenants(target, schema, validator, console)


def fuzz_on_throwaway_tenants(
    target: Target, schema: Any, validator: Validator, console: Console
) -> None:
    """The operations that would end the kit's own tenant, each fuzzed on a throwaway one."""
    from schemathesis import GenerationMode

    chosen = sorted(SELF_DESTRUCTIVE & set(target.spec.operations))
    for operation_id in filter(target.options.selects, chosen):
        if not target.spec.has("createTenant"):
            reason = f"{operation_id} would end the credential's tenant: fuzzed only on a "
            reason += "throwaway tenant, which needs a target with createTenant"
            target.results.skip("fuzz", "not_a_server_error", operation_id, reason)
            continue
        with Throwaway(target) as throwaway:
            if throwaway.authorization() is None:
                reason = f"{operation_id}: the target made no throwaway tenant to fuzz it on"
                target.results.skip("fuzz", "not_a_server_error", operation_id, reason)
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if target.deadline.spent():
                    validator.skip(operation_id, "time budget spent")
                    continue
                _fuzz(target, schema, validator, operation_id, mode, console, None, throwaway)


def fuzz_operation(
    target: Target, schema: Any, validator: Validator, operation_id: str, console: Console
) -> None:
    """One operation fuzzed: positive, negative, and positive again on the kit's own ids."""
    from schemathesis import GenerationMode

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        if target.deadline.spent():
            validator.skip(operation_id, "time budget spent")
            continue
        _fuzz(target, schema, validator, operation_id, mode, console)
    _read_own(target, schema, validator, operation_id, console)


def _read_own(
    target: Target, schema: Any, validator: Validator, operation_id: str, console: Console
) -> None:
    """A read fuzzed again on the kit's own resources, so that its 2xx bodies are checked too.

    Random ids mostly answer 404; the ids the ledger phase made (``Target.known``) reach the
    success responses of reports and single reads. Only reads: writes on the kit's books would
    change what the ledger phase left for the summary.
    """
    from schemathesis import GenerationMode

    operation = target.spec.operations[operation_id]
    path = target.known.path_for(operation) if operation.method == "GET" else None
    if path is None or target.deadline.spent():
        return
    _fuzz(target, schema, validator, operation_id, GenerationMode.POSITIVE, console, path)


def _negatable(operation: Any) -> bool:
    """Whether the operation takes any input (path-item parameters included) to make invalid."""
    inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(container) for container in inputs)


def _fuzz(
    target: Target,
    schema: Any,
    validator: Validator,
    operation_id: str,
    mode: Any,
    console: Console,
    own_path: dict[str, str] | None = None,
    throwaway: Throwaway | None = None,
) -> None:
    import requests
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    operation = schema.find_operation_by_id(operation_id)
    if mode is GenerationMode.NEGATIVE and not _negatable(operation):
        return
    stream = target.spec.operations[operation_id].is_stream
    examples = target.spec.operations[operation_id].required_query_examples()
    started = time.monotonic()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=target.options.examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    @seed(target.seed)
    def run(case: Any) -> None:
        if target.deadline.spent():
            raise BudgetSpent
        if stream:
            _bound_stream(case)
        if own_path:
            # The kit's ids, and the spec's examples of the required query parameters (a drawn
            # from/to pair is mostly an invalid range): the optional ones still vary.
            case.path_parameters = {**(case.path_parameters or {}), **own_path}
            case.query = {**(case.query or {}), **examples}
        try:
            response = send(target, case, throwaway)
        except requests.RequestException as error:
            validator.unreachable(case, error)
            return
        validator.validate(case, response)

    try:
        run()
        what = f"{mode.value}, the kit's own ids" if own_path else mode.value
        what = f"{what}, on a throwaway tenant" if throwaway else what
        console.progress(f"fuzz    {operation_id} ({what}) {time.monotonic() - started:.1f} s")
    except Unsatisfiable:
        reason = f"schemathesis could make no {mode.value} data for {operation_id}"
        target.results.skip("fuzz", "status_code_conformance", operation_id, reason)
    except BudgetSpent:
        validator.skip(operation_id, "time budget spent")


def _bound_stream(case: Any) -> None:
    """A fuzzed event stream ends within ``STREAM_TIMEOUT`` (unless its timeout is the bad input).

    A generated ``timeout`` of an hour would hold the request until the kit's own timeout.
    """
    query = dict(case.query or {})
    given = query.get("timeout")
    if given is None or (isinstance(given, int | float) and not isinstance(given, bool)):
        query["timeout"] = STREAM_TIMEOUT
    case.query = query


def run_stateful_phase(target: Target, console: Console) -> None:
    """Sequences through the spec's links, from the kit's own tenant as it is (never reset)."""
    from hypothesis import HealthCheck, seed, settings

    streams = [op.id for op in target.spec.operations.values() if op.is_stream]
    left_out = set(target.spec.operations) - set(fuzzed_operations(target)) | set(streams)
    schema = load_schema(target).exclude(operation_id=sorted(left_out))
    validator = Validator(target, "stateful")
    if target.deadline.spent():
        validator.skip("links", "time budget spent")
        return
    console.progress("stateful sequences through the OpenAPI links")
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def call(self, case: Any, **kwargs: Any) -> Any:
            return send(target, case)

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            if target.deadline.spent():
                raise BudgetSpent
            validator.validate(case, response, recorder=getattr(self, "recorder", None))

    seed(target.seed)(Machine)
    from hypothesis.errors import Flaky
    from schemathesis.core.errors import NoLinksFound

    try:
        Machine.run(
            settings=settings(
                max_examples=max(5, target.options.examples // 2),
                stateful_step_count=8,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
        )
    except BudgetSpent:
        target.results.skip("stateful", "status_code_conformance", "links", "time budget spent")
    except Flaky as error:
        # Hypothesis replays a prefix of choices and expects the same draws; against a live
        # target the links' bundles depend on its answers, which may differ the second time.
        reason = (
            "stateful sequences stopped early: the target answered a repeated sequence "
            f"differently, which Hypothesis cannot replay ({type(error).__name__}); "
            "findings so far are kept"
        )
        validator.skip("links (rest)", reason)
    except NoLinksFound:
        reason = "no OpenAPI link joins two of the selected operations: nothing to sequence"
        validator.skip("links", reason)
