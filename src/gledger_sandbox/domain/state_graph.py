"""A tenant's state as a self-describing JSON graph, and back: one codec for snapshots, export
and import, and the durable store of ``serve --state-dir``.

Every object is written once, in a table, with its type and its fields by name; a second use
is a reference (``{"$r": n}``), so shared objects stay shared (an entry held by id and by
sequence is one entry). Frozen values are written in place. What is wiring rather than data
(the unit of work, the clock, id generators, listeners) is named (``{"$w": "clock"}``) and
found again in the fresh tenant that reads the document, with the state each one carries.

Only classes of ``gledger_sandbox.domain`` (and the containers named below) can be read back,
each field checked against its class: a document can describe data, never run code.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import enum
import importlib
import pkgutil
import random
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sortedcontainers import SortedDict, SortedKeyList, SortedList

from gledger_sandbox import domain
from gledger_sandbox.domain.errors import FieldError, InvalidRequest

Wiring = dict[str, object]
"""Named objects a document refers to but does not hold (found again when it is read)."""

_PRIMITIVES = (str, int, float, bool, type(None))
_PRIMITIVE_TYPES = frozenset(_PRIMITIVES)  # a set lookup: the encoder's hottest test
_DOMAIN = "gledger_sandbox.domain."
_SORTED_KEYS: dict[str, Callable[[Any], Any]] = {}
"""The key functions a sorted list may be rebuilt with, by name (see ``sort_key``)."""


def sort_key(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Register a module-level key function of a ``SortedKeyList`` (a lambda has no name)."""
    _SORTED_KEYS[f"{_module_name(function)}.{function.__qualname__}"] = function
    return function


_TYPE_NAMES: dict[type, str] = {}


def _type_name(cls: type) -> str:
    name = _TYPE_NAMES.get(cls)
    if name is None:
        name = _TYPE_NAMES[cls] = f"{_module_name(cls)}.{cls.__qualname__}"
    return name


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The attributes of a slotted class; None for one with a ``__dict__``."""
    if cls not in _FIELDS:
        _FIELDS[cls] = _slots_of(cls)
    return _FIELDS[cls]


def _slots_of(cls: type) -> tuple[str, ...] | None:
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is object:
            continue
        slots = klass.__dict__.get("__slots__")
        if slots is None:
            return None
        names += [slots] if isinstance(slots, str) else list(slots)
    return tuple(n for n in names if n != "__weakref__")


def _module_name(thing: Any) -> str:
    """The module's own name, not its package: documents outlive a regrouping of domain/."""
    return str(thing.__module__).rsplit(".", 1)[-1]


def _domain_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in pkgutil.walk_packages(domain.__path__, _DOMAIN):
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if isinstance(value, type) and value.__module__ == loaded.__name__:
                found[_type_name(value)] = value
    return found


class DocumentError(InvalidRequest):
    """A state document that cannot be read: its pointer says where."""

    def __init__(self, pointer: str, detail: str) -> None:
        code = "import.invalid_document"
        super().__init__(code, detail, (FieldError(pointer, code, detail),))


