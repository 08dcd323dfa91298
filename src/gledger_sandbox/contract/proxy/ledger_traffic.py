"""The ledger checks that apply to traffic the kit did not write: a partner's own requests.

The kit's scenarios choose their requests; here the requests are whatever passed through, so
each check judges what it can from what it saw, and only that:

- the response checks of every kit run (request id, problem+json, entries that balance);
- ``idempotent_replay``: a POST repeated with the same ``Idempotency-Key`` and body gets the
  first answer again, byte for byte, marked ``Idempotent-Replayed``; with another body, a 2xx
  first answer is not answered 2xx again (the key was reused);
- ``pages_complete``: a page fetched with the ``next_cursor`` of a page seen before repeats
  none of the items of that walk, and ``has_more`` comes with a cursor;
- ``event_sequence``: the events of a page rise strictly and lie after its ``after``, the
  ``id:`` lines of a stream rise strictly from its ``Last-Event-ID``, and an event id seen
  twice always has the same sequence and type.

Everything is kept per credential (the ``Authorization`` value), since idempotency keys,
cursors and event sequences belong to one tenant.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gledger_sandbox.contract.proxy.conformance import Finding
from gledger_sandbox.contract.proxy.exchange import Exchange
from gledger_sandbox.contract.response_checks import RESPONSE_CHECK_FUNCTIONS, ResponseFacts
from gledger_sandbox.contract.spec import Operation

MAX_REMEMBERED = 10_000
"""Answers, walks and events remembered per kind: older ones are forgotten first."""


@dataclass(frozen=True, slots=True)
class FirstAnswer:
    body_digest: str
    status: int
    body: bytes


def _document(exchange: Exchange) -> Any:
    return ResponseFacts(
        exchange.status, dict(exchange.response_headers), exchange.response_body
    ).json()


class LedgerTraffic:
    """What the checks remember of the traffic so far, and the checks themselves."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, str], FirstAnswer] = {}
        self._walks: dict[tuple[str, str, str], set[str]] = {}
        self._events: dict[tuple[str, str], tuple[int, str]] = {}

    def judge(self, exchange: Exchange, operation: Operation | None) -> dict[str, list[Finding]]:
        """Per check that applied to the exchange, what it found (empty: it passed)."""
        facts = ResponseFacts(
            exchange.status, dict(exchange.response_headers), exchange.response_body
        )
        found: dict[str, list[Finding]] = {}
        for name, function in RESPONSE_CHECK_FUNCTIONS.items():
            problems = function(facts)
            if problems is not None:
                found[name] = [Finding(name, problem) for problem in problems]
        checks: list[tuple[str, Callable[[Exchange, Operation | None], list[str] | None]]] = [
            ("idempotent_replay", self._replay),
            ("pages_complete", self._page),
            ("event_sequence", self._event_order),
        ]
        for name, check in checks:
            problems = check(exchange, operation)
            if problems is not None:
                found[name] = [Finding(name, problem) for problem in problems]
        return found

    def _replay(self, exchange: Exchange, operation: Operation | None) -> list[str] | None:
        key = exchange.request_headers.get("idempotency-key")
        if exchange.method != "POST" or not key or exchange.status == 409 or exchange.status >= 500:
            return None
        who = exchange.request_headers.get("authorization", "")
        slot = (who, key, exchange.path)
        digest = hashlib.sha256(exchange.request_body).hexdigest()
        first = self._answers.get(slot)
        replayed = exchange.response_headers.get("idempotent-replayed", "").lower() == "true"
        if first is None:
            if not replayed:
                _remember(
                    self._answers,
                    slot,
                    FirstAnswer(digest, exchange.status, exchange.response_body),
                )
            return None
        if first.body_digest != digest:
            if 200 <= first.status < 300 and 200 <= exchange.status < 300:
                return [
                    f"the key {key!r} came back with another body and was answered "
                    f"{exchange.status}, not refused (422 idempotency.key_reused)"
                ]
            return []
        if not replayed:
            if 200 <= first.status < 300:
                return [
                    f"the key {key!r} with the same body was answered afresh "
                    f"({exchange.status}), not replayed with Idempotent-Replayed: true"
                ]
            return None
        if (exchange.status, exchange.response_body) != (first.status, first.body):
            return [
                f"the replay of key {key!r} answered {exchange.status} "
                f"{_excerpt(exchange.response_body)}; the first answer was {first.status} "
                f"{_excerpt(first.body)}"
            ]
        return []

    def _page(self, exchange: Exchange, operation: Operation | None) -> list[str] | None:
        if operation is None or not operation.is_cursor_list or exchange.status != 200:
            return None
        page = _document(exchange)
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            return None
        who = exchange.request_headers.get("authorization", "")
        params = dict(_query_items(exchange.query))
        cursor = params.pop("cursor", None)
        walk = (who, exchange.path, json.dumps(sorted(params.items())))
        ids = [str(item["id"]) for item in page["data"] if isinstance(item, dict) and "id" in item]
        problems = []
        seen = self._walks.pop((*walk[:2], f"{walk[2]}|{cursor}"), None) if cursor else set()
        if seen is not None:
            repeated = [item for item in ids if item in seen]
            if repeated:
                problems.append(
                    f"the page at cursor {cursor!r} repeats {', '.join(repeated[:5])} "
                    "from the pages before it"
                )
        next_cursor = page.get("next_cursor")
        if page.get("has_more") is True and not next_cursor:
            problems.append("has_more is true but next_cursor is empty")
        elif page.get("has_more") is True:
            _remember(
                self._walks, (*walk[:2], f"{walk[2]}|{next_cursor}"), (seen or set()) | set(ids)
            )
        return problems

    def _event_order(self, exchange: Exchange, operation: Operation | None) -> list[str] | None:
        if exchange.status != 200:
            return None
        who = exchange.request_headers.get("authorization", "")
        if exchange.is_stream:
            return self._stream(exchange, who)
        page = _document(exchange)
        if operation is None or "sequence" not in _item_properties(operation):
            return None
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            return None
        events = [
            e for e in page["data"] if isinstance(e, dict) and isinstance(e.get("sequence"), int)
        ]
        after = _integer(dict(_query_items(exchange.query)).get("after"))
        return self._rising(
            [(e["sequence"], str(e.get("id")), str(e.get("type"))) for e in events], after, who
        )

    def _stream(self, exchange: Exchange, who: str) -> list[str]:
        events = []
        for block in exchange.complete_body().decode("utf-8", "replace").split("\n\n"):
            fields = dict(_sse_field(line) for line in block.splitlines() if ":" in line[1:])
            sequence = _integer(fields.get("id"))
            if sequence is not None:
                document = _loads(fields.get("data", ""))
                event_id = str(document.get("id")) if isinstance(document, dict) else ""
                events.append((sequence, event_id, fields.get("event", "")))
        resume = exchange.request_headers.get("last-event-id")
        after = (
            _integer(resume)
            if resume
            else _integer(dict(_query_items(exchange.query)).get("after"))
        )
        return self._rising(events, after, who)

    def _rising(self, events: list[tuple[int, str, str]], after: int | None, who: str) -> list[str]:
        problems = []
        previous = after
        for sequence, event_id, event_type in events:
            if previous is not None and sequence <= previous:
                problems.append(f"event sequence {sequence} ({event_type}) follows {previous}")
            previous = sequence
            if event_id:
                known = self._events.get((who, event_id))
                if known is not None and known != (sequence, event_type):
                    problems.append(
                        f"event {event_id} was sequence {known[0]} ({known[1]}), "
                        f"now {sequence} ({event_type})"
                    )
                _remember(self._events, (who, event_id), (sequence, event_type))
        return problems[:5]


def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    if len(table) > MAX_REMEMBERED:
        del table[next(iter(table))]


def _item_properties(operation: Operation) -> set[str]:
    schema = operation.response_schema("200") or {}
    items = (schema.get("properties", {}).get("data") or {}).get("items") or {}
    return set(items.get("properties", {}))


def _query_items(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def _sse_field(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name, value[1:] if value.startswith(" ") else value


_DIGITS = re.compile(r"^\d+$")


def _integer(text: str | None) -> int | None:
    return int(text) if text and _DIGITS.match(text.strip()) else None


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."
