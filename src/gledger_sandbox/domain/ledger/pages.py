"""Cursor pagination over sequence-ordered indexes: each page costs O(limit), whatever the filter.

Every listed resource has a ``seq`` that grows with insertion. A cursor names the last ``seq`` a
page returned, so rows inserted between pages are neither skipped nor repeated: in ascending
order they appear on a later page, in descending order they sort before the first page.
A page examines at most ``scan_budget`` rows; past it, the page may be short, with ``has_more``
true and a cursor to go on from. That bounds the cost of a filter that few rows match.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from sortedcontainers import SortedList

from gledger_sandbox.domain.errors import MalformedInput

T = TypeVar("T")


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 50
    cursor: str | None = None
    order: Order = Order.DESC

    @property
    def scan_budget(self) -> int:
        return max(1000, 20 * self.limit)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    next_cursor: str | None


EMPTY: SortedList = SortedList()


def encode_cursor(seq: int, order: Order) -> str:
    return base64.urlsafe_b64encode(f"v1:{order.value}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> int:
    """The ``seq`` a cursor stands for; refuses a cursor not ours, or of the other order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, cursor_order, seq = raw.split(":")
        if version != "v1" or cursor_order != order.value:
            raise ValueError(raw)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise MalformedInput.at(
            "/query/cursor",
            "validation.invalid_cursor",
            "The cursor is not one this list returned with this order.",
        ) from None


def _walk(seqs: SortedList, request: PageRequest) -> Iterable[int]:
    after = decode_cursor(request.cursor, request.order) if request.cursor else None
    walk: Iterable[int]
    if request.order is Order.ASC:
        walk = iter(seqs) if after is None else seqs.irange(minimum=after, inclusive=(False, False))
    elif after is None:
        walk = reversed(seqs)
    else:
        walk = seqs.irange(maximum=after, inclusive=(False, False), reverse=True)
    return walk


def paginate(
    seqs: SortedList,
    fetch: Callable[[int], T],
    request: PageRequest,
    accept: Callable[[T], bool] | None = None,
) -> Page[T]:
    """One page of ``seqs`` (resolved by ``fetch``), keeping the rows ``accept`` likes."""
    return _page(((seq, fetch(seq)) for seq in _walk(seqs, request)), request, accept)


R = TypeVar("R", covariant=True)


class Rows(Protocol[R]):
    """Rows read by position (a list, or a statement's columns building each row read)."""

    def __len__(self) -> int: ...

    def __getitem__(self, position: int, /) -> R: ...


def paginate_rows(rows: Rows[R], seqs: Sequence[int], request: PageRequest) -> Page[R]:
    """One page of ``rows``, held in ascending sequence order (``seqs``: each row's sequence,
    bisected as it is: no index of its own)."""
    after = decode_cursor(request.cursor, request.order) if request.cursor else None
    positions: Iterable[int]
    if request.order is Order.ASC:
        first = 0 if after is None else bisect_right(seqs, after)
        positions = range(first, len(rows))
    else:
        end = len(rows) if after is None else bisect_left(seqs, after)
        positions = range(end - 1, -1, -1)
    return _page(((seqs[i], rows[i]) for i in positions), request, None)


def _page(
    walk: Iterable[tuple[int, T]], request: PageRequest, accept: Callable[[T], bool] | None
) -> Page[T]:
    items: list[T] = []
    last_seq: int | None = None
    examined = 0
    for seq, row in walk:
        if examined >= request.scan_budget:
            assert last_seq is not None
            return Page(items, True, encode_cursor(last_seq, request.order))
        examined += 1
        if accept is not None and not accept(row):
            last_seq = seq
            continue
        if len(items) == request.limit:
            assert last_seq is not None
            return Page(items, True, encode_cursor(last_seq, request.order))
        items.append(row)
        last_seq = seq
    return Page(items, False, None)
