"""Where the shipped spec and fixtures are: inside the wheel, or beside the source in a checkout."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _shipped(name: str) -> Path:
    inside = _PACKAGE / "_data" / name
    return inside if inside.is_dir() else _CHECKOUT / name


def spec_dir() -> Path:
    return _shipped("spec")


def fixtures_dir() -> Path:
    return _shipped("fixtures")


def fixture_names() -> list[str]:
    """The fixture profiles a tenant can be seeded from (``fixtures/*.yaml``)."""
    return sorted(path.stem for path in fixtures_dir().glob("*.yaml"))


def schemathesis_config() -> Path:
    """Which answers count as correct when schemathesis fuzzes the API (the contract kit's)."""
    inside = _PACKAGE / "_data" / "schemathesis.toml"
    return inside if inside.is_file() else _CHECKOUT / "schemathesis.toml"


def root_spec() -> Path:
    return spec_dir() / "openapi.yaml"


@cache
def load_yaml(path: Path) -> Any:
    """A YAML file of the spec, read once: shared, so never to be changed by its readers."""
    # libyaml's loader when PyYAML has it: the pure-Python one takes ~1 s over the spec at startup.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def ref_target(ref: str, base: Path) -> tuple[Path, str]:
    """Where a ``$ref`` written in the file ``base`` points: the file, and the JSON pointer."""
    file_part, _, fragment = ref.partition("#")
    return ((base.parent / file_part).resolve() if file_part else base), fragment


def at_pointer(node: Any, fragment: str) -> Any:
    """The node at JSON pointer ``fragment`` (RFC 6901, ``/a/b~1c``) inside ``node``."""
    for part in filter(None, fragment.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def follow(file: Path, fragment: str) -> Any:
    """The node at JSON pointer ``fragment`` of the YAML ``file`` (shared: never change it)."""
    return at_pointer(load_yaml(file), fragment)


def resolved(root: Path | None = None) -> Any:
    """The document at ``root`` (the shipped spec by default) with every ``$ref`` followed.

    A plain walk, without prance's validation (seconds on this spec): for readers of a spec
    known to be valid, such as the contract kit. ``gledger-sandbox spec validate`` validates.
    """
    start = (root or root_spec()).resolve()

    def walk(node: Any, base: Path, trail: frozenset[tuple[Path, str]]) -> Any:
        if isinstance(node, list):
            return [walk(item, base, trail) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {key: walk(value, base, trail) for key, value in node.items()}
        target, fragment = ref_target(ref, base)
        if (target, fragment) in trail:
            raise ValueError(f"recursive $ref {ref!r} in {base}")
        return walk(follow(target, fragment), target, trail | {(target, fragment)})

    return walk(load_yaml(start), start, frozenset())


def path_methods(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every path template of a bundled spec ``document`` and its methods, upper case.

    The bundle (``specfile.bundle``, cached), not the split files: reading those again costs
    50-90 ms of YAML at every start.
    """
    return {
        template: sorted(m.upper() for m in item if m in METHODS)
        for template, item in document["paths"].items()
    }


def path_pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching the request paths of a path template (``/v1/ledgers/{id}``)."""
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "/?$")


def allow_table(
    document: Mapping[str, Any], extra: Mapping[str, list[str]] | None = None
) -> Callable[[str], str]:
    """A function from a request path to the ``Allow`` header value of its path template.

    ``document`` is the bundled spec; ``extra`` adds routes served outside the spec (``/``,
    which leads to Swagger UI).
    """
    table = {**path_methods(document), **(extra or {})}
    patterns = [(path_pattern(t), methods) for t, methods in table.items()]

    def allow_for(path: str) -> str:
        for pattern, methods in patterns:
            if pattern.match(path):
                return ", ".join(methods)
        return ""

    return allow_for
