"""Connexion's per-request set-up, done once per operation: same pipeline, same spec, less work.

Connexion 3.3 rebuilds, on every call of an operation, what depends only on the operation:
the handler's decorator chain (``inspect.signature`` of the handler included), the URI parser,
the parameter validator and the body validator. Here each is built on the operation's first
call and kept. The classes are connexion's own, subclassed: routing, security, validation and
the handlers' arguments come from the spec exactly as before (``tests/api`` and the contract
kit check the answers, field errors and pointers included, are the same).

``sandbox_app`` is ``connexion.AsyncApp`` with these in place.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import connexion
from connexion import utils
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import context as request_context
from connexion.decorators import StarletteDecorator
from connexion.decorators import parameter as connexion_parameter
from connexion.decorators.parameter import (
    CONTEXT_NAME,
    AsyncParameterDecorator,
    _get_val_from_param,
    unwrap_decorators,
)
from connexion.lifecycle import ConnexionRequest
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.operations import AbstractOperation
from connexion.utils import deep_merge, inspect_function_arguments, is_json_mimetype
from starlette.types import Receive, Scope, Send

from gledger_sandbox.api.request_context import (
    current_context,
    current_operation,
    current_receive,
    current_scope,
)
from gledger_sandbox.api.routing import SegmentRoutingMiddleware, SwaggerUIOnItsPaths
from gledger_sandbox.api.validation import VALIDATED_BODY

MAX_CACHED_MEDIA_TYPES = 16
"""Body validators kept per operation, by (media type, charset): the header is the client's, so
past this many the next ones are built per call, as connexion does, rather than kept."""
PARSED_QUERY = "gledger.parsed_query"
"""Scope key of the query as request validation parsed it (absent: the handler step parses)."""
_NOT_PARSED = object()
MAX_CACHED_NAMES = 256
"""Sanitized parameter names remembered (strict validation refuses names the spec lacks)."""


_IMMUTABLE_DEFAULTS = (str, int, float, bool, bytes, type(None))


class _OperationArguments:
    """What connexion's ``get_arguments`` reads from the operation alone (its path and query
    definitions, the query defaults, the sanitized names, TRACE), worked out once; per call it
    does the rest the same way (same values, same defaults, same names)."""

    def __init__(
        self,
        op: AbstractOperation,
        *,
        arguments: list[str],
        has_kwargs: bool,
        sanitize: Callable[[str], str],
    ) -> None:
        self.operation = op
        self.arguments = arguments
        self.has_kwargs = has_kwargs
        self.sanitize = sanitize
        parameters = op.parameters
        self.path_definitions = {p["name"]: p for p in parameters if p["in"] == "path"}
        self.query_definitions = {p["name"]: p for p in parameters if p["in"] == "query"}
        self.query_defaults = connexion_parameter._get_query_defaults(self.query_definitions)
        # scalars need no deep copy, nor a deep merge (connexion's merge of them keeps an
        # equal default, else takes the query's value)
        self.flat_defaults = all(
            isinstance(v, _IMMUTABLE_DEFAULTS) for v in self.query_defaults.values()
        )
        # per defined query name: its handler argument, or None when the handler does not take it
        self.query_targets: dict[str, str | None] = {}
        for name in self.query_definitions:
            key = sanitize(name)
            self.query_targets[name] = key if (has_kwargs or key in arguments) else None
        self.is_trace = op.method.upper() == "TRACE"

    def _query(self, query_params: dict[str, Any]) -> dict[str, Any]:
        if self.flat_defaults:
            merged = dict(self.query_defaults)
            for key, value in query_params.items():
                if key not in merged or merged[key] != value:
                    merged[key] = value
        else:
            merged = deep_merge(deepcopy(self.query_defaults), query_params)
        result: dict[str, Any] = {}
        definitions = self.query_definitions
        targets = self.query_targets
        for key, value in merged.items():
            if key in targets:
                target = targets[key]
                if target is not None:
                    result[target] = _get_val_from_param(value, definitions[key])
            else:  # not in the spec (strict validation refuses these): connexion's own way
                result.update(
                    connexion_parameter._query_args_helper(
                        definitions, {key: value}, self.arguments, self.has_kwargs, self.sanitize
                    )
                )
        return result

    def kwargs(self, request: Any, *, request_body: Any, files: dict[str, Any]) -> dict[str, Any]:
        sanitize = self.sanitize
        ret: dict[str, Any] = {}
        path_definitions = self.path_definitions
        for name, value in request.path_params.items():
            if name in path_definitions:
                ret[sanitize(name)] = _get_val_from_param(value, path_definitions[name])
            else:  # path params used for injection
                ret[sanitize(name)] = value
        ret.update(self._query(request.query_params))
        if not self.is_trace:
            content_type = request.mimetype
            op = self.operation
            ret.update(
                connexion_parameter._get_body_argument(
                    request_body,
                    operation=op,
                    arguments=self.arguments,
                    has_kwargs=self.has_kwargs,
                    sanitize=sanitize,
                    content_type=content_type,
                )
            )
            if files:
                ret.update(
                    connexion_parameter._get_file_arguments(
                        files, self.arguments, op.body_schema(content_type), self.has_kwargs
                    )
                )
        # as connexion's prep_kwargs: names sanitized, then the context's entries
        kwargs = {sanitize(k): v for k, v in ret.items()}
        arguments = self.arguments
        for key, value in current_context().items():
            if self.has_kwargs or key in arguments:
                kwargs[key] = value
        if CONTEXT_NAME in arguments:
            kwargs[CONTEXT_NAME] = request_context
        return kwargs


class _OnceParameters(AsyncParameterDecorator):
    """Connexion's argument mapping, its name sanitizer (three regular expressions, run on
    every parameter name of every call) remembered per name, and what it reads from the
    operation (definitions, defaults, names) worked out on the operation's first call."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        sanitize: Callable[[str], str] = self.sanitize_fn  # type: ignore[has-type]
        self.sanitize_fn = functools.lru_cache(maxsize=MAX_CACHED_NAMES)(sanitize)

    def _maybe_get_body(self, request: Any, *, arguments: list[str], has_kwargs: bool) -> Any:
        """Connexion's, with a JSON body taken as request validation parsed it, if it did."""
        parsed = request.scope.get(VALIDATED_BODY, _NOT_PARSED)
        if parsed is _NOT_PARSED or not is_json_mimetype(request.content_type):
            return super()._maybe_get_body(request, arguments=arguments, has_kwargs=has_kwargs)
        body_name = self.sanitize_fn(current_operation().body_name(request.content_type))
        return parsed if body_name in arguments or has_kwargs else None

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(function))
        plans: list[_OperationArguments] = []  # made on the first call (it needs connexion's
        # operation context, set per request); one decorator serves one operation

        @functools.wraps(function)
        async def wrapper(request: Any) -> Any:
            if not plans:
                plans.append(
                    _OperationArguments(
                        current_operation(),
                        arguments=arguments,
                        has_kwargs=has_kwargs,
                        sanitize=self.sanitize_fn,
                    )
                )
            request_body = self._maybe_get_body(request, arguments=arguments, has_kwargs=has_kwargs)
            while asyncio.iscoroutine(request_body):
                request_body = await request_body
            # only a multipart body holds files (Starlette reads any other as a form without)
            multipart = request.mimetype == "multipart/form-data"
            files = await request.files() if multipart else {}
            kwargs = plans[0].kwargs(request, request_body=request_body, files=files)
            return await function(**kwargs)

        return wrapper


