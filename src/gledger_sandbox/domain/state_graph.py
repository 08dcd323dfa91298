"""A tenant's state as a self-describing JSON graph, and back: one codec for snapshots, export
and import, and the durable store of ``serve --state-dir``. This module holds what the two
halves share (the type names, the fields written, ``DocumentError``); ``state_encoder`` writes
a graph and ``state_decoder`` reads one.

Every object is written once, in a table, with its type and its fields by name; a second use
is a reference (``{"$r": n}``), so shared objects stay shared (an entry held by id and by
sequence is one entry). Frozen values are written in place. What is wiring rather than data
(the unit of work, the clock, id generators, listeners) is named (``{"$w": "clock"}``) and
found again in the fresh tenant that reads the document, with the state each one carries.

Only classes of ``gledger_sandbox.domain`` (and the containers named below) can be read back,
each field checked against its class: a document can describe data, never run code.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

from sortedcontainers import SortedDict, SortedList

from gledger_sandbox.domain.errors import FieldError, InvalidRequest

Wiring = dict[str, object]
"""Named objects a document refers to but does not hold (found again when it is read)."""

PRIMITIVES = (str, int, float, bool, type(None))
PRIMITIVE_TYPES = frozenset(PRIMITIVES)  # a set lookup: the encoder's hottest test
DOMAIN = "gledger_sandbox.domain."
SORTED_KEYS: dict[str, Callable[[Any], Any]] = {}
"""The key functions a sorted list may be rebuilt with, by name (see ``sort_key``)."""


def sort_key(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Register a module-level key function of a ``SortedKeyList`` (a lambda has no name)."""
    SORTED_KEYS[f"{module_name(function)}.{function.__qualname__}"] = function
    return function


_TYPE_NAMES: dict[type, str] = {}


def type_name(cls: type) -> str:
    name = _TYPE_NAMES.get(cls)
    if name is None:
        name = _TYPE_NAMES[cls] = f"{module_name(cls)}.{cls.__qualname__}"
    return name


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def field_names(cls: type) -> tuple[str, ...] | None:
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


def module_name(thing: Any) -> str:
    """The module's own name, not its package: documents outlive a regrouping of domain/."""
    return str(thing.__module__).rsplit(".", 1)[-1]


class DocumentError(InvalidRequest):
    """A state document that cannot be read: its pointer says where."""

    def __init__(self, pointer: str, detail: str) -> None:
        code = "import.invalid_document"
        super().__init__(code, detail, (FieldError(pointer, code, detail),))


TRANSIENT = frozenset({"wire", "journal", "live_event", "next_holder"})
"""Caches rebuilt on demand, never written (an event's rendered bytes), the journal a
durable server hangs on a tenant's parts, and the links between a live resource and the events
that share it (``EventLog.append``: a document holds each event's snapshot as a copy)."""

CONTAINER_NAMES: dict[type, str] = {
    dict: "dict",
    OrderedDict: "odict",
    SortedDict: "sorteddict",
    list: "list",
    deque: "deque",
    set: "set",
    SortedList: "sortedlist",
}


def walk(graph: dict[str, Any]) -> Iterator[Any]:
    """Every object of a written graph (for sizes and counts)."""
    yield from graph.get("objects", ())
