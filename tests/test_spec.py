"""The spec is valid, every operation has its handler, and the CLI bundles it into one file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gledger_sandbox import resources
from gledger_sandbox.api.operations import HANDLERS
from gledger_sandbox.specfile import bundle, validate


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
            for parameter in op.get("parameters", []) + item.get("parameters", []):
                schema = parameter.get("schema", {})
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
    example = entry["schema"]["example"]
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
    for path, item in bundle()["paths"].items():
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
    assert document["openapi"] == "3.0.3"
    assert '"$ref"' not in out.read_text()
    validated = subprocess.run(
        [sys.executable, "-m", "gledger_sandbox", "spec", "validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0 and "valid" in validated.stdout
