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

import functools
from collections.abc import Callable
from typing import Any

import connexion
from connexion import utils
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import receive as request_receive
from connexion.context import scope as request_scope
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.operations import AbstractOperation
from starlette.types import Receive, Scope, Send

MAX_CACHED_MEDIA_TYPES = 16
"""Body validators kept per operation, by (media type, charset): the header is the client's, so
past this many the next ones are built per call, as connexion does, rather than kept."""
MAX_CACHED_NAMES = 256
"""Sanitized parameter names remembered (strict validation refuses names the spec lacks)."""


class _OnceParameters(AsyncParameterDecorator):
    """Connexion's argument mapping, its name sanitizer (three regular expressions, run on
    every parameter name of every call) remembered per name."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        sanitize: Callable[[str], str] = self.sanitize_fn  # type: ignore[has-type]
        self.sanitize_fn = functools.lru_cache(maxsize=MAX_CACHED_NAMES)(sanitize)


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
            request = self.framework.get_request(
                uri_parser=parsers[0], scope=request_scope, receive=request_receive
            )
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
        self._parameter_validator().validate(scope)
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


MIDDLEWARES = [
    _OnceValidationMiddleware if m is RequestValidationMiddleware else m
    for m in ConnexionMiddleware.default_middlewares
]
"""Connexion's default middleware stack, request validation done the once-per-operation way."""


class SandboxApp(connexion.AsyncApp):
    """``connexion.AsyncApp`` with its handlers' set-up and request validation built once per
    operation (connexion ==3.3.0 is pinned: this relies on its inner classes)."""

    def __init__(self, import_name: str, **options: Any) -> None:
        super().__init__(import_name, middlewares=list(MIDDLEWARES), **options)
        # AsyncApp made its inner app before AbstractApp wrapped it: swap both references.
        self._middleware_app = self.middleware.app = _OnceASGIApp()
