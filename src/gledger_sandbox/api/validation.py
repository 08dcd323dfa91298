"""Request validation with field-level errors: connexion's validators, each error a JSON pointer.

Connexion reports the first schema error as one flat string. These subclasses report every
error, each with a pointer into the request (``/lines/0/amount``, ``/query/limit``,
``/header/Idempotency-Key``) and a code of the ``validation.*`` family.
"""

from __future__ import annotations

import codecs
import collections
import functools
import json
import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any
from urllib.parse import parse_qsl

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.uri_parsing import QUERY_STRING_DELIMITERS, OpenAPIURIParser
from connexion.validators import (
    VALIDATOR_MAP,
    FormDataValidator,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError
from starlette.types import Receive, Scope

from gledger_sandbox.api import compiled, formats, jsontext
from gledger_sandbox.api.jsontext import pointer
from gledger_sandbox.api.quota_checks import charge_metadata
from gledger_sandbox.domain.errors import FieldError, GrantRefused

_CODES = {
    "required": "validation.required_field_missing",
    "type": "validation.invalid_type",
    "additionalProperties": "validation.unknown_field",
}


class RequestInvalid(ProblemException):
    """A request that its operation's schema refuses: 400, with every offending field."""

    def __init__(self, errors: Iterable[FieldError], code: str | None = None) -> None:
        self.errors = tuple(errors)
        self.code = code or (self.errors[0].code if self.errors else "validation.invalid_value")
        detail = "; ".join(f"{e.pointer or '/'}: {e.detail}" for e in self.errors)
        super().__init__(status=400, title="Invalid request", detail=detail)


def field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    """One jsonschema error as field errors: a missing or unknown property points at itself."""
    at = list(error.absolute_path)
    code = _CODES.get(str(error.validator), "validation.invalid_value")
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in instance]
        return [
            FieldError(pointer([*at, name], prefix), code, f"{name} is required.")
            for name in missing
        ]
    if error.validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        return [
            FieldError(
                pointer([*at, name], prefix), code, f"{name} is not a field of this request."
            )
            for name in instance
            if name not in known
        ]
    return [FieldError(pointer(at, prefix), code, error.message)]


_VALIDATORS: dict[int, tuple[Any, Draft4Validator]] = {}
_JUDGES: dict[int, tuple[Draft4Validator, compiled.Judge | None]] = {}


