"""The shipped OpenAPI document: validated and bundled into one self-contained file."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gledger_sandbox import resources


def bundle(source: str | None = None) -> dict[str, Any]:
    """The spec with every ``$ref`` resolved: one document for SDK generators and docs.

    ``source`` is another OpenAPI document to read the same way (a path or a URL); by default
    the spec shipped in the package.
    """
    from prance import ResolvingParser

    parser = ResolvingParser(
        source or str(resources.root_spec()), backend="openapi-spec-validator", strict=False
    )
    document: dict[str, Any] = parser.specification
    return document


def validate() -> list[str]:
    """Problems of the spec (empty when valid): prance's validation, and unique operationIds."""
    from prance import ValidationError

    try:
        document = bundle()
    except ValidationError as error:
        return [f"invalid OpenAPI document: {error}"]
    ids = Counter(
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in resources.METHODS
    )
    return [
        f"operationId {name!r} is used {count} times" for name, count in ids.items() if count > 1
    ]
