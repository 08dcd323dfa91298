"""Reads a tenant's state graph written by ``state_encoder`` (see ``state_graph`` for the
format), checking each object and field against the domain's classes."""

from __future__ import annotations

import base64
import dataclasses
import enum
import importlib
import pkgutil
import random
from array import array
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sortedcontainers import SortedKeyList, SortedList

from gledger_sandbox import domain
from gledger_sandbox.domain.state_graph import (
    CONTAINER_NAMES,
    DOMAIN,
    PRIMITIVES,
    SORTED_KEYS,
    TRANSIENT,
    DocumentError,
    Wiring,
    field_names,
    type_name,
)

_CONTAINERS = {name: kind for kind, name in CONTAINER_NAMES.items()}
_SEQUENCES = (list, deque, array)
"""The containers a journal's ``add`` appends to (the others are sets or sorted)."""
_ARRAY_CODES = frozenset({"H", "q"})
"""The kinds of ``array`` tenant state holds (a statement's columns)."""


def _domain_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in pkgutil.walk_packages(domain.__path__, DOMAIN):
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if isinstance(value, type) and value.__module__ == loaded.__name__:
                found[type_name(value)] = value
    return found


class Decoder:
    """Reads a graph written by :class:`Encoder` against a fresh tenant's wiring."""

    def __init__(self, wiring: Wiring, read_as: dict[str, type] | None = None) -> None:
        """``read_as``: classes to build instead of the ones a type name names now (an older
        document's shapes, see ``sandbox.state_upgrades``)."""
        self._wiring = wiring
        self._classes = {**_domain_classes(), **(read_as or {})}
        self._objects: list[Any] = []
        self._shells: list[Any] = []
        self._shapes: dict[str, tuple[str, ...]] = {}
        """The field names of each type's listed fields (``{"a": [...]}``, ``{"$a": [...]}``),
        as the journal's deltas declared them, each once for the deltas after it."""

    def decode(self, graph: Any, pointer: str) -> dict[str, Any]:
        objects = _member(graph, "objects", list, pointer)
        roots = _member(graph, "roots", dict, pointer)
        self._objects = objects
        self._shells = [self._shell(o, f"{pointer}/objects/{n}") for n, o in enumerate(objects)]
        # Children are written after their parents: filling backwards fills a sorted list's or
        # a set's items before they are compared or hashed.
        for n in range(len(objects) - 1, -1, -1):
            self._fill(n, f"{pointer}/objects/{n}")
        return {name: self.value(v, f"{pointer}/roots/{name}") for name, v in roots.items()}

    def apply(self, delta: Any, pointer: str) -> None:
        """Carry a decoded graph on by one delta of ``Encoder.changes``."""
        base = _member(delta, "base", int, pointer)
        objects = _member(delta, "objects", list, pointer)
        if base != len(self._shells):
            raise DocumentError(pointer + "/base", "The delta does not follow the state.")
        self._declare(delta.get("shapes", {}), pointer + "/shapes")
        self._objects.extend(objects)
        self._shells += [self._shell(o, f"{pointer}/objects/{n}") for n, o in enumerate(objects)]
        for n in range(len(self._shells) - 1, base - 1, -1):
            self._fill(n, f"{pointer}/objects/{n - base}")
        for n, change in enumerate(_member(delta, "changes", list, pointer)):
            try:
                self._change(change, f"{pointer}/changes/{n}")
            except DocumentError:
                raise
            except (
                TypeError,
                ValueError,
                KeyError,
                IndexError,
                AttributeError,
                OverflowError,
            ) as error:
                raise DocumentError(f"{pointer}/changes/{n}", f"Cannot apply: {error}") from None

    def _declare(self, shapes: Any, pointer: str) -> None:
        """Take the shapes a delta declares: a type's field names, in the order of its lists."""
        if not isinstance(shapes, dict):
            raise DocumentError(pointer, "Expected the field names of each type.")
        for kind, names in shapes.items():
            if kind not in self._classes:
                raise DocumentError(f"{pointer}/{kind}", f"Unknown type {kind!r}.")
            if not isinstance(names, list) or not all(type(n) is str for n in names):
                raise DocumentError(f"{pointer}/{kind}", "Expected a list of field names.")
            self._shapes[kind] = tuple(names)

    def _named(self, kind: Any, listed: Any, first: int, pointer: str) -> dict[str, Any]:
        """Listed fields (from item ``first`` of ``listed``) by the names of their shape."""
        names = self._shapes.get(kind) if type(kind) is str else None
        if names is None:
            raise DocumentError(pointer, f"No shape was declared for {kind!r}.")
        if not isinstance(listed, list) or len(listed) - first != len(names):
            raise DocumentError(pointer, f"Expected the {len(names)} fields of {kind}.")
        return dict(zip(names, listed[first:], strict=True))

    def _change(self, change: list[Any], pointer: str) -> None:
        tag, index = change[0], change[1]
        if tag == "m":  # ["m", [[container, value], ...]]: an add to each
            if not isinstance(index, list):
                raise DocumentError(pointer + "/1", "Expected the [container, value] pairs.")
            for n, pair in enumerate(index):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise DocumentError(f"{pointer}/1/{n}", "Expected [container, value].")
                self._add(pair[0], pair[1], f"{pointer}/1/{n}/0", f"{pointer}/1/{n}/1")
            return
        target = self._ref({"$r": index}, pointer + "/1")
        if tag == "t":
            self._objects[index] = change[2]
            if isinstance(target, (dict, list, deque, set, SortedList, SortedKeyList)):
                target.clear()
            elif isinstance(target, array):
                del target[:]
            self._fill(index, pointer + "/2")
        elif tag == "s":
            self._set_fields(target, {change[2]: change[3]}, pointer)
        elif tag == "p":
            target[self.value(change[2], pointer + "/2")] = self.value(change[3], pointer + "/3")
        elif tag == "d":
            target.pop(self.value(change[2], pointer + "/2"), None)
        elif tag == "a":
            self._add(index, change[2], pointer + "/1", pointer + "/2")
        elif tag == "r":
            item = self.value(change[2], pointer + "/2")
            target.remove(item) if isinstance(target, _SEQUENCES) else target.discard(item)
        else:
            raise DocumentError(pointer + "/0", f"Unknown change {tag!r}.")

    def _add(self, index: Any, written: Any, at_index: str, at_value: str) -> None:
        """Add the item ``written`` (at ``at_value``) to container ``index`` (at ``at_index``)."""
        target = self._ref({"$r": index}, at_index)
        item = self.value(written, at_value)
        target.append(item) if isinstance(target, _SEQUENCES) else target.add(item)

    def _shell(self, written: Any, pointer: str) -> Any:
        kind = _member(written, "t", str, pointer)
        if kind in _CONTAINERS:
            return _CONTAINERS[kind]()
        if kind == "array":
            code = written.get("code")
            if code not in _ARRAY_CODES:
                raise DocumentError(pointer + "/code", "Not an array of a known kind.")
            return array(code)
        if kind == "sortedkeylist":
            key = SORTED_KEYS.get(_member(written, "key", str, pointer))
            if key is None:
                raise DocumentError(pointer + "/key", "Unknown sort key.")
            return SortedKeyList(key=key)
        cls = self._classes.get(kind)
        if cls is None or issubclass(cls, BaseException):
            raise DocumentError(pointer + "/t", f"Unknown type {kind!r}.")
        return object.__new__(cls)

    def _fill(self, n: int, pointer: str) -> None:
        written, shell = self._objects[n], self._shells[n]
        kind = written["t"]
        if kind in ("dict", "odict", "sorteddict"):
            pairs = _member(written, "items", list, pointer)
            shell.update(self._pair(p, f"{pointer}/items/{i}") for i, p in enumerate(pairs))
        elif kind == "array":
            numbers = _member(written, "items", list, pointer)
            try:
                shell.extend(numbers)
            except (TypeError, OverflowError):
                detail = "Not integers of the array's kind."
                raise DocumentError(pointer + "/items", detail) from None
        elif kind in _CONTAINERS or kind == "sortedkeylist":
            written_items = _member(written, "items", list, pointer)
            items = [self.value(v, f"{pointer}/items/{i}") for i, v in enumerate(written_items)]
            if kind in ("sortedlist", "sortedkeylist", "set"):
                shell.update(items)
            else:
                shell.extend(items)
        elif "as" in written:  # an event's copy of object ``as``, written as its fields
            self._set_fields(shell, self._fields_as(n, written, pointer), pointer + "/as")
        elif "a" in written:  # a journal delta's listed fields
            fields = self._named(kind, written["a"], 0, pointer + "/a")
            self._set_fields(shell, fields, pointer + "/a", self._shapes[kind])
        else:
            self._set_fields(shell, _member(written, "f", dict, pointer), pointer + "/f")

    def _fields_as(self, n: int, written: dict[str, Any], pointer: str) -> dict[str, Any]:
        same = written["as"]
        if type(same) is not int or not 0 <= same < len(self._objects) or same == n:
            raise DocumentError(pointer + "/as", "A copy of no object.")
        source = self._objects[same]
        if not isinstance(source, dict) or source.get("t") != written["t"]:
            raise DocumentError(pointer + "/as", "A copy of an object of another type.")
        if "a" in source:
            return self._named(source["t"], source["a"], 0, f"{pointer}/as")
        return _member(source, "f", dict, f"{pointer}/as")  # type: ignore[no-any-return]

    def _pair(self, pair: Any, pointer: str) -> tuple[Any, Any]:
        if not isinstance(pair, list) or len(pair) != 2:
            raise DocumentError(pointer, "A mapping item is a [key, value] pair.")
        return self.value(pair[0], pointer + "/0"), self.value(pair[1], pointer + "/1")

    def _set_fields(
        self,
        target: Any,
        fields: dict[str, Any],
        pointer: str,
        listed: tuple[str, ...] | None = None,
        first: int = 0,
    ) -> None:
        """``listed``: the fields were listed in this order (from item ``first``), so a field's
        pointer is its place in the list."""
        cls = type(target)
        allowed = field_names(cls)
        for place, (name, written) in enumerate(fields.items(), first):
            at = f"{pointer}/{place if listed else name}"
            if (allowed is not None and name not in allowed) or name.startswith("__"):
                raise DocumentError(at, f"{cls.__name__} has no field {name!r}.")
            object.__setattr__(target, name, self.value(written, at))
        for name in TRANSIENT & set(allowed or ()):
            object.__setattr__(target, name, None)

    def value(self, written: Any, pointer: str) -> Any:
        if type(written) in PRIMITIVES:
            return written
        if type(written) is list:
            raise DocumentError(pointer, "A bare array is no value of this format.")
        if type(written) is not dict or len(written) == 0:
            raise DocumentError(pointer, "Not a value of this format.")
        tag = next(iter(written))
        reader = _VALUE_READERS.get(tag)
        if reader is None:
            raise DocumentError(pointer, f"Unknown value tag {tag!r}.")
        try:
            return reader(self, written, pointer)
        except DocumentError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
            raise DocumentError(pointer, f"Unreadable value: {error}.") from None

    def _ref(self, written: dict[str, Any], pointer: str) -> Any:
        index = written["$r"]
        if type(index) is not int or not 0 <= index < len(self._shells):
            raise DocumentError(pointer, "A reference to no object.")
        return self._shells[index]

    def _wired(self, written: dict[str, Any], pointer: str) -> Any:
        if written["$w"] not in self._wiring:
            raise DocumentError(pointer, f"Unknown wiring {written['$w']!r}.")
        return self._wiring[written["$w"]]

    def _enum(self, written: dict[str, Any], pointer: str) -> Any:
        cls = self._classes.get(written["$e"])
        if cls is None or not issubclass(cls, enum.Enum):
            raise DocumentError(pointer, f"Unknown enumeration {written['$e']!r}.")
        return cls(written["v"])

    def _frozen(self, written: dict[str, Any], pointer: str) -> Any:
        cls = self._classes.get(written["$v"])
        if cls is None or not dataclasses.is_dataclass(cls):
            raise DocumentError(pointer, f"Unknown value type {written['$v']!r}.")
        made = object.__new__(cls)
        self._set_fields(made, _member(written, "f", dict, pointer), pointer + "/f")
        return made

    def _listed(self, written: dict[str, Any], pointer: str) -> Any:
        """A frozen value of a journal delta: ``{"$a": [type, field, ...]}``."""
        listed = written["$a"]
        kind = listed[0] if isinstance(listed, list) and listed else None
        cls = self._classes.get(kind) if type(kind) is str else None
        if cls is None or not dataclasses.is_dataclass(cls):
            raise DocumentError(pointer + "/$a/0", f"Unknown value type {kind!r}.")
        fields = self._named(kind, listed, 1, pointer + "/$a")
        made = object.__new__(cls)
        self._set_fields(made, fields, pointer + "/$a", self._shapes[str(kind)], 1)
        return made

    def _datetime(self, written: dict[str, Any], pointer: str) -> datetime:
        moment = datetime.fromisoformat(written["$dt"])
        if moment.tzinfo is None:
            raise DocumentError(pointer, "A time without its offset.")
        return moment