class _OnceDecorator(StarletteDecorator):
    """Connexion's decorator, with the chain of parameter and response decorators (and the
    URI parser) built once instead of on every call."""

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return _OnceParameters

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated = self.decorate(function)
        parsers: list[Any] = []  # the operation's parser, made on the first call (it needs
        # connexion's operation context, set per request)

        @functools.wraps(function)
        async def wrapper(*_args: Any, **_kwargs: Any) -> Any:
            if not parsers:
                parsers.append(self.uri_parser)
            # the scope itself, not connexion's proxy of it: every read the request makes of
            # the scope (headers, path parameters, the parsed body) is then a plain dict read
            scope = current_scope()
            request = self.framework.get_request(
                uri_parser=parsers[0], scope=scope, receive=current_receive()
            )
            parsed = scope.get(PARSED_QUERY)
            if parsed is not None:
                request._query_params = parsed
            return await decorated(request)

        return wrapper


class _OnceOperation(AsyncOperation):
    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        decorator = _OnceDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator(self._fn)


class _OnceApi(AsyncApi):
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation:
        return _OnceOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


class _OnceASGIApp(AsyncASGIApp):
    api_cls = _OnceApi


_NO_BODY_VALIDATOR = object()


class _OnceValidation(RequestValidationOperation):
    """Connexion's request validation of one operation, its validators built once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parameters: Any = None
        self._bodies: dict[tuple[str, str], Any] = {}
        self._media_types: dict[str, bool] = {}
        self._content_types: dict[bytes | None, tuple[str, str]] = {}

    def extract_content_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        """connexion's answer (media type and charset, the operation's default without a
        header), remembered per header value: connexion decodes every header name of every
        request to find it, then splits the value again."""
        sent: bytes | None = None
        for name, value in headers:
            if name.lower() == b"content-type":  # ASGI names are bytes (connexion's: text too)
                sent = value
                break
        found = self._content_types.get(sent)
        if found is None:
            found = super().extract_content_type([] if sent is None else [(b"content-type", sent)])
            if len(self._content_types) < MAX_CACHED_MEDIA_TYPES:
                self._content_types[sent] = found
        return found

    def _parameter_validator(self) -> Any:
        if self._parameters is None:
            operation = self._operation
            self._parameters = self._validator_map["parameter"](
                operation.parameters,
                uri_parser=operation._uri_parser_class(
                    operation.parameters, operation.body_definition()
                ),
                strict_validation=self.strict_validation,
                security_query_params=self.security_query_params,
            )
        return self._parameters

    def validate_mime_type(self, mime_type: str) -> None:
        # connexion's answer, remembered per media type (its MediaTypeDict is rebuilt per call)
        known = self._media_types.get(mime_type)
        if known is None:
            super().validate_mime_type(mime_type)  # raises for a type the spec does not take
            if len(self._media_types) < MAX_CACHED_MEDIA_TYPES:
                self._media_types[mime_type] = True

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        key = (mime_type, encoding)
        found = self._bodies.get(key)
        if found is None:
            found = self._new_body_validator(mime_type, encoding)
            if len(self._bodies) < MAX_CACHED_MEDIA_TYPES:
                self._bodies[key] = found
        return found

    def _new_body_validator(self, mime_type: str, encoding: str) -> Any:
        """As connexion builds it per call (it logs and skips a type with no validator)."""
        operation = self._operation
        schema = operation.body_schema(mime_type)
        if not schema:
            return _NO_BODY_VALIDATOR
        try:
            body_validator = self._validator_map["body"][mime_type]
        except KeyError:
            return _NO_BODY_VALIDATOR
        return body_validator(
            schema=schema,
            required=operation.request_body.get("required", False),
            nullable=utils.is_nullable(operation.body_definition(mime_type)),
            encoding=encoding,
            strict_validation=self.strict_validation,
            uri_parser=operation.uri_parser_class(
                operation.parameters, operation.body_definition()
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        validator = self._parameter_validator()
        request = ConnexionRequest(scope, uri_parser=validator.uri_parser)
        validator.validate_request(request)
        # the query as parsed for validation, for the handler's arguments (same parser class,
        # same parameters: _OnceDecorator takes it rather than parsing the query again)
        scope[PARSED_QUERY] = request.query_params
        mime_type, encoding = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is not _NO_BODY_VALIDATOR:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class _OnceValidationAPI(RequestValidationAPI):
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return _OnceValidation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class _OnceValidationMiddleware(RequestValidationMiddleware):
    api_cls = _OnceValidationAPI


_OURS = {
    RequestValidationMiddleware: _OnceValidationMiddleware,
    RoutingMiddleware: SegmentRoutingMiddleware,
    SwaggerUIMiddleware: SwaggerUIOnItsPaths,
}
MIDDLEWARES = [_OURS.get(m, m) for m in ConnexionMiddleware.default_middlewares]
"""Connexion's default middleware stack, request validation done the once-per-operation way
routes picked by the path's first two segments, and Swagger UI's router skipped by paths
outside it."""


class SandboxApp(connexion.AsyncApp):
    """``connexion.AsyncApp`` with its handlers' set-up and request validation built once per
    operation (connexion ==3.3.0 is pinned: this relies on its inner classes)."""

    def __init__(self, import_name: str, **options: Any) -> None:
        super().__init__(import_name, middlewares=list(MIDDLEWARES), **options)
        # AsyncApp made its inner app before AbstractApp wrapped it: swap both references.
        self._middleware_app = self.middleware.app = _OnceASGIApp()
