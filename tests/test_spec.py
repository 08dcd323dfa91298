"""The spec is valid, every operation has its handler, and it bundles into one file with its refs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gledger_sandbox import resources
from gledger_sandbox.api.operations import HANDLERS
from gledger_sandbox.specfile import bundle, followed, inlined, validate


def test_prance_finds_the_spec_valid() -> None:
    assert validate() == []


def test_the_spec_version_is_the_packages() -> None:
    import tomllib

    from gledger_sandbox import __version__

    project = tomllib.loads((resources.root_spec().parents[1] / "pyproject.toml").read_text())
    assert bundle()["info"]["version"] == __version__ == project["project"]["version"]


def test_swagger_ui_prefills_nothing_that_fails_or_poisons_a_key() -> None:
    document = bundle()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in resources.METHODS:
                continue
            for named in op.get("parameters", []) + item.get("parameters", []):
                parameter = followed(document, named)
                schema = followed(document, parameter.get("schema", {}))
                prefilled = parameter.get("example", schema.get("example"))
                where = f"{method.upper()} {path} {parameter['name']}"
                if parameter["in"] == "path":
                    assert "_your_" in str(prefilled), where
                elif not parameter.get("required") and parameter["name"] not in (
                    "limit", "order", "types", "currency",
                ):  # fmt: skip
                    # A value of an enum (a kind, a status) filters validly; nothing else is prefilled.
                    assert prefilled is None or prefilled in schema.get("enum", ()), where
    entry = document["paths"]["/v1/entries"]["post"]["requestBody"]["content"]["application/json"]
    example = followed(document, entry["schema"])["example"]
    assert example["ledger_id"] == "ldg_your_ledger_id" and "external_id" not in example
    assert all("account_code" in line for line in example["lines"])


def test_every_operation_has_a_handler_and_every_handler_an_operation() -> None:
    document = bundle()
    ids = {
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in resources.METHODS
    }
    assert ids == set(HANDLERS)


def test_every_operation_is_secured_tagged_and_documents_its_errors() -> None:
    for path, item in resources.resolved()["paths"].items():
        for method, op in item.items():
            if method not in resources.METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert op.get("tags"), where
            assert "security" in op, where
            errors = [code for code in op["responses"] if code.startswith("4")]
            assert errors, where
            for code in errors:
                content = op["responses"][code]["content"]
                assert "application/problem+json" in content, (where, code)


def test_no_jinja_markers_in_the_spec() -> None:
    for file in resources.spec_dir().rglob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        assert "{{" not in text and "{%" not in text, file


def test_cli_bundle_writes_one_self_contained_file(tmp_path: Path) -> None:
    out = tmp_path / "gledger.json"
    done = subprocess.run(
        [sys.executable, "-m", "gledger_sandbox", "spec", "bundle", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document == bundle()
    assert out.stat().st_size < 500_000
    validated = subprocess.run(
        [sys.executable, "-m", "gledger_sandbox", "spec", "validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0 and "valid" in validated.stdout


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_bundle_keeps_its_references_and_each_names_a_component() -> None:
    document = bundle()
    refs = set(_refs(document))
    assert len(refs) > 100
    for ref in refs:
        section, name = ref.removeprefix("#/components/").split("/")
        assert ref.startswith("#/components/") and name in document["components"][section], ref
    # What no component names is copied where it is used: only these few small property schemas.
    assert {ref.partition("/properties/")[0] for ref in inlined()} <= {"entries.yaml#/EntryInput"}


def test_id_fields_are_plain_references_for_generators() -> None:
    # `allOf: [$ref]` only gave a field its own description; generators made each one a model.
    settlement = bundle()["components"]["schemas"]["Settlement"]["properties"]
    assert settlement["account_id"] == {"$ref": "#/components/schemas/AccountId"}


def test_every_nullable_enum_lists_null() -> None:
    # Under OpenAPI 3.0.3 `nullable: true` does not add null to an `enum`: clients refuse null.
    def nullable_enums(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            if node.get("nullable") is True and "enum" in node and None not in node["enum"]:
                yield where
            for key, value in node.items():
                yield from nullable_enums(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from nullable_enums(value, f"{where}/{index}")

    assert list(nullable_enums(bundle(), "")) == []
