"""Is an exchange the spec's? Its request against the operation's parameters and body, its
response against the documented status, media type and schema.

Schemathesis does the judging: it loads the spec once (``Conformance`` is built when the proxy
starts), and each operation's parameters, body and responses carry their own compiled JSON
Schema validators (jsonschema_rs), built on first use and reused for every later exchange.
The request side reads the values as a server would parse them: a query or header value is
text, taken as the schema's type when the text reads as it (``limit=10`` is the integer 10).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

from gledger_sandbox.contract.proxy.exchange import Exchange
from gledger_sandbox.contract.spec import ApiSpec, Operation

REQUEST_CHECK = "request_schema_conformance"
RESPONSE_CHECKS = (
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation: the check it breaks and what a person reads about it."""

    check: str
    message: str


class Conformance:
    """The spec as schemathesis reads it, for judging exchanges one at a time."""

    def __init__(self, spec: ApiSpec) -> None:
        import schemathesis

        self.spec = spec
        self._schema = schemathesis.openapi.from_dict(spec.document)
        self._operations: dict[str, Any] = {}

    def _operation(self, operation: Operation) -> Any:
        if operation.id not in self._operations:
            self._operations[operation.id] = self._schema.find_operation_by_id(operation.id)
        return self._operations[operation.id]

    def request(self, exchange: Exchange, operation: Operation) -> list[Finding]:
        """What in the request the operation does not accept (a missing or invalid value)."""
        compiled = self._operation(operation)
        query = parse_qs(exchange.query, keep_blank_values=True)
        headers = exchange.request_headers
        problems: list[str] = []
        for parameter in compiled.query:
            values = query.get(parameter.name)
            problems += _parameter(parameter, "query", values)
        for parameter in compiled.headers:
            value = headers.get(parameter.name)
            problems += _parameter(parameter, "header", None if value is None else [value])
        problems += self._body(compiled, exchange)
        return [Finding(REQUEST_CHECK, problem) for problem in problems]

    def _body(self, compiled: Any, exchange: Exchange) -> list[str]:
        bodies = list(compiled.body)
        if not bodies:
            return []
        if not exchange.request_body:
            required = any(body.is_required for body in bodies)
            return ["the request has no body, which the operation requires"] if required else []
        sent = exchange.request_headers.get("content-type", "").split(";")[0].strip().lower()
        body = next((b for b in bodies if b.media_type.lower() == sent), None)
        if body is None:
            documented = ", ".join(sorted(b.media_type for b in bodies))
            return [f"the request body is {sent or 'unlabelled'}, not {documented}"]
        document = _decoded(exchange.request_body, sent)
        if document is _UNREADABLE:
            return [f"the request body is not valid {sent}"]
        return [f"the request body: {error}" for error in _errors(body, document)]

    def response(self, exchange: Exchange, operation: Operation) -> list[Finding]:
        """What in the response the operation does not document (status, media type, schema)."""
        from schemathesis.core.failures import Failure, FailureGroup

        compiled = self._operation(operation)
        definition = compiled.responses.find_by_status_code(exchange.status)
        if definition is None:
            documented = ", ".join(sorted(operation.definition.get("responses", {})))
            return [
                Finding(
                    "status_code_conformance",
                    f"status {exchange.status} is not documented for {operation.id} "
                    f"(documented: {documented})",
                )
            ]
        media_types = sorted(definition.definition.get("content") or {})
        if media_types and exchange.media_type not in media_types:
            return [
                Finding(
                    "content_type_conformance",
                    f"the {exchange.status} answer is {exchange.media_type or 'unlabelled'}, not "
                    f"{' or '.join(media_types)} as documented",
                )
            ]
        request = httpx.Request(
            exchange.method,
            exchange.upstream_url,
            headers=exchange.request_headers,
            content=exchange.request_body,
        )
        response = httpx.Response(
            exchange.status,
            headers=exchange.response_headers,
            content=exchange.complete_body(),
            request=request,
        )
        response.elapsed = timedelta(seconds=exchange.seconds)
        try:
            compiled.validate_response(response)
        except FailureGroup as group:
            return [_finding(found) for found in group.exceptions if isinstance(found, Failure)]
        except Failure as found:
            return [_finding(found)]
        return []


_UNREADABLE = object()


def _decoded(body: bytes, media_type: str) -> Any:
    if media_type == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[0] for name, values in form.items()}
    try:
        return json.loads(body)
    except ValueError:
        return _UNREADABLE


def _finding(found: Any) -> Finding:
    checks = [name for name in getattr(found, "checks", ()) if name in RESPONSE_CHECKS]
    check = checks[0] if checks else "response_schema_conformance"
    text = f"{found.title}: {found.message}" if found.title else str(found.message)
    return Finding(check, text)


def _parameter(parameter: Any, where: str, values: list[str] | None) -> list[str]:
    if values is None:
        if parameter.is_required:
            return [f"the required {where} parameter {parameter.name} is missing"]
        return []
    candidates = list(_readings(parameter, values))
    if any(parameter.is_valid(candidate) for candidate in candidates):
        return []
    errors = _errors(parameter, candidates[-1])
    detail = errors[0] if errors else "invalid"
    return [f"the {where} parameter {parameter.name}={','.join(values)!r}: {detail}"]


def _readings(parameter: Any, values: list[str]) -> Iterable[Any]:
    """The ways a server may read the text of a parameter: as text, then as a JSON value."""
    kind = (parameter.definition.get("schema") or {}).get("type")
    if kind == "array":
        items = [part for value in values for part in value.split(",")]
        yield items
        yield [_as_json(item) for item in items]
        return
    yield values[-1]
    yield _as_json(values[-1])


def _as_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _errors(component: Any, value: Any) -> list[str]:
    """The validator's messages for ``value`` (the first few: one fault often makes many)."""
    validator = component.get_validator()
    messages = []
    for error in validator.iter_errors(value):
        where = "/".join(str(part) for part in error.instance_path)
        messages.append(f"{error.message} (at /{where})" if where else str(error.message))
        if len(messages) == 3:
            break
    return messages
