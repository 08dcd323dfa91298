"""The contract as the kit reads it: the target's OpenAPI document, its operations and lists.

Everything the kit knows about paths, lists, event types and webhook payloads comes from here,
so a deployment whose spec grows new operations or lists is covered without a change to the kit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gledger_sandbox import resources

SELF_DESTRUCTIVE = frozenset({"deleteTenant", "resetTenant", "rotateTenantCredentials"})
"""Operations that would destroy the kit's own tenant (or end its credentials): never called by
the kit on it."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the spec, with its parameters (path-item ones included)."""

    id: str
    method: str
    path: str
    definition: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    def parameter_names(self, location: str) -> set[str]:
        return {p["name"] for p in self.parameters if p.get("in") == location}

    @property
    def secured(self) -> bool:
        """Whether the operation needs a credential: an empty ``security`` list says not, and so
        does an empty requirement among its alternatives (a credential is optional there)."""
        security = self.definition.get("security")
        return security is None or (bool(security) and all(security))

    def json_response_properties(self, status: str = "200") -> set[str]:
        schema = self.response_schema(status)
        return set(schema.get("properties", {})) if schema else set()

    def response_schema(self, status: str) -> dict[str, Any] | None:
        response = self.definition.get("responses", {}).get(status) or {}
        content = response.get("content") or {}
        media = content.get("application/json")
        return media.get("schema") if media else None

    def response_media_types(self) -> set[str]:
        return {
            media
            for response in self.definition.get("responses", {}).values()
            for media in (response.get("content") or {})
        }

    def example_body(self) -> Any:
        """The spec's example of the JSON request body, or None when it gives none."""
        body = self.definition.get("requestBody") or {}
        media = (body.get("content") or {}).get("application/json") or {}
        return media.get("example", (media.get("schema") or {}).get("example"))

    def required_query_examples(self) -> dict[str, Any]:
        """The spec's examples of the required query parameters (those it gives one for).

        Sent with probes about ids or credentials, so that the answer is about those and not
        a missing parameter.
        """
        examples = {}
        for parameter in self.parameters:
            if parameter.get("in") != "query" or not parameter.get("required"):
                continue
            schema = parameter.get("schema") or {}
            value = parameter.get("example", schema.get("example", schema.get("default")))
            if value is not None:
                examples[parameter["name"]] = value
        return examples

    @property
    def body_required(self) -> bool:
        return bool((self.definition.get("requestBody") or {}).get("required"))

    @property
    def is_stream(self) -> bool:
        return "text/event-stream" in self.response_media_types()

    @property
    def is_cursor_list(self) -> bool:
        """A list paged by ``cursor``: answers ``data``, ``has_more`` and ``next_cursor``."""
        return (
            self.method == "GET"
            and {"data", "has_more", "next_cursor"} <= self.json_response_properties()
            and {"limit", "cursor"} <= self.parameter_names("query")
        )


class ApiSpec:
    """A resolved OpenAPI document (every ``$ref`` followed) and an index of its operations."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: dict[str, Operation] = {}
        self._routes: list[tuple[re.Pattern[str], Operation]] = []
        for path, item in document.get("paths", {}).items():
            shared = tuple(item.get("parameters", ()))
            for method, definition in item.items():
                if method not in resources.METHODS or "operationId" not in definition:
                    continue
                operation = Operation(
                    definition["operationId"],
                    method.upper(),
                    path,
                    definition,
                    shared + tuple(definition.get("parameters", ())),
                )
                self.operations[operation.id] = operation
                self._routes.append((resources.path_pattern(path), operation))
        # Literal segments win over templated ones (/v1/entries/batch before /{entry_id}).
        self._routes.sort(key=lambda route: route[1].path.count("{"))

    def has(self, operation_id: str) -> bool:
        return operation_id in self.operations

    def find(self, method: str, path: str) -> Operation | None:
        """The operation a request goes to, by method and URL path."""
        for pattern, operation in self._routes:
            if operation.method == method.upper() and pattern.match(path):
                return operation
        return None

    def cursor_lists(self) -> Iterator[Operation]:
        return (op for op in self.operations.values() if op.is_cursor_list)

    def event_types(self) -> set[str]:
        """The event types of the log (the ``EventType`` enum), empty when the spec has none."""
        schema = self.document.get("components", {}).get("schemas", {}).get("EventType", {})
        return set(schema.get("enum", ()))

    def webhook_payload_schema(self, event_type: str) -> dict[str, Any] | None:
        """The schema a webhook of ``event_type`` posts (``x-webhooks``, or 3.1's ``webhooks``)."""
        hooks = self.document.get("x-webhooks") or self.document.get("webhooks") or {}
        body = (hooks.get(event_type) or {}).get("post", {}).get("requestBody", {})
        media = (body.get("content") or {}).get("application/json")
        return media.get("schema") if media else None

    def token_url(self) -> str | None:
        """The OAuth2 client-credentials ``tokenUrl`` the spec names, if any."""
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        for scheme in schemes.values():
            flow = scheme.get("flows", {}).get("clientCredentials")
            if scheme.get("type") == "oauth2" and flow:
                return str(flow["tokenUrl"])
        return None


def load_spec(source: str | None = None) -> ApiSpec:
    """The spec at ``source`` (a path or URL), or the one shipped in the package.

    Files are resolved by a plain walk of their ``$ref``s; a URL goes through prance, which
    also follows references relative to it.
    """
    if source and "://" in source:
        from gledger_sandbox.specfile import dereferenced

        return ApiSpec(dereferenced(source))
    return ApiSpec(resources.resolved(Path(source) if source else None))
