"""The kit's checks of one response, whatever sent it: request id, problem+json, balanced entries.

Each check is a plain function of ``ResponseFacts`` returning the problems it found (empty when
the response is right), or None when the response holds nothing it checks (a 2xx for
``problem_json``, a body without entries for ``entries_balance``): such a response is not
counted as a pass, so a check that never met its data is reported skipped, never passed. The
scripted scenarios apply them to every response they get; the fuzz and stateful phases apply
them through ``SCHEMATHESIS_CHECKS``, the same functions wrapped as schemathesis checks. They
are passed to each validation rather than registered with ``@schemathesis.check``, which would
impose them on every schemathesis run in the process (a partner's own schemathesis tests beside
the pytest plugin, say).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

REQUEST_ID_HEADER = "x-gledger-request-id"


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """What the checks read of a response: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    decoded: Callable[[], Any] | None = None
    """The body already parsed by whoever holds the response (schemathesis keeps its parse), so
    a large body is not decoded again for each check."""

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        if not self.body or not (
            self.media_type == "application/json" or self.media_type.endswith("+json")
        ):
            return None
        try:
            return self.decoded() if self.decoded is not None else json.loads(self.body)
        except ValueError:
            return None

    @classmethod
    def of_httpx(cls, response: httpx.Response) -> ResponseFacts:
        headers = {name.lower(): value for name, value in response.headers.items()}
        return cls(response.status_code, headers, response.content)

    @classmethod
    def of_schemathesis(cls, response: Any) -> ResponseFacts:
        headers = {name.lower(): ", ".join(values) for name, values in response.headers.items()}
        return cls(response.status_code, headers, response.content or b"", response.json)


def request_id(facts: ResponseFacts) -> list[str] | None:
    """Every response carries a non-empty ``X-GLedger-Request-Id``."""
    if facts.headers.get(REQUEST_ID_HEADER, "").strip():
        return []
    return [f"the {facts.status} response has no X-GLedger-Request-Id header"]


def problem_json(facts: ResponseFacts) -> list[str] | None:
    """A 4xx/5xx is ``application/problem+json`` with a ``code`` and the header's request id."""
    if facts.status < 400:
        return None
    if facts.media_type != "application/problem+json":
        shown = facts.media_type or "no Content-Type"
        return [f"the {facts.status} response is {shown}, not application/problem+json"]
    problem = facts.json()
    if not isinstance(problem, dict):
        return [f"the {facts.status} problem+json body is not a JSON object"]
    found = []
    if not isinstance(problem.get("code"), str) or not problem["code"]:
        found.append(f"the {facts.status} problem has no machine-readable `code`")
    header = facts.headers.get(REQUEST_ID_HEADER)
    # A replayed answer is the stored one, byte for byte: its request_id is the first request's.
    replayed = facts.headers.get("idempotent-replayed", "").lower() == "true"
    if header and not replayed and problem.get("request_id") != header:
        found.append(
            f"the problem's request_id {problem.get('request_id')!r} is not the "
            f"X-GLedger-Request-Id header {header!r}"
        )
    return found


def _entries(document: Any) -> Iterator[dict[str, Any]]:
    """Every entry in a JSON document: an object whose ``lines`` carry directions and amounts."""
    if isinstance(document, list):
        for item in document:
            yield from _entries(item)
    elif isinstance(document, dict):
        lines = document.get("lines")
        if (
            isinstance(lines, list)
            and lines
            and all(isinstance(line, dict) and "direction" in line for line in lines)
        ):
            yield document
        for value in document.values():
            yield from _entries(value)


def unbalanced(entry: Mapping[str, Any]) -> list[str]:
    """Per currency, debits differ from credits: one message per such currency."""
    sides: dict[str, dict[str, int]] = defaultdict(lambda: {"debit": 0, "credit": 0})
    for line in entry["lines"]:
        amount = line.get("amount")
        if line.get("direction") in ("debit", "credit") and isinstance(amount, int):
            sides[str(line.get("currency"))][line["direction"]] += amount
    return [
        f"entry {entry.get('id', '?')}: {currency} debits {side['debit']} != credits "
        f"{side['credit']}"
        for currency, side in sorted(sides.items())
        if side["debit"] != side["credit"]
    ]


def entries_balance(facts: ResponseFacts) -> list[str] | None:
    """Every entry read back balances per currency (an entry, a page, a batch, an event...)."""
    entries = list(_entries(facts.json())) if facts.status < 400 else []
    if not entries:
        return None
    return [problem for entry in entries for problem in unbalanced(entry)]


RESPONSE_CHECK_FUNCTIONS: dict[str, Callable[[ResponseFacts], list[str] | None]] = {
    "request_id": request_id,
    "problem_json": problem_json,
    "entries_balance": entries_balance,
}


NOT_APPLICABLE = object()
"""What a kit check wrapped for schemathesis returns for a response it has nothing to check in."""


def _as_schemathesis_check(name: str) -> Callable[[Any, Any, Any], object]:
    function = RESPONSE_CHECK_FUNCTIONS[name]

    def check(ctx: Any, response: Any, case: Any) -> object:
        problems = function(ResponseFacts.of_schemathesis(response))
        if problems is None:
            return NOT_APPLICABLE
        if problems:
            raise AssertionError("; ".join(problems))
        return None

    check.__name__ = name  # schemathesis names a check's failures after its function
    return check


SCHEMATHESIS_CHECKS = {name: _as_schemathesis_check(name) for name in RESPONSE_CHECK_FUNCTIONS}