class Encoder:
    """Writes one graph: ``encode(roots)`` -> a JSON-able dict."""

    def __init__(self, wiring: Wiring) -> None:
        self._wired = {id(obj): name for name, obj in wiring.items()}
        self._refs: dict[int, int] = {}
        self._objects: list[Any] = []
        self._base = 0  # the number of the first object of ``_objects`` (see ``changes``)
        self._keep: list[object] = []  # the ids above stay valid while encoding
        # Immutable values (tuples, frozen dataclasses) written once per call: a line is held
        # by its entry, its statement line and each event's copy of the entry.
        self._written: dict[int, tuple[object, Any]] = {}
        self._snapshots: dict[int, tuple[object, Any]] = {}

    def encode(self, roots: dict[str, object]) -> dict[str, Any]:
        encoded = {name: self.value(root) for name, root in roots.items()}
        self._written.clear()
        self._snapshots.clear()
        objects = self._objects
        # Let go of the written objects now: the caller's document is their last holder, so
        # they are freed with it (on the writer thread, for ``serve --state-dir``), never by the
        # next ``changes`` (0.2 s on the event loop for a 20,000-entry tenant).
        self._base, self._objects = self._base + len(objects), []
        return {"roots": encoded, "objects": objects}

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PRIMITIVE_TYPES:
            return value
        name = self._wired.get(id(value))
        if name is not None:
            return {"$w": name}
        if kind is datetime:
            return {"$dt": value.isoformat()}
        if kind is date:
            return {"$d": value.isoformat()}
        if kind is tuple:
            return self._immutable(value)
        if isinstance(value, enum.Enum):
            return {"$e": _type_name(kind), "v": value.value}
        if kind is timedelta:
            return {"$td": [value.days, value.seconds, value.microseconds]}
        if kind is bytes:
            return {"$b": base64.b64encode(value).decode()}
        if kind is frozenset:
            return {"$fs": [self.value(item) for item in value]}
        if kind is random.Random:  # a fault rule's seeded generator: where it stands
            version, internal, gauss = value.getstate()
            return {"$rng": [version, list(internal), gauss]}
        params = getattr(kind, "__dataclass_params__", None)
        if params is not None and params.frozen:
            return self._immutable(value)
        return {"$r": self._ref(value)}

    def _immutable(self, value: Any) -> dict[str, Any]:
        """A tuple or a frozen dataclass, written once per call."""
        found = self._written.get(id(value))
        if found is not None and found[0] is value:
            return found[1]  # type: ignore[no-any-return]
        written: dict[str, Any]
        if type(value) is tuple:
            written = {"$t": self._items(value)}
        else:
            written = {"$v": _type_name(type(value)), "f": self._fields(value)}
        self._written[id(value)] = (value, written)
        return written

    def _items(self, items: Any) -> list[Any]:
        """``value`` of each item; primitives (most items) as they are, without the call."""
        value = self.value
        return [item if type(item) in _PRIMITIVE_TYPES else value(item) for item in items]

    def _ref(self, value: Any) -> int:
        found = self._refs.get(id(value))
        if found is not None:
            return found
        index = self._refs[id(value)] = self._base + len(self._objects)
        self._keep.append(value)
        self._objects.append(None)
        self._objects[index - self._base] = self._object(value)
        return index

    def changes(self, changes: list[tuple[Any, ...]]) -> dict[str, Any]:
        """The changes made since this encoder's last call, as one journal delta.

        Objects this encoder has not written yet are new: written whole, as they are now, and
        changes to them are left out (their state already holds them); so are the changes to
        an object that is ``touch``-ed (written whole). The encoder keeps every object it wrote
        alive, so their numbers stay theirs until a full document replaces it.
        """
        base = self._base = self._base + len(self._objects)
        self._objects = []
        whole = {id(change[1]) for change in changes if change[0] == "touch"}
        written: set[int] = set()
        out: list[list[Any]] = []
        refs, value, primitive = self._refs, self.value, _PRIMITIVE_TYPES
        for change in changes:
            kind, target = change[0], change[1]
            if kind == "adds":
                pairs = self._adds(target, base, whole)
                if pairs:
                    out.append(["m", pairs])
                continue
            index = refs.get(id(target))
            if (
                index is None
                or index >= base
                or (whole and kind != "touch" and id(target) in whole)
            ):
                continue
            if kind == "set":
                new = change[3]
                out.append(["s", index, change[2], new if type(new) in primitive else value(new)])
            elif kind == "put":
                out.append(["p", index, value(change[2]), value(change[3])])
            elif kind != "touch":
                item = change[2]
                out.append(
                    [_CHANGE_TAGS[kind], index, item if type(item) in primitive else value(item)]
                )
            elif index not in written:
                written.add(index)
                out.append(["t", index, self._object(target)])
        self._written.clear()
        self._snapshots.clear()
        return {"base": base, "objects": self._objects, "changes": out}

    def _adds(self, pairs: Any, base: int, whole: set[int]) -> list[list[Any]]:
        """An ``adds`` change's (container number, value) pairs, less those of containers new
        since the last call or written whole (their state holds the values already)."""
        refs, value = self._refs, self.value
        kept = []
        for target, item in pairs:
            index = refs.get(id(target))
            if index is not None and index < base and id(target) not in whole:
                kept.append([index, item if type(item) in _PRIMITIVE_TYPES else value(item)])
        return kept

    def _object(self, value: Any) -> dict[str, Any]:
        kind = type(value)
        if kind in (dict, OrderedDict, SortedDict):
            pairs = [[self.value(k), self.value(v)] for k, v in value.items()]
            return {"t": _CONTAINER_NAMES[kind], "items": pairs}
        if kind in (list, deque, set, SortedList):
            return {"t": _CONTAINER_NAMES[kind], "items": self._items(value)}
        if kind is array:
            return {"t": "array", "code": value.typecode, "items": value.tolist()}
        if kind is SortedKeyList:
            key = f"{_module_name(value.key)}.{value.key.__qualname__}"
            if key not in _SORTED_KEYS:
                raise TypeError(f"a SortedKeyList keyed by {key} cannot be written")
            return {"t": "sortedkeylist", "key": key, "items": self._items(value)}
        if not kind.__module__.startswith(_DOMAIN):
            raise TypeError(f"{kind.__module__}.{kind.__qualname__} is not tenant state")
        return {"t": _type_name(kind), "f": self._fields(value)}

    def _fields(self, value: Any) -> dict[str, Any]:
        kind = type(value)
        names = _WRITTEN.get(kind)
        if names is None:
            slots = _field_names(kind)
            if slots is None:  # a class with a __dict__: its attributes as they are now
                names = tuple(n for n in vars(value) if n not in _TRANSIENT)
            else:
                names = _WRITTEN[kind] = tuple(n for n in slots if n not in _TRANSIENT)
        fields = {}
        for name in names:
            field = getattr(value, name, _UNSET)
            if type(field) in _PRIMITIVE_TYPES:  # most fields: written as they are, no call
                fields[name] = field
            elif field is not _UNSET:
                if name == "data" and getattr(field, "live_event", None) is not None:
                    field = self._snapshot(field)  # an event's data (only events hold one)
                fields[name] = self.value(field)
        return fields

    def _snapshot(self, resource: Any) -> Any:
        """An event's live resource, written as the copy an event held before copy on write
        (one per resource and call: the events sharing it share the copy)."""
        found = self._snapshots.get(id(resource))
        if found is None or found[0] is not resource:
            snapshot = copy.copy(resource)
            snapshot.live_event = None
            found = self._snapshots[id(resource)] = (resource, snapshot)
            self._keep.append(snapshot)
        return found[1]


