"""Letting go of a big state a little at a time.

Dropping the last reference to a tenant's store frees everything it holds at once, inside one
call: about 3 ms per thousand entries (55 ms at 20k), during which the server does nothing else.
``dismantle`` empties the containers of a state instead, a batch of items per step, so each
step frees a bounded part and the server may run other work between steps. Nothing still in
use may be dismantled: only a state that nobody reads any more (a tenant's state after a reset).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from sortedcontainers import SortedKeyList, SortedList

BATCH = 1000
"""Items removed per step: a millisecond or two of freeing."""

_SORTED = frozenset({SortedList, SortedKeyList})
_CONTAINERS = frozenset({dict, list, deque, set}) | _SORTED
"""Exact types (a type check per item must be cheap: no ABC ``isinstance``)."""


def dismantle(*roots: object, batch: int = BATCH) -> Iterator[None]:
    """Empty the containers held by ``roots`` (and the containers inside them), step by step."""
    pending: list[Any] = [part for root in roots for part in _containers_of(root)]
    budget = batch
    while pending:
        container = pending.pop()
        if type(container) in _SORTED:  # empty its inner lists instead
            pending += _containers_of(container)
            continue
        while container:
            taken = _take(container, min(budget, len(container)))
            # A container inside is emptied in its own turn, not freed whole with this batch.
            pending += [part for part in taken if type(part) in _CONTAINERS and part]
            budget -= len(taken)
            del taken  # frees the batch (what nothing else holds)
            if budget <= 0:
                yield
                budget = batch
        del container


def _containers_of(root: object) -> list[Any]:
    """The containers ``root`` holds itself (objects inside it are not walked: name them)."""
    held = getattr(root, "__dict__", {})
    return [value for value in held.values() if type(value) in _CONTAINERS]


def _take(container: Any, count: int) -> list[Any]:
    """Remove ``count`` items (a dict's values) from ``container``, and return them."""
    if type(container) is dict:
        return [container.popitem()[1] for _ in range(count)]
    if type(container) is list:
        taken = container[-count:]
        del container[-count:]
        return taken
    return [container.pop() for _ in range(count)]
