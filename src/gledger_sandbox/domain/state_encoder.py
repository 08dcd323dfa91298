"""Writes a tenant's state graph (see ``state_graph`` for the format): a whole document, or
the changes since the last call as one journal delta."""

from __future__ import annotations

import base64
import enum
import operator
import random
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sortedcontainers import SortedDict, SortedKeyList, SortedList

from gledger_sandbox.domain.state_graph import (
    CONTAINER_NAMES,
    DOMAIN,
    PRIMITIVE_TYPES,
    SORTED_KEYS,
    TRANSIENT,
    Wiring,
    field_names,
    module_name,
    type_name,
)


class Encoder:
    """Writes one graph: ``encode(roots)`` -> a JSON-able dict."""

    def __init__(self, wiring: Wiring) -> None:
        self._wired = {id(obj): name for name, obj in wiring.items()}
        self._refs: dict[int, int] = {}
        self._objects: list[Any] = []
        self._base = 0  # the number of the first object of ``_objects`` (see ``changes``)
        self._keep: list[object] = []  # the ids above stay valid while encoding
        # Immutable values (tuples, times, frozen dataclasses) written once per call: a line is
        # held by its entry, its statement line and each event's copy of the entry.
        self._written: dict[int, tuple[object, Any]] = {}
        self._snapshots: dict[int, tuple[object, Any]] = {}  # see ``_snapshot``
        self._shaped: set[type] = set()  # the classes whose shape this journal declared
        self._shapes: dict[type, list[str]] | None = None  # in a delta: the shapes it declares

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
        if kind in PRIMITIVE_TYPES:
            return value
        how = _KINDS.get(kind)
        if how is None:
            how = _KINDS[kind] = _kind_of(kind)
        if how is _ENUM:  # a member lives as long as its class: written once per process
            member = _ENUMS.get(id(value))
            if member is None:
                member = _ENUMS[id(value)] = {"$e": type_name(kind), "v": value.value}
            return member
        if how is _IMMUTABLE:
            # A tuple, a time or a date (never wiring), written once per call: a line is held
            # by its entry and its statement line, an entry's timestamps are one object.
            done = self._written.get(id(value))
            if done is not None and done[0] is value:
                return done[1]
            written: dict[str, Any]
            if kind is tuple:
                written = {"$t": self._items(value)}
            else:
                written = {"$dt" if kind is datetime else "$d": value.isoformat()}
            self._written[id(value)] = (value, written)
            return written
        name = self._wired.get(id(value))
        if name is not None:
            return {"$w": name}
        if how is _OBJECT:
            index = self._refs.get(id(value))
            return {"$r": index if index is not None else self._ref(value)}
        if how is _FROZEN:
            done = self._written.get(id(value))
            if done is not None and done[0] is value:
                return done[1]
            frozen: dict[str, Any]
            listed = self._listed(value, kind) if self._shapes is not None else None
            if listed is None:
                frozen = {"$v": type_name(kind), "f": self._fields(value)}
            else:  # a journal delta's form (see ``_listed``)
                listed.insert(0, type_name(kind))
                frozen = {"$a": listed}
            self._written[id(value)] = (value, frozen)
            return frozen
        return self._rare(value, kind)

    def _rare(self, value: Any, kind: type) -> dict[str, Any]:
        """The kinds tenant state holds few of (none on a journaled write's path)."""
        if kind is timedelta:
            return {"$td": [value.days, value.seconds, value.microseconds]}
        if kind is bytes:
            if self._shapes is not None:  # in a delta: an idempotency key's stored answer
                try:  # (JSON) as its text, a quarter shorter than base64 and quicker
                    return {"$u": value.decode()}
                except UnicodeDecodeError:
                    pass
            return {"$b": base64.b64encode(value).decode()}
        if kind is frozenset:
            return {"$fs": [self.value(item) for item in value]}
        # a fault rule's seeded generator: where it stands
        version, internal, gauss = value.getstate()
        return {"$rng": [version, list(internal), gauss]}

    def _items(self, items: Any) -> list[Any]:
        """``value`` of each item; primitives (most items) as they are, without the call."""
        value = self.value
        return [item if type(item) in PRIMITIVE_TYPES else value(item) for item in items]

    def _ref(self, value: Any) -> int:
        """The number of an object not written yet: written now (``value`` looks it up)."""
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
        self._shapes = {}
        try:
            out = self._written_changes(changes, base)
        finally:
            self._written.clear()
            self._snapshots.clear()
            shapes, self._shapes = self._shapes, None
        if shapes:  # declared once the delta is made (a delta not made declares nothing)
            self._shaped.update(shapes)
            declared = {type_name(kind): names for kind, names in shapes.items()}
            return {"base": base, "shapes": declared, "objects": self._objects, "changes": out}
        return {"base": base, "objects": self._objects, "changes": out}

    def _written_changes(self, changes: list[tuple[Any, ...]], base: int) -> list[list[Any]]:
        whole = {id(change[1]) for change in changes if change[0] == "touch"}
        written: set[int] = set()
        out: list[list[Any]] = []
        refs, value, primitive = self._refs, self.value, PRIMITIVE_TYPES
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
                key, new = change[2], change[3]
                out.append(
                    [
                        "p",
                        index,
                        key if type(key) in primitive else value(key),
                        new if type(new) in primitive else value(new),
                    ]
                )
            elif kind != "touch":
                item = change[2]
                out.append(
                    [_CHANGE_TAGS[kind], index, item if type(item) in primitive else value(item)]
                )
            elif index not in written:
                written.add(index)
                out.append(["t", index, self._object(target)])
        return out

    def _adds(self, pairs: Any, base: int, whole: set[int]) -> list[list[Any]]:
        """An ``adds`` change's (container number, value) pairs, less those of containers new
        since the last call or written whole (their state holds the values already)."""
        refs, value = self._refs, self.value
        kept = []
        for target, item in pairs:
            index = refs.get(id(target))
            if index is not None and index < base and id(target) not in whole:
                kept.append([index, item if type(item) in PRIMITIVE_TYPES else value(item)])
        return kept

    def _object(self, value: Any) -> dict[str, Any]:
        kind = type(value)
        if kind in (dict, OrderedDict, SortedDict):
            pairs = [[self.value(k), self.value(v)] for k, v in value.items()]
            return {"t": CONTAINER_NAMES[kind], "items": pairs}
        if kind in (list, deque, set, SortedList):
            return {"t": CONTAINER_NAMES[kind], "items": self._items(value)}
        if kind is array:
            return {"t": "array", "code": value.typecode, "items": value.tolist()}
        if kind is SortedKeyList:
            key = f"{module_name(value.key)}.{value.key.__qualname__}"
            if key not in SORTED_KEYS:
                raise TypeError(f"a SortedKeyList keyed by {key} cannot be written")
            return {"t": "sortedkeylist", "key": key, "items": self._items(value)}
        if not kind.__module__.startswith(DOMAIN):
            raise TypeError(f"{kind.__module__}.{kind.__qualname__} is not tenant state")
        return self._written_object(value, kind)

    def _written_object(self, value: Any, kind: type) -> dict[str, Any]:
        listed = self._listed(value, kind) if self._shapes is not None else None
        if listed is None:
            return {"t": type_name(kind), "f": self._fields(value)}
        return {"t": type_name(kind), "a": listed}

    def _listed(self, value: Any, kind: type) -> list[Any] | None:
        """In a journal delta, the fields of a slotted object as a list, in the order of the
        names its class's shape gives (declared once per journal: ``changes``); None for an
        object whose fields are written by name (a ``__dict__``, a slot never set).

        A new entry's record named 63 fields (its entry, lines, events, idempotency key, the
        accounts' totals): about a sixth of its bytes, and a dict built per object, not a list.
        """
        shape = _SHAPES.get(kind)
        if shape is None:
            _shape_of(kind, value)
            shape = _SHAPES.get(kind)
            if shape is None:  # a class with a __dict__
                return None
        names, read = shape
        try:
            values = read(value)
        except AttributeError:  # a slot never set: its fields by name leave it out
            return None
        shapes = self._shapes
        assert shapes is not None
        if kind not in self._shaped and kind not in shapes:
            shapes[kind] = list(names)
        primitive, value_of = PRIMITIVE_TYPES, self.value
        if "data" not in names:
            return [field if type(field) in primitive else value_of(field) for field in values]
        listed = []
        for name, field in zip(names, values, strict=True):
            if type(field) in primitive:
                listed.append(field)
            elif name == "data" and getattr(field, "live_event", None) is not None:
                listed.append(self._snapshot(field))  # an event's data (only events hold one)
            else:
                listed.append(value_of(field))
        return listed

    def _fields(self, value: Any) -> dict[str, Any]:
        kind = type(value)
        shape = _SHAPES.get(kind)
        if shape is None:
            shape = _shape_of(kind, value)
        names, read = shape
        try:
            values = read(value)  # every field at once (attrgetter)
        except AttributeError:  # a slot never set: left out
            values = tuple(getattr(value, name, _UNSET) for name in names)
        fields = {}
        primitive, value_of = PRIMITIVE_TYPES, self.value
        for name, field in zip(names, values, strict=True):
            if type(field) in primitive:  # most fields: written as they are, no call
                fields[name] = field
            elif field is not _UNSET:
                if name == "data" and getattr(field, "live_event", None) is not None:
                    fields[name] = self._snapshot(field)  # an event's data (only events hold one)
                else:
                    fields[name] = value_of(field)
        return fields

    def _snapshot(self, resource: Any) -> dict[str, int]:
        """An event's live resource, written as the copy an event held before copy on write:
        an object of its own with the resource's fields as they are now, one per resource and
        call (the events sharing it share it). No copy is made: it would only be written.

        In a journal delta that also writes the resource whole, its copy is written as the
        resource's fields (``{"t": ..., "as": n}``): a new entry's record held the entry twice.
        """
        found = self._snapshots.get(id(resource))
        if found is not None and found[0] is resource:
            return found[1]  # type: ignore[no-any-return]
        kind = type(resource)
        if not kind.__module__.startswith(DOMAIN):
            raise TypeError(f"{kind.__module__}.{kind.__qualname__} is not tenant state")
        objects, base = self._objects, self._base
        index = base + len(objects)
        written = {"$r": index}
        self._snapshots[id(resource)] = (resource, written)
        objects.append(None)
        same = self._refs.get(id(resource)) if self._shapes is not None else None
        if same is not None and same >= base and objects[same - base] is not None:
            objects[index - base] = {"t": type_name(kind), "as": same}
        else:  # written before this delta (its state may differ), or being written
            objects[index - base] = self._written_object(resource, kind)
        return written


