"""Spectral (``spectral:oas``) and Redocly (``recommended``) find no error in the spec.

Both the split source (what people edit) and the bundle (what partners download) are linted.
The warnings left are explained in spec/README.md; the lists below hold them to that.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gledger_sandbox import resources
from gledger_sandbox.specfile import bundle_json
from tests.node_tools import run_tool

# spec/README.md says why each of these stays.
SPECTRAL_WARNINGS = {"info-contact", "oas3-unused-component"}
REDOCLY_WARNINGS = {"no-unused-components"}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    bundled = tmp_path_factory.mktemp("bundle") / "openapi.json"
    bundled.write_bytes(bundle_json())
    return {"source": resources.root_spec(), "bundle": bundled}


@pytest.mark.parametrize("which", ["source", "bundle"])
def test_spectral_finds_no_error(documents: dict[str, Path], which: str, tmp_path: Path) -> None:
    ruleset = tmp_path / ".spectral.yaml"
    ruleset.write_text('extends: ["spectral:oas"]\n')
    done = run_tool(
        "spectral", "lint", "--ruleset", ruleset, "--format", "json", "--quiet", documents[which]
    )
    start = done.stdout.find("[")
    assert start >= 0, done.stdout + done.stderr
    found = json.loads(done.stdout[start:])
    # Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
    errors = [f"{r['code']} {r['path']}: {r['message']}" for r in found if r["severity"] == 0]
    assert errors == []
    warnings = Counter(r["code"] for r in found if r["severity"] == 1)
    assert set(warnings) <= SPECTRAL_WARNINGS, warnings


@pytest.mark.parametrize("which", ["source", "bundle"])
def test_redocly_finds_no_error(documents: dict[str, Path], which: str) -> None:
    done = run_tool(
        "redocly", "lint", "--extends", "recommended", "--format", "json", documents[which]
    )
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    found = json.loads(done.stdout[start:])["problems"]
    errors = [
        f"{p['ruleId']} {p['location'][0]['pointer']}" for p in found if p["severity"] == "error"
    ]
    assert errors == []
    warnings = Counter(p["ruleId"] for p in found if p["severity"] == "warn")
    assert set(warnings) <= REDOCLY_WARNINGS, warnings