def validator_for(
    schema: dict[str, Any], kind: type[Draft4Validator] = Draft4RequestValidator
) -> Draft4Validator:
    """One validator per schema of the spec, built on first use (the schemas live as long as
    the app; the entry keeps its schema alive, so its id is never reused), with its compiled
    twin (``compiled.py``)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, kind(schema, format_checker=formats.CHECKER))
        _VALIDATORS[id(schema)] = cached
        judge = compiled.compile_schema(schema, nullable=kind is Draft4RequestValidator)
        _JUDGES[id(cached[1])] = (cached[1], judge)
    return cached[1]


def _judge(validator: Draft4Validator) -> compiled.Judge | None:
    found = _JUDGES.get(id(validator))
    return found[1] if found is not None and found[0] is validator else None


def schema_errors(validator: Draft4Validator, instance: Any) -> list[ValidationError]:
    """The instance's errors in pointer order; a ``format`` error is left out where the same
    value already breaks another keyword (a ``pattern`` usually says the same thing).

    None at once when the compiled schema accepts the instance (``compiled.py``)."""
    if compiled.passes(_judge(validator), instance):
        if compiled.CROSS_CHECK:
            missed = list(validator.iter_errors(instance))
            if missed:
                raise AssertionError(f"jsonschema-rs accepted what jsonschema refuses: {missed}")
        return []
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    others = {tuple(e.absolute_path) for e in errors if e.validator != "format"}
    return [e for e in errors if e.validator != "format" or tuple(e.absolute_path) not in others]


def all_errors(validator: Draft4Validator, instance: Any, prefix: str = "") -> list[FieldError]:
    errors = schema_errors(validator, instance)
    # jsonschema raises one ``required`` error per missing name, and field_errors names every
    # missing one from each: each field once.
    return list(dict.fromkeys(field for error in errors for field in field_errors(error, prefix)))


PARSED_BODY = "gledger.parsed_body"
"""Where ``_parse`` leaves the body for ``wrap_receive`` (the validator has no other channel)."""
VALIDATED_BODY = "gledger.validated_body"
"""Scope key of a JSON body as validation parsed it from UTF-8, for the handler's argument: the
handler step would parse the same bytes again with the same parser (``json.loads``, which reads
bytes as UTF-8 when they parse as UTF-8 at all); absent for any other charset."""


class JSONBodyValidator(JSONRequestBodyValidator):
    """JSON bodies: undecodable bytes and bad JSON are 400 ``validation.malformed_body``; a
    body too deep, with a repeated key or a string that is no Unicode text is 400 too
    (``jsontext.parse_body``), before any schema or handler sees it."""

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw.strip():
            return None
        try:
            body = jsontext.parse_body(raw.decode(self._encoding or "utf-8"), raw)
        except (UnicodeDecodeError, LookupError, json.JSONDecodeError) as exc:
            raise RequestInvalid(
                [FieldError("", "validation.malformed_body", f"The body is not JSON: {exc}.")]
            ) from None
        except jsontext.BodyRefused as refused:
            raise RequestInvalid(refused.errors) from None
        except ValueError:
            # Python refuses to read an integer of more than 4,300 digits: far past any bound
            # of the spec, so the body cannot be valid.
            detail = "The body holds a number too long to read (more than 4,300 digits)."
            raise RequestInvalid([FieldError("", "validation.malformed_body", detail)]) from None
        scope[PARSED_BODY] = body
        if codecs.lookup(self._encoding or "utf-8").name == "utf-8":
            scope[VALIDATED_BODY] = body
        if body is None and not self._nullable:
            # A JSON ``null`` is a body, not the absence of one (which connexion also reads as
            # None and lets through when the body is optional): the schema judges it here.
            errors = all_errors(validator_for(self._schema), body)
            if errors:
                raise RequestInvalid(errors)
        return body

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        """As connexion's, then the body's metadata is charged to the tenant's quota."""
        wrapped, inner = await super().wrap_receive(receive, scope=scope)
        charge_metadata(scope, scope.pop(PARSED_BODY, None))  # ``_parse`` left it there
        return wrapped, inner

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is None:
            if self._nullable or not self._required:
                return None
            raise RequestInvalid(
                [FieldError("", "validation.required_field_missing", "A JSON body is required.")]
            )
        errors = all_errors(validator_for(self._schema), body)
        if errors:
            raise RequestInvalid(errors)
        return None


