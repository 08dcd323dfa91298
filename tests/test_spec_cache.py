"""The spec cache: a start reads the bundle it kept, and a changed spec file is never served stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gledger_sandbox import resources, spec_cache, specfile


@pytest.fixture
def spec_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLEDGER_SANDBOX_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "spec"
    shutil.copytree(resources.spec_dir(), copy)
    return copy


def test_a_start_reads_the_bundle_it_kept_and_it_is_the_bundle(spec_copy: Path) -> None:
    root = spec_copy / "openapi.yaml"
    made = specfile._bundled.__wrapped__(root)  # bundles, and keeps it
    kept = list((spec_copy.parent / "cache").glob("bundle-*.json"))
    assert len(kept) == 1
    assert specfile._bundled.__wrapped__(root) == made  # read back from the file
    kept[0].write_bytes(b'{"document": {"openapi": "kept"}, "inlined": []}')
    assert specfile._bundled.__wrapped__(root)[0] == {"openapi": "kept"}  # it was read


def test_a_changed_spec_file_is_a_new_digest(spec_copy: Path) -> None:
    before = spec_cache.digest.__wrapped__(spec_copy)
    some_file = next(spec_copy.rglob("*.yaml"))
    some_file.write_text(some_file.read_text() + "\n# changed\n")
    assert spec_cache.digest.__wrapped__(spec_copy) != before


def test_no_cache_when_it_is_off_or_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLEDGER_SANDBOX_CACHE", "off")
    spec_cache.write("x", b"1")
    assert spec_cache.read("x") is None
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("GLEDGER_SANDBOX_CACHE", str(blocked / "cache"))
    spec_cache.write("x", b"1")  # silently nothing
    assert spec_cache.read("x") is None


def test_changed_bundling_code_is_a_new_digest(
    spec_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upgrade may change how the bundle is made while the spec's files stay the same.
    code = tmp_path / "specfile.py"
    code.write_bytes(Path(specfile.__file__).read_bytes())
    monkeypatch.setattr(spec_cache, "PRODUCERS", (code,))
    before = spec_cache.digest.__wrapped__(spec_copy)
    code.write_bytes(code.read_bytes() + b"\n# bundles differently\n")
    assert spec_cache.digest.__wrapped__(spec_copy) != before
