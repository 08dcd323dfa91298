"""Writes a tenant's state graph (see ``state_graph`` for the format): a whole document, or
the changes since the last call as one journal delta."""

from __future__ import annotations

import base64
import copy
import enum
import random
from array import array
from collections import OrderedDict, deque
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
        # Immutable values (tuples, frozen dataclasses) written once per call: a line is held
        # by its entry, its statement line and each event's copy of the entry.
        self._written: dict[int, tuple[object, Any]] = {}
        self._snapshots: dict[int, tuple[object, Any]] = {}
        # In a journal delta, an event's copy of a resource written in the same call is written
        # as that resource's fields (``{"t": ..., "as": n}``): a new entry's record held the
        # entry twice (a kilobyte of its five). The copy, by its id: (copy, resource).
        self._copies: dict[int, tuple[object, Any]] | None = None

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
            return {"$e": type_name(kind), "v": value.value}
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
            written = {"$v": type_name(type(value)), "f": self._fields(value)}
        self._written[id(value)] = (value, written)
        return written

    def _items(self, items: Any) -> list[Any]:
        """``value`` of each item; primitives (most items) as they are, without the call."""
        value = self.value
        return [item if type(item) in PRIMITIVE_TYPES else value(item) for item in items]

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
        self._copies = {}
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
        self._copies = None
        return {"base": base, "objects": self._objects, "changes": out}

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
        same = self._same_as(value)
        if same is not None:
            return {"t": type_name(kind), "as": same}
        return {"t": type_name(kind), "f": self._fields(value)}

    def _same_as(self, value: Any) -> int | None:
        """The number of the object whose written fields are ``value``'s: the resource it is
        an event's copy of, when written whole in this delta (the copy was made from it now)."""
        copies = self._copies
        found = copies.get(id(value)) if copies else None
        if found is None or found[0] is not value:
            return None
        index = self._refs.get(id(found[1]))
        if index is None or index < self._base or self._objects[index - self._base] is None:
            return None  # written before this delta (its state may differ), or being written
        return index

    def _fields(self, value: Any) -> dict[str, Any]:
        kind = type(value)
        names = _WRITTEN.get(kind)
        if names is None:
            slots = field_names(kind)
            if slots is None:  # a class with a __dict__: its attributes as they are now
                names = tuple(n for n in vars(value) if n not in TRANSIENT)
            else:
                names = _WRITTEN[kind] = tuple(n for n in slots if n not in TRANSIENT)
        fields = {}
        for name in names:
            field = getattr(value, name, _UNSET)
            if type(field) in PRIMITIVE_TYPES:  # most fields: written as they are, no call
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
            if self._copies is not None:
                self._copies[id(snapshot)] = (snapshot, resource)
        return found[1]


_WRITTEN: dict[type, tuple[str, ...]] = {}
"""The fields written of each slotted class (its slots but the transient ones)."""
_UNSET = object()
_CHANGE_TAGS = {"pop": "d", "add": "a", "discard": "r"}