_VALUE_READERS: dict[str, Callable[[Decoder, dict[str, Any], str], Any]] = {
    "$r": Decoder._ref,
    "$w": Decoder._wired,
    "$dt": Decoder._datetime,
    "$d": lambda d, w, p: date.fromisoformat(w["$d"]),
    "$t": lambda d, w, p: tuple(d.value(v, f"{p}/$t/{i}") for i, v in enumerate(w["$t"])),
    "$e": Decoder._enum,
    "$td": lambda d, w, p: timedelta(*w["$td"]),
    "$b": lambda d, w, p: base64.b64decode(w["$b"], validate=True),
    "$u": lambda d, w, p: _text(w["$u"]).encode(),  # bytes that are UTF-8 text (journals)
    "$a": Decoder._listed,
    "$fs": lambda d, w, p: frozenset(d.value(v, f"{p}/$fs/{i}") for i, v in enumerate(w["$fs"])),
    "$v": Decoder._frozen,
    "$rng": lambda d, w, p: _generator(w["$rng"]),
}


def _text(text: Any) -> str:
    if type(text) is not str:
        raise ValueError("expected a text")
    return text


def _generator(state: Any) -> random.Random:
    version, internal, gauss = state
    if type(internal) is not list or not all(type(n) is int for n in internal):
        raise ValueError("a generator's state is a list of integers")
    generator = random.Random()
    generator.setstate((version, tuple(internal), gauss))
    return generator


def _member(holder: Any, name: str, kind: type, pointer: str) -> Any:
    if not isinstance(holder, dict):
        raise DocumentError(pointer, "Expected an object.")
    value = holder.get(name)
    if not isinstance(value, kind):
        raise DocumentError(f"{pointer}/{name}", f"Expected {name!r} to be a {kind.__name__}.")
    return value