_WRITTEN: dict[type, tuple[str, ...]] = {}
"""The fields written of each slotted class (its slots but the transient ones)."""
_UNSET = object()
_TRANSIENT = frozenset({"wire", "journal", "live_event", "next_holder"})
"""Caches rebuilt on demand, never written (an event's rendered bytes), the journal a
durable server hangs on a tenant's parts, and the links between a live resource and the events
that share it (``EventLog.append``: a document holds each event's snapshot as a copy)."""
_CHANGE_TAGS = {"pop": "d", "add": "a", "discard": "r"}

_CONTAINER_NAMES: dict[type, str] = {
    dict: "dict",
    OrderedDict: "odict",
    SortedDict: "sorteddict",
    list: "list",
    deque: "deque",
    set: "set",
    SortedList: "sortedlist",
}
_CONTAINERS = {name: kind for kind, name in _CONTAINER_NAMES.items()}
_SEQUENCES = (list, deque, array)
"""The containers a journal's ``add`` appends to (the others are sets or sorted)."""
_ARRAY_CODES = frozenset({"H", "q"})
"""The kinds of ``array`` tenant state holds (a statement's columns)."""


class Decoder:
    """Reads a graph written by :class:`Encoder` against a fresh tenant's wiring."""

    def __init__(self, wiring: Wiring, read_as: dict[str, type] | None = None) -> None:
        """``read_as``: classes to build instead of the ones a type name names now (an older
        document's shapes, see ``sandbox.state_upgrades``)."""
        self._wiring = wiring
        self._classes = {**_domain_classes(), **(read_as or {})}
        self._objects: list[Any] = []
        self._shells: list[Any] = []

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
            key = _SORTED_KEYS.get(_member(written, "key", str, pointer))
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
        else:
            self._set_fields(shell, _member(written, "f", dict, pointer), pointer + "/f")

    def _pair(self, pair: Any, pointer: str) -> tuple[Any, Any]:
        if not isinstance(pair, list) or len(pair) != 2:
            raise DocumentError(pointer, "A mapping item is a [key, value] pair.")
        return self.value(pair[0], pointer + "/0"), self.value(pair[1], pointer + "/1")

    def _set_fields(self, target: Any, fields: dict[str, Any], pointer: str) -> None:
        cls = type(target)
        allowed = _field_names(cls)
        for name, written in fields.items():
            if (allowed is not None and name not in allowed) or name.startswith("__"):
                raise DocumentError(f"{pointer}/{name}", f"{cls.__name__} has no field {name!r}.")
            object.__setattr__(target, name, self.value(written, f"{pointer}/{name}"))
        for name in _TRANSIENT & set(allowed or ()):
            object.__setattr__(target, name, None)

    def value(self, written: Any, pointer: str) -> Any:
        if type(written) in _PRIMITIVES:
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
    "$fs": lambda d, w, p: frozenset(d.value(v, f"{p}/$fs/{i}") for i, v in enumerate(w["$fs"])),
    "$v": Decoder._frozen,
    "$rng": lambda d, w, p: _generator(w["$rng"]),
}


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


def walk(graph: dict[str, Any]) -> Iterator[Any]:
    """Every object of a written graph (for sizes and counts)."""
    yield from graph.get("objects", ())
