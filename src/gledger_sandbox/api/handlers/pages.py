"""The list parameters every page takes."""

from __future__ import annotations

from gledger_sandbox.domain.ledger.pages import Order, PageRequest


def page_request(limit: int = 50, cursor: str | None = None, order: str = "desc") -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor, order=Order(order))