_ENUM, _IMMUTABLE, _FROZEN, _OBJECT, _RARE = "enum", "immutable", "frozen", "object", "rare"
_KINDS: dict[type, str] = {}
"""How ``Encoder.value`` writes each type (found once per type, not tested anew per value)."""
_ENUMS: dict[int, dict[str, Any]] = {}
"""Each enumeration member's written form, by its id (members are never freed)."""


def _kind_of(kind: type) -> str:
    if kind in (tuple, datetime, date):
        return _IMMUTABLE
    if issubclass(kind, enum.Enum):
        return _ENUM
    if kind in (timedelta, bytes, frozenset, random.Random):
        return _RARE
    params = getattr(kind, "__dataclass_params__", None)
    return _FROZEN if params is not None and params.frozen else _OBJECT


_SHAPES: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}
"""The fields written of each slotted class (its slots but the transient ones), and a reader
of them all at once."""


def _shape_of(kind: type, value: Any) -> tuple[tuple[str, ...], Callable[[Any], Any]]:
    slots = field_names(kind)
    if slots is None:  # a class with a __dict__: its attributes as they are now
        names = tuple(n for n in vars(value) if n not in TRANSIENT)
    else:
        names = tuple(n for n in slots if n not in TRANSIENT)
    read: Callable[[Any], Any]
    if len(names) > 1:
        read = operator.attrgetter(*names)
    else:  # attrgetter of one name gives the value itself, not a tuple
        read = lambda obj: tuple(getattr(obj, name) for name in names)  # noqa: E731
    if slots is not None:
        _SHAPES[kind] = names, read
    return names, read


_UNSET = object()
_CHANGE_TAGS = {"pop": "d", "add": "a", "discard": "r"}
