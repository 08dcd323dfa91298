"""The compiled schemas (api/compiled.py) never accept what jsonschema refuses.

Every request body schema of the spec, as connexion resolves it, is judged by both on the
same instances: well-formed bodies, and bodies broken one way each (a missing field, a wrong
type, an unknown field, null where null is or is not allowed, a bad date-time, a huge integer).
A compiled "valid" that jsonschema refuses would let a bad request through unexplained.
"""

from __future__ import annotations

from typing import Any

import pytest
from connexion.json_schema import Draft4RequestValidator, resolve_refs

from gledger_sandbox import specfile
from gledger_sandbox.api import compiled, formats


def _request_body_schemas() -> list[tuple[str, dict[str, Any]]]:
    spec = resolve_refs(specfile.bundle())
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema:
                found.append((f"{method.upper()} {path}", schema))
    return found


def _instances(schema: dict[str, Any]) -> list[Any]:
    """Generic instances, and the schema's own properties filled right and wrong."""
    cases: list[Any] = [None, {}, [], "", "x", 0, -1, 1.5, True, 2**70, {"x": 1}]
    properties = schema.get("properties", {})
    good: dict[str, Any] = {}
    for name, sub in properties.items():
        kind = sub.get("type")
        good[name] = {
            "string": "2024-05-05T10:00:00Z" if sub.get("format") == "date-time" else "a",
            "integer": 1,
            "number": 1,
            "boolean": True,
            "array": [],
            "object": {},
        }.get(kind, "a")
        if sub.get("enum"):
            good[name] = sub["enum"][0]
    cases.append(good)
    for name in properties:
        without = {k: v for k, v in good.items() if k != name}
        cases += [
            without,
            {**good, name: None},
            {**good, name: 12},
            {**good, name: "not-a-date"},
            {**good, name: 2**70},
            {**good, name: [good.get(name)]},
        ]
    cases.append({**good, "unknown_field": 1})
    return cases


SCHEMAS = _request_body_schemas()


def test_the_spec_has_request_bodies_to_judge() -> None:
    assert len(SCHEMAS) >= 20, [name for name, _ in SCHEMAS]


@pytest.mark.parametrize(("operation", "schema"), SCHEMAS, ids=[n for n, _ in SCHEMAS])
def test_compiled_valid_means_jsonschema_valid(operation: str, schema: dict[str, Any]) -> None:
    judge = compiled.compile_schema(schema, nullable=True)
    assert judge is not None, f"jsonschema-rs cannot compile the body schema of {operation}"
    reference = Draft4RequestValidator(schema, format_checker=formats.CHECKER)
    for instance in _instances(schema):
        if compiled.passes(judge, instance):
            errors = [e.message for e in reference.iter_errors(instance)]
            assert errors == [], (operation, instance, errors)


def test_nullable_is_spelled_out_for_type_and_enum_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "enum": ["a", "b"], "nullable": True},
            "memo": {"type": "string", "minLength": 2, "nullable": True},
            "count": {"type": "integer"},
        },
    }
    judge = compiled.compile_schema(schema, nullable=True)
    assert compiled.passes(judge, {"reason": None, "memo": None})
    assert compiled.passes(judge, {"reason": "a", "memo": "ok"})
    assert not compiled.passes(judge, {"reason": "c"})
    assert not compiled.passes(judge, {"memo": "x"})
    assert not compiled.passes(judge, {"count": None})  # not nullable
    # A parameter schema is plain draft 4: nullable means nothing there, as in jsonschema.
    plain = compiled.compile_schema({"type": "string", "nullable": True}, nullable=False)
    assert not compiled.passes(plain, None)


def test_our_format_checkers_judge_formats() -> None:
    judge = compiled.compile_schema({"type": "string", "format": "date-time"}, nullable=True)
    assert compiled.passes(judge, "2024-05-05T10:00:00Z")
    assert not compiled.passes(judge, "2024-02-30T10:00:00Z")  # no such day
    assert not compiled.passes(judge, "2024-05-05 10:00")


def test_a_value_it_cannot_take_is_left_to_jsonschema() -> None:
    judge = compiled.compile_schema({"type": "integer", "maximum": 10}, nullable=True)
    assert not compiled.passes(judge, 10**400)
    assert not compiled.passes(None, 1)  # no compiled schema: always ask jsonschema


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        (
            {"type": "object", "properties": {"n": {"type": "number", "multipleOf": 0.1}}},
            {"n": 0.3},
        ),
    ],
    ids=["multipleOf-float"],
)
def test_keywords_jsonschema_rs_is_lenient_about_are_left_to_jsonschema(
    schema: dict[str, Any], instance: Any
) -> None:
    refused = list(
        Draft4RequestValidator(schema, format_checker=formats.CHECKER).iter_errors(instance)
    )
    assert refused, "the case must be one jsonschema refuses"
    assert not compiled.passes(compiled.compile_schema(schema, nullable=True), instance)


def test_a_recursive_schema_is_judged_without_recursing_forever() -> None:
    """A resolved recursive schema (a tree of nodes) is a cyclic dict: compiling it neither
    recurses without end nor judges wrongly (it is left to jsonschema or judged correctly)."""
    node: dict[str, object] = {"type": "object", "properties": {"name": {"type": "string"}}}
    node["properties"]["children"] = {"type": "array", "items": node}  # type: ignore[index]
    judge = compiled.compile_schema(node, nullable=True)
    good = {"name": "a", "children": [{"name": "b", "children": []}]}
    bad = {"name": "a", "children": [{"name": 7}]}
    assert not compiled.passes(judge, bad)
    assert compiled.passes(judge, good) or judge is None