MAX_FORM_FIELDS = 100
_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def read_form(raw: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, read strictly at a cost bounded by its size.

    More than ``MAX_FORM_FIELDS`` fields, bytes or escapes that are not UTF-8, a ``%`` that
    starts no escape: the form is refused whole. A field sent twice is refused (RFC 6749 3.2).
    """
    if raw.count(b"&") >= MAX_FORM_FIELDS:
        raise GrantRefused.at(
            "",
            "validation.too_many_fields",
            f"A token request has at most {MAX_FORM_FIELDS} form fields.",
        )
    try:
        text = raw.decode("utf-8")
        broken = _BROKEN_ESCAPE.search(text)
        if broken:
            raise ValueError(f"'%' at offset {broken.start()} starts no percent-escape")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except ValueError as exc:  # UnicodeDecodeError is one
        raise GrantRefused.at(
            "",
            "validation.malformed_body",
            f"The body is not an application/x-www-form-urlencoded form of UTF-8 text: {exc}.",
        ) from None
    form: dict[str, str] = {}
    repeated: dict[str, None] = {}
    for name, value in pairs:
        if name in form:
            repeated[name] = None
        form[name] = value
    if repeated:
        raise GrantRefused.collected(
            [
                FieldError(pointer([name]), "validation.duplicate_field", f"{name} is sent twice.")
                for name in repeated
            ]
        )
    return form


class FormBodyValidator(FormDataValidator):
    """Form bodies: the OAuth token request, the one form the spec takes, read by RFC 6749.

    The form is read here (:func:`read_form`), not by Starlette's parser, which raises past
    1,000 fields and reads broken escapes as text. Unknown fields are ignored (RFC 6749 3.2);
    a ``grant_type`` the schema does not list is ``unsupported_grant_type``. Every refusal is a
    :class:`GrantRefused`, which problems.py answers as RFC 6749 5.2 describes.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # An empty form is a form without fields: its refusal names what is missing.
        self._required = False

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> dict[str, str]:
        return read_form(b"".join([chunk async for chunk in stream]))

    def _validate(self, body: Any) -> dict[str, Any] | None:
        errors = all_errors(validator_for(self._schema), body)
        off_enum = "validation.invalid_value"  # the schema's enum lists the supported grants
        grant = [e for e in errors if e.pointer == "/grant_type" and e.code == off_enum]
        if grant:
            unsupported = FieldError(
                "/grant_type",
                "unsupported_grant_type",
                "This server supports grant_type=client_credentials only.",
            )
            errors = [unsupported, *(e for e in errors if e not in grant)]
        if errors:
            raise GrantRefused.collected(errors)
        return None


class QueryArrays(OpenAPIURIParser):
    """Array query parameters read in both forms a client sends: ``types=a,b`` (the spec's
    ``style: form, explode: false``) and ``types=a&types=b`` (what most HTTP libraries make
    of a list), also mixed; ``types=`` is the empty array.

    Connexion keeps only the last of repeated non-exploded values, silently dropping the
    others, and reads ``types=`` as the one-item array ``[""]``.
    """

    @functools.cached_property
    def param_schemas(self) -> dict[str, Any]:
        """connexion's, kept: it rebuilds the dict for each parameter of each request, from
        definitions fixed for the parser's life."""
        return {k: v.get("schema", {}) for k, v in self.param_defns.items()}

    @staticmethod
    def _resolve_param_duplicates(values: Any, param_defn: dict[str, Any], _in: str) -> Any:
        if _in != "query" or isinstance(values, str):
            return OpenAPIURIParser._resolve_param_duplicates(values, param_defn, _in)
        style = param_defn.get("style", OpenAPIURIParser.style_defaults[_in])
        return QUERY_STRING_DELIMITERS.get(style, ",").join(v for v in values if v)

    @staticmethod
    def _split(value: Any, param_defn: dict[str, Any], _in: str) -> Any:
        if _in == "query" and value == "":
            return []
        return OpenAPIURIParser._split(value, param_defn, _in)


def _repeated_scalars(request: ConnexionRequest, params: list[dict[str, Any]]) -> list[FieldError]:
    """A query parameter of one value sent more than once (``limit=1&limit=500``): refused,
    where connexion kept the last and dropped the others unsaid."""
    if not params:
        return []
    # Starlette's parse of the query string (parse_qsl of its Latin-1 text, blank values kept),
    # made once per request when connexion read the query for validation
    sent = collections.Counter(
        name for name, _ in request._starlette_request.query_params.multi_items()
    )
    return [
        FieldError(
            f"/query/{param['name']}",
            "validation.duplicate_parameter",
            f"{param['name']} takes one value and is sent more than once.",
        )
        for param in params
        if param.get("schema", {}).get("type") != "array" and sent[param["name"]] > 1
    ]


class Parameters(ParameterValidator):
    """Path, query and header parameters, every error reported with its location."""

    def validate_request(self, request: ConnexionRequest) -> None:
        errors: list[FieldError] = []
        if self.strict_validation:
            extra = self.validate_query_parameter_list(request, self.security_query_params)
            errors += [
                FieldError(
                    f"/query/{name}", "validation.unknown_field", f"{name} is no parameter here."
                )
                for name in sorted(extra)
            ]
        sources = {
            "query": request.query_params,
            "path": request.path_params,
            "header": request.headers,
        }
        errors += _repeated_scalars(request, self.parameters.get("query", []))
        for location, values in sources.items():
            for param in self.parameters.get(location, []):
                name = param["name"]
                value = values.get(name.replace("-", "_") if location == "path" else name)
                errors += self._check(location, name, value, param)
        if errors:
            raise RequestInvalid(errors)

    @staticmethod
    def _check(location: str, name: str, value: Any, param: dict[str, Any]) -> list[FieldError]:
        at = f"/{location}/{name}"
        if value is None:
            if param.get("required"):
                return [FieldError(at, "validation.required_field_missing", f"{name} is required.")]
            return []
        validator = validator_for(param.setdefault("schema", {}), Draft4Validator)
        return [
            FieldError(at, _CODES.get(str(e.validator), "validation.invalid_value"), e.message)
            for e in schema_errors(validator, value)
        ]


VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": Parameters,
    "body": MediaTypeDict(
        {
            "*/*json": JSONBodyValidator,
            "application/x-www-form-urlencoded": FormBodyValidator,
        }
    ),
}
