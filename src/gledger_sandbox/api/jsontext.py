"""JSON text both ways, with the guarantees the rest of the api relies on.

In (:func:`parse_body`): a request body is read only if it is safe to keep. A body nested
deeper than :data:`MAX_DEPTH` is refused before the parser sees it (at a cost linear in its
size); an object that names a key twice, or a string (value or key) that is no Unicode text
(a lone UTF-16 surrogate such as ``"\\ud800"``, which JSON's escapes can spell but UTF-8
cannot carry) is refused with a pointer to it. So nothing the domain stores can fail to
encode later.

Out (:func:`dumps`): compact UTF-8 JSON that cannot fail on any document the api builds, so
no command commits and then loses its answer: what orjson refuses (integers beyond 64 bits,
strings that are not Unicode text) is written by the standard library with ASCII escapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

from gledger_sandbox.domain.errors import FieldError

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a request body may have (the spec documents it)."""

_STRING = re.compile(rb'"[^"]*"')
_NOT_SKELETON = bytes(b for b in range(256) if b not in b'"[]{}')
_INNERMOST = re.compile(rb"\[\]|\{\}")
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyRefused(Exception):
    """A body that is JSON but may not be read: every offending place, as field errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].detail if errors else "")
        self.errors = errors


def dumps(document: Any) -> bytes:
    """Compact, stable JSON: the bytes a replay must reproduce exactly; never raises on text."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        # ensure_ascii: a string that is no Unicode text is written with escapes (\\ud800).
        return json.dumps(document, separators=(",", ":")).encode()


def fragment(document: Any) -> orjson.Fragment | None:
    """``document`` encoded now, to be embedded as is in documents :func:`dumps` writes later
    (the same bytes as encoding it in place); None where orjson refuses it, since the
    fallback's ASCII escapes would then apply to the whole enclosing document."""
    try:
        return orjson.Fragment(orjson.dumps(document))
    except orjson.JSONEncodeError:
        return None


def too_deep(raw: bytes) -> bool:
    """Whether the JSON text nests arrays and objects deeper than MAX_DEPTH.

    The text is cut down (in C) to its quotes and brackets, escaped quotes and backslashes
    dropped first, then strings; the brackets left are peeled one level per pass, so the
    cost is a few linear passes and at most MAX_DEPTH short ones.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = _STRING.sub(b"", unescaped.translate(None, _NOT_SKELETON))
    for _ in range(MAX_DEPTH):
        shorter = _INNERMOST.sub(b"", skeleton)
        if not shorter or shorter == skeleton:
            return False  # fully peeled, or not well nested (the parser says so)
        skeleton = shorter
    return True


class _Repeated(dict[str, Any]):
    """An object of the body that named keys more than once (found again for its pointer)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        self.repeated: list[str] = []
        for key, _ in pairs:
            if key in seen:
                self.repeated.append(key)
            seen.add(key)


def _escape(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def pointer(parts: Iterable[Any], prefix: str = "") -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return prefix + "".join("/" + p for p in escaped)


def _faults(value: Any, at: list[str], surrogates: bool) -> list[FieldError]:
    """The repeated keys (and, if asked, the non-Unicode strings) in a parsed body."""
    found: list[FieldError] = []
    if isinstance(value, dict):
        for key in getattr(value, "repeated", ()):
            found.append(
                FieldError(
                    pointer([*at, _escape(key)]),
                    "validation.duplicate_key",
                    "This key appears more than once in its object.",
                )
            )
        for key, item in value.items():
            if surrogates and _SURROGATE.search(key):
                found.append(_not_text(pointer([*at, _escape(key)]), "field name"))
            found += _faults(item, [*at, _escape(key)], surrogates)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _faults(item, [*at, str(index)], surrogates)
    elif surrogates and isinstance(value, str) and _SURROGATE.search(value):
        found.append(_not_text(pointer(at), "string"))
    return found


def _not_text(at: str, what: str) -> FieldError:
    detail = (
        f"This {what} is not valid Unicode text (it holds a lone UTF-16 surrogate escape "
        "such as \\ud800): it cannot be stored or sent as UTF-8."
    )
    return FieldError(at, "validation.invalid_string", detail)


def _too_deep_error() -> BodyRefused:
    detail = f"The body nests arrays and objects deeper than {MAX_DEPTH} levels."
    return BodyRefused([FieldError("", "validation.too_deep", detail)])


def parse_body(text: str, raw: bytes) -> Any:
    """The body ``text`` (decoded from ``raw``) as JSON, refused as :class:`BodyRefused`
    when too deep, with a repeated key or with a string that is no Unicode text.

    Raises ``json.JSONDecodeError`` for text that is not JSON at all. The checks cost
    nothing on an ordinary body: the objects are walked again only if the parser met a
    repeated key or the text spells a surrogate escape.
    """
    if too_deep(raw):
        raise _too_deep_error()
    repeated = False

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        found = dict(pairs)
        if len(found) == len(pairs):
            return found
        repeated = True
        return _Repeated(pairs)

    try:
        body = json.loads(text, object_pairs_hook=build)
    except RecursionError:  # not well nested, yet deep: refused all the same
        raise _too_deep_error() from None
    surrogates = _ESCAPED_SURROGATE.search(raw) is not None
    if repeated or surrogates:
        faults = _faults(body, [], surrogates)
        if faults:
            raise BodyRefused(faults)
    return body
