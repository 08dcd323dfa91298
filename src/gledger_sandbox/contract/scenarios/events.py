"""``event_sequence``: sequences strictly increase, and every write of the kit made its event.

The kit finds the head of the log before it writes (a search over ``after``: a cursor beyond
the last sequence is 400), makes one write of each kind the spec's ``EventType`` names (and
one refused write), then reads the log from that head in small pages: sequences rise strictly
with no repeats, ``next_after`` follows the page, each write's event is there (by type and
resource id) with the write's request id, in write order, and a view filtered by type is
exactly the unfiltered view's events of those types.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

from gledger_sandbox.contract.scenarios import Scenario, ScenarioBroken

CHECK = "event_sequence"
PAGE = 5
MAX_PAGES = 400
FILTERED = ("entry.created", "entry.posted")


@dataclass(frozen=True, slots=True)
class Write:
    """A write of the kit and the event it must have made."""

    event_type: str
    resource_id: str
    response: httpx.Response


def run(scenario: Scenario) -> None:
    scenario.require("listEvents")
    head = _head(scenario)
    writes = [w for w in _writes(scenario) if w.event_type in scenario.target.spec.event_types()]
    events, last = _read_from(scenario, head, None)
    if events is None:
        return
    problems = _sequence_problems(events) + _missing(writes, events)
    if problems:
        scenario.client.fail(CHECK, "; ".join(problems[:5]), last)
        return
    if set(FILTERED) <= scenario.target.spec.event_types():
        filtered, response = _read_from(scenario, head, ",".join(FILTERED))
        if filtered is None:
            return
        expected = [e["sequence"] for e in events if e["type"] in FILTERED]
        got = [e["sequence"] for e in filtered]
        if got[: len(expected)] != expected:
            scenario.client.fail(
                CHECK,
                f"the view filtered by types={','.join(FILTERED)} lists sequences {got[:12]}, "
                f"the unfiltered log has {expected[:12]} of those types",
                response,
            )
            return
    scenario.client.passed(CHECK, "listEvents")


def _valid_cursor(scenario: Scenario, after: int) -> bool:
    answer = scenario.client.get("/v1/events", params={"after": after, "limit": 1})
    if answer.status_code in (200, 410):
        return True
    if answer.status_code == 400:
        return False
    raise ScenarioBroken("reading the event log was refused", answer)


def _head(scenario: Scenario) -> int:
    """The last sequence of the log: beyond it ``after`` is 400, up to it 200 (or 410)."""
    first = scenario.expect(
        scenario.client.get("/v1/events", params={"after": 0, "limit": 500}),
        200,
        doing="reading the event log",
    )
    low = int(first["next_after"])
    if not first["has_more"]:
        return low
    high = max(2 * low, low + 1)
    while _valid_cursor(scenario, high):
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if _valid_cursor(scenario, middle):
            low = middle
        else:
            high = middle
    return low


def _writes(scenario: Scenario) -> list[Write]:
    """One write of each kind; their events must follow in this order."""
    client, books = scenario.client, scenario.books()
    made: list[Write] = []

    def write(event_type: str, response: httpx.Response, resource: str | None = None) -> Any:
        body = scenario.expect(response, 200, 201, doing=f"a write that emits {event_type}")
        made.append(Write(event_type, resource or body["id"], response))
        return body

    ledger = write("ledger.created", client.post("/v1/ledgers", json={"name": scenario.key("ev")}))
    write("ledger.updated", client.patch(f"/v1/ledgers/{ledger['id']}", json={"name": "renamed"}))
    account = write(
        "account.created",
        client.post(
            f"/v1/ledgers/{books.ledger_id}/accounts",
            json={"code": scenario.key("ev").replace("-", "_"), "name": "Events",
                  "kind": "asset", "currency": "USD"},
        ),
    )  # fmt: skip
    write("account.updated", client.patch(f"/v1/accounts/{account['id']}", json={"name": "x"}))
    lines = (("kit_cash", "debit", 55), ("kit_revenue", "credit", 55))
    posted = write("entry.created", client.post("/v1/entries", json=scenario.entry(*lines)))
    # An entry created posted emits entry.posted right after its entry.created.
    made.append(Write("entry.posted", posted["id"], made[-1].response))
    pending = write(
        "entry.created", client.post("/v1/entries", json=scenario.entry(*lines, status="pending"))
    )
    path = f"/v1/entries/{pending['id']}"
    write("entry.updated", client.patch(path, json={"metadata": {"kit": "events"}}))
    write("entry.posted", client.post(f"{path}/post"))
    voided = write(
        "entry.created", client.post("/v1/entries", json=scenario.entry(*lines, status="pending"))
    )
    write("entry.voided", client.post(f"/v1/entries/{voided['id']}/void"))
    unbalanced = scenario.entry(("kit_cash", "debit", 56), ("kit_revenue", "credit", 55))
    if client.post("/v1/entries", json=unbalanced).status_code != 422:
        raise ScenarioBroken("an unbalanced entry was not refused with 422")
    reversal = client.post(f"/v1/entries/{posted['id']}/reverse")
    reversing = write("entry.created", reversal)
    made.append(Write("entry.posted", reversing["id"], reversal))
    made.append(Write("entry.reversed", posted["id"], reversal))
    return made


def _read_from(
    scenario: Scenario, after: int, types: str | None
) -> tuple[list[dict[str, Any]] | None, httpx.Response]:
    """Events after ``after`` in small pages, checking ``next_after`` as it goes."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"after": after, "limit": PAGE}
    if types:
        params["types"] = types
    for _ in range(MAX_PAGES):
        response = scenario.client.get("/v1/events", params=params)
        page = scenario.expect(response, 200, doing="reading the event log")
        events += page["data"]
        expected_next = page["data"][-1]["sequence"] if page["data"] else params["after"]
        if page["next_after"] != expected_next:
            scenario.client.fail(
                CHECK,
                f"next_after is {page['next_after']}, the page ends at sequence {expected_next}",
                response,
            )
            return None, response
        if not page["has_more"]:
            return events, response
        params["after"] = page["next_after"]
    raise ScenarioBroken(f"the event log did not end after {MAX_PAGES} pages")


def _sequence_problems(events: list[dict[str, Any]]) -> list[str]:
    problems = []
    for earlier, later in itertools.pairwise(events):
        if later["sequence"] <= earlier["sequence"]:
            problems.append(
                f"sequence {later['sequence']} ({later['type']}) follows {earlier['sequence']}"
            )
    return problems


def _missing(writes: list[Write], events: list[dict[str, Any]]) -> list[str]:
    """Writes without their event, events without the write's request id, and order slips."""
    problems, position = [], -1
    for write in writes:
        request = write.response.request
        label = f"{request.method} {request.url.path}"
        matches = [
            i
            for i, event in enumerate(events)
            if event["type"] == write.event_type
            and isinstance(event.get("data"), dict)
            and event["data"].get("id") == write.resource_id
        ]
        if not matches:
            problems.append(f"{label} made no {write.event_type} event for {write.resource_id}")
            continue
        index = next((i for i in matches if i > position), None)
        if index is None:
            problems.append(
                f"the {write.event_type} event of {label} comes before the events of earlier writes"
            )
            continue
        position = index
        request_id = write.response.headers.get("x-gledger-request-id")
        if request_id and events[index].get("request_id") != request_id:
            problems.append(
                f"the {write.event_type} event of {label} carries request_id "
                f"{events[index].get('request_id')!r}, the write's was {request_id!r}"
            )
    return problems
