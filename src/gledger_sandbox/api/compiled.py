"""Compiled schemas (jsonschema-rs): a yes/no answer in microseconds, before jsonschema's details.

Almost every request is valid, and jsonschema's pure-Python ``iter_errors`` costs tens of
microseconds per schema even then. Each schema of the spec is therefore also compiled once with
jsonschema-rs; when it says *valid*, that is the answer. When it says *invalid* (or cannot judge
the schema or the value), ``validation.all_errors`` asks jsonschema as before, so every error
keeps its code, its pointer and its wording, and jsonschema stays the judge of what is refused.

That is only sound if the compiled schema refuses at least what jsonschema refuses. It is built
to: connexion's ``nullable`` (null passes ``type`` and ``enum`` of that schema, nothing else) is
spelled out as ``type: [.., "null"]`` and ``enum: [.., null]``; the formats are our own checkers
(``formats.CHECKER``). Where jsonschema-rs is stricter (a ``$`` before a final newline, formats
it knows and jsonschema does not check), jsonschema's answer wins. With
``GLEDGER_SANDBOX_CROSS_CHECK_VALIDATION=1`` every *valid* is confirmed by jsonschema too and a
disagreement is an error (500): the API tests and the contract kit run with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jsonschema_rs

from gledger_sandbox.api import formats

CROSS_CHECK = os.environ.get("GLEDGER_SANDBOX_CROSS_CHECK_VALIDATION") == "1"
"""Confirm every compiled *valid* with jsonschema (for tests; costs what compiling saves)."""

Judge = Callable[[Any], bool]
_FORMATS: dict[str, Judge] = {
    name: (lambda value, check=check: bool(check(value)))  # type: ignore[misc]
    for name, (check, _raises) in formats.CHECKER.checkers.items()
}


def spelled_out(schema: Any) -> Any:
    """``schema`` with connexion's ``nullable`` in plain draft-4 keywords, at every depth."""
    if isinstance(schema, list):
        return [spelled_out(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    plain = {key: spelled_out(value) for key, value in schema.items()}
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        kinds = plain.get("type")
        if isinstance(kinds, str):
            plain["type"] = [kinds, "null"]
        elif isinstance(kinds, list) and "null" not in kinds:
            plain["type"] = [*kinds, "null"]
        enum = plain.get("enum")
        if isinstance(enum, list) and None not in enum:
            plain["enum"] = [*enum, None]
    return plain


_LENIENT = frozenset({"writeOnly", "x-writeOnly", "multipleOf"})
"""Keywords where jsonschema-rs accepts what jsonschema refuses: connexion's response validator
refuses a ``writeOnly`` property, which jsonschema-rs ignores (should a response schema ever be
compiled); and jsonschema-rs takes ``0.3`` as a multiple of ``0.1``, jsonschema does not.
A schema using one anywhere is left to jsonschema (the spec has none today)."""


def _uses(schema: Any, keywords: frozenset[str]) -> bool:
    """Whether a keyword of ``keywords`` appears anywhere in ``schema``; a resolved recursive
    schema is a cyclic structure, so each dict or list is looked at once."""
    seen: set[int] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if not isinstance(node, (dict, list)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if not keywords.isdisjoint(node):
                return True
            pending.extend(node.values())
        else:
            pending.extend(node)
    return False


def compile_schema(schema: dict[str, Any], nullable: bool) -> Judge | None:
    """A compiled yes/no judge of ``schema`` (connexion's ``nullable`` read as such when
    ``nullable``), or None where jsonschema-rs cannot take the schema or would be more lenient
    than jsonschema (``_LENIENT``)."""
    if _uses(schema, _LENIENT):
        return None
    try:
        compiled = jsonschema_rs.Draft4Validator(
            spelled_out(schema) if nullable else schema,
            formats=_FORMATS,
            validate_formats=True,
        )
    except Exception:
        return None
    return compiled.is_valid


def passes(judge: Judge | None, instance: Any) -> bool:
    """True when the compiled schema accepts ``instance``; False when jsonschema must look."""
    if judge is None:
        return False
    try:
        return judge(instance)
    except Exception:
        return False
