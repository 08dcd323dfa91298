"""The shipped OpenAPI document: validated, and bundled into one self-contained file.

The source is split for people (``openapi.yaml`` -> ``paths/*.yaml`` -> ``schemas/*.yaml``, each
file naming the others by relative ``$ref``). Partners' tools want one document whose
references are kept, so that a schema is one model: ``bundle`` inlines the files and turns
every reference to something ``openapi.yaml`` lists under ``components`` into
``#/components/<section>/<Name>``. The server serves that bundle (``bundle_json``), encoded once.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, cast

import orjson

from gledger_sandbox import resources, spec_cache

# A reference as a place: the file it names and the JSON pointer inside it.
Target = tuple[Path, str]


def _component_names(root: Path, document: dict[str, Any]) -> dict[Target, str]:
    """Where each component of the root document lives, and its name inside the bundle."""
    names: dict[Target, str] = {}
    for section, entries in document.get("components", {}).items():
        for name, value in (entries or {}).items():
            ref = value.get("$ref") if isinstance(value, dict) else None
            if isinstance(ref, str):
                names.setdefault(resources.ref_target(ref, root), f"#/components/{section}/{name}")
    return names


def _single_ref_alias(node: dict[str, Any]) -> dict[str, Any] | None:
    """``{allOf: [{$ref}], description: ...}``: the plain ``$ref`` that it means.

    The pattern only gives a field its own description, which OpenAPI 3.0 cannot put beside a
    ``$ref``; generators make it a model of its own (an id becomes an object). Kept as is when
    it carries anything that changes validation (a default, nullable, another constraint).
    """
    parts = node.get("allOf")
    if not (isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict)):
        return None
    if set(parts[0]) != {"$ref"} or set(node) - {"allOf", "description", "example"}:
        return None
    return dict(parts[0])


class _Bundler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.document = resources.load_yaml(root)
        self.names = _component_names(root, self.document)
        self.inlined: list[str] = []

    def walk(self, node: Any, base: Path, trail: frozenset[Target]) -> Any:
        if isinstance(node, list):
            return [self.walk(item, base, trail) for item in node]
        if not isinstance(node, dict):
            return node
        alias = _single_ref_alias(node)
        if alias is not None:
            node = alias
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {key: self.walk(value, base, trail) for key, value in node.items()}
        if base == self.root and ref.startswith("#"):
            return {"$ref": ref}
        target = resources.ref_target(ref, base)
        if target in self.names:
            return {"$ref": self.names[target]}
        return self.inline(target, trail, ref)

    def inline(self, target: Target, trail: frozenset[Target], ref: str) -> Any:
        if target in trail:
            raise ValueError(f"recursive $ref {ref!r} that no component names")
        if target[0].parent.name != "paths":
            self.inlined.append(f"{target[0].name}#{target[1]}")
        return self.walk(resources.follow(*target), target[0], trail | {target})

    def definition(self, value: Any, trail: frozenset[Target]) -> Any:
        """A component's own body: the file it points at, not a reference to itself."""
        ref = value.get("$ref") if isinstance(value, dict) else None
        if not isinstance(ref, str) or ref.startswith("#"):
            return self.walk(value, self.root, trail)
        target = resources.ref_target(ref, self.root)
        return self.walk(resources.follow(*target), target[0], trail | {target})

    def bundle(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.document.items():
            if key != "components":
                out[key] = self.walk(value, self.root, frozenset())
                continue
            out[key] = {
                section: {
                    name: self.definition(entry, frozenset())
                    for name, entry in (entries or {}).items()
                }
                for section, entries in value.items()
            }
        return out


@cache
def _bundled(root: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    # Kept on disk by the digest of the spec's files (spec_cache): a start reads JSON instead.
    name = f"bundle-{spec_cache.digest(root.parent)}.json"
    kept = spec_cache.read(name)
    if kept is not None:
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
            found = orjson.loads(kept)
            return found["document"], tuple(found["inlined"])
    bundler = _Bundler(root)
    document = bundler.bundle()
    spec_cache.write(name, orjson.dumps({"document": document, "inlined": bundler.inlined}))
    return document, tuple(bundler.inlined)


def bundle(root: Path | None = None) -> dict[str, Any]:
    """The spec as one self-contained document whose references point into ``components``.

    ``root`` is another split spec's ``openapi.yaml`` (the shipped one by default). The result
    is the caller's to change.
    """
    # A JSON round trip: the same copy as deepcopy, ten times faster.
    return cast(
        dict[str, Any],
        orjson.loads(
            orjson.dumps(
                _bundled((root or resources.root_spec()).resolve())[0],
                option=orjson.OPT_NON_STR_KEYS,
            )
        ),
    )


def inlined(root: Path | None = None) -> tuple[str, ...]:
    """The references ``bundle`` had to copy in place because no component names them."""
    return _bundled((root or resources.root_spec()).resolve())[1]


def followed(document: dict[str, Any], node: Any) -> Any:
    """``node``, or what its ``#/...`` reference names in ``document`` (the bundle)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node = resources.at_pointer(document, node["$ref"].removeprefix("#"))
    return node


@cache
def bundle_json() -> bytes:
    """The shipped spec's bundle as compact JSON, encoded once (the server sends these bytes)."""
    document = _bundled(resources.root_spec().resolve())[0]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def dereferenced(source: str | None = None) -> dict[str, Any]:
    """The spec with every ``$ref`` replaced by its target (prance): for readers that want no refs.

    ``source`` is another OpenAPI document to read the same way (a path or a URL); by default
    the spec shipped in the package. Megabytes for this spec: partners' tools want ``bundle``.
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
        document = dereferenced()
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
