"""``operational_headers``: request ids, correlation ids and rate-limit headers keep their word.

- Request ids: a mix of answers (a list, a write, its replay, a 404, a 400, a 401, a 422)
  sent one after another and eight reads at once each carry an ``X-GLedger-Request-Id`` no
  other answer carried.
- Correlation ids: each of those requests sends its own ``X-Correlation-Id``; every answer,
  refusals included, echoes it, and the event of the write records it.
- Rate limits, when the target sends ``RateLimit`` / ``RateLimit-Policy`` (the IETF fields,
  ``"name";r=REMAINING;t=RESET`` and ``"name";q=QUOTA;w=WINDOW``): both come together, name the
  same policy, ``0 <= r <= q`` and ``0 <= t <= w``, ``r`` falls by one per request within a
  window, and a 429 carries ``Retry-After``. Without them the part is skipped, with the reason.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.scenarios import Scenario

CHECK = "operational_headers"
REQUEST_ID = "x-gledger-request-id"
CORRELATION = "x-correlation-id"
PARALLEL = 8
_ITEM = re.compile(r'^\s*"?([^";,]+)"?\s*;(.*)$')


@dataclass(frozen=True, slots=True)
class Sent:
    correlation_id: str
    response: httpx.Response


def run(scenario: Scenario) -> None:
    scenario.require("listLedgers", "createLedger", "createEntry")
    one_by_one = _a_mix(scenario)
    sent = one_by_one + _at_once(scenario)
    _request_ids(scenario, sent)
    _correlation(scenario, sent)
    _rate_limits(scenario, [s.response for s in one_by_one], [s.response for s in sent])


def _a_mix(scenario: Scenario) -> list[Sent]:
    client, sent = scenario.client, []
    key = scenario.key("ops")
    # Built first: opening the kit's books takes requests, which must not come in between.
    entry = scenario.entry(("kit_cash", "debit", 2), ("kit_revenue", "credit", 1))

    def send(
        method: str,
        path: str,
        via: KitClient = client,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        correlation_id = scenario.key("corr")
        headers = {CORRELATION: correlation_id, **(headers or {})}
        answer = via.request(method, path, headers=headers, **kwargs)
        sent.append(Sent(correlation_id, answer))
        return answer

    send("GET", "/v1/ledgers", params={"limit": 2})
    send("POST", "/v1/ledgers", json={"name": key}, headers={"Idempotency-Key": key})
    send("POST", "/v1/ledgers", json={"name": key}, headers={"Idempotency-Key": key})
    send("GET", "/v1/ledgers/kit_unknown_0000000000")
    send("GET", "/v1/ledgers", params={"limit": "many"})
    with KitClient(scenario.target, client.phase, None) as anonymous:
        send("GET", "/v1/ledgers", via=anonymous)
    send("POST", "/v1/entries", json=entry)
    return sent


def _at_once(scenario: Scenario) -> list[Sent]:
    client = scenario.client
    ids = [scenario.key("corr") for _ in range(PARALLEL)]

    def read(correlation_id: str) -> Sent:
        answer = client.get(
            "/v1/ledgers", params={"limit": 1}, headers={CORRELATION: correlation_id}
        )
        return Sent(correlation_id, answer)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(read, ids))


def _request_ids(scenario: Scenario, sent: list[Sent]) -> None:
    seen: dict[str, httpx.Response] = {}
    for one in sent:
        request_id = one.response.headers.get(REQUEST_ID)
        if not request_id:
            continue  # the request_id check reports a missing one
        if request_id in seen:
            earlier = seen[request_id].request
            scenario.client.fail(
                CHECK,
                f"request ids: {request_id} answered this request and "
                f"{earlier.method} {earlier.url.path} before it",
                one.response,
            )
            return
        seen[request_id] = one.response
    scenario.client.passed(CHECK, "request ids")


def _correlation(scenario: Scenario, sent: list[Sent]) -> None:
    for one in sent:
        echoed = one.response.headers.get(CORRELATION)
        if echoed != one.correlation_id:
            scenario.client.fail(
                CHECK,
                f"correlation: sent X-Correlation-Id {one.correlation_id!r}"
                f", the answer echoes {echoed!r}",
                one.response,
            )
            return
    write = next((s for s in sent if s.response.status_code == 201), None)
    if write is not None and scenario.target.spec.has("listEvents"):
        created = write.response.json()["id"]
        page = scenario.client.get(
            "/v1/events", params={"types": "ledger.created", "limit": 100, "after": 0}
        )
        events = [e for e in _all(scenario, page) if (e.get("data") or {}).get("id") == created]
        if events and events[0].get("correlation_id") != write.correlation_id:
            scenario.client.fail(
                CHECK,
                f"correlation: the ledger.created event of {created} "
                f"records correlation_id {events[0].get('correlation_id')!r}, "
                f"the write sent {write.correlation_id!r}",
                page,
            )
            return
    scenario.client.passed(CHECK, "correlation ids")


def _all(scenario: Scenario, first: httpx.Response) -> list[dict[str, Any]]:
    """The events of ``first`` and the pages after it (its query, ``after`` moving on)."""
    events: list[dict[str, Any]] = []
    page = scenario.expect(first, 200, doing="reading the event log")
    params = dict(first.request.url.params)
    for _ in range(100):
        events += page["data"]
        if not page["has_more"]:
            break
        params["after"] = page["next_after"]
        page = scenario.expect(
            scenario.client.get("/v1/events", params=params), 200, doing="reading the event log"
        )
    return events


def _fields(text: str) -> tuple[str, dict[str, int]] | None:
    """A policy name and its integer parameters from one IETF RateLimit item, or None."""
    found = _ITEM.match(text)
    if not found:
        return None
    values = {}
    for part in found.group(2).split(";"):
        name, _, value = part.strip().partition("=")
        if not value.strip().lstrip("-").isdigit():
            return None
        values[name] = int(value)
    return found.group(1), values


def _rate_limits(
    scenario: Scenario, one_by_one: list[httpx.Response], responses: list[httpx.Response]
) -> None:
    with_headers = [
        r for r in responses if "ratelimit" in r.headers or "ratelimit-policy" in r.headers
    ]
    if not with_headers:
        scenario.target.results.skip(
            scenario.client.phase,
            CHECK,
            "rate limits",
            "the target sent no RateLimit headers (rate limits off)",
        )
        return
    previous: tuple[str, int, int] | None = None  # credential, remaining, reset
    for response in responses:
        problem = _consistent(response)
        if problem:
            scenario.client.fail(CHECK, f"rate limits: {problem}", response)
            return
    for response in one_by_one:
        problem = None
        if response.status_code != 429:
            _, limit = _fields(response.headers["ratelimit"]) or ("", {})
            who = response.request.headers.get("authorization", "")
            now = (who, limit.get("r", 0), limit.get("t", 0))
            if (
                previous
                and previous[0] == who
                and now[2] <= previous[2]
                and now[1] != previous[1] - 1
            ):
                problem = (
                    f"RateLimit remaining went from {previous[1]} to {now[1]} within one "
                    "window (one request uses one)"
                )
            previous = now if who else previous
        if problem:
            scenario.client.fail(CHECK, f"rate limits: {problem}", response)
            return
    scenario.client.passed(CHECK, "rate limits")


def _consistent(response: httpx.Response) -> str | None:
    limit_text = response.headers.get("ratelimit")
    policy_text = response.headers.get("ratelimit-policy")
    if limit_text is None or policy_text is None:
        return "RateLimit and RateLimit-Policy must come together"
    limit, policy = _fields(limit_text), _fields(policy_text)
    if limit is None or policy is None:
        return f"cannot read RateLimit {limit_text!r} / RateLimit-Policy {policy_text!r}"
    (name, values), (policy_name, quota) = limit, policy
    r, t, q, w = values.get("r"), values.get("t"), quota.get("q"), quota.get("w")
    if name != policy_name:
        return f"RateLimit names policy {name!r}, RateLimit-Policy {policy_name!r}"
    if None in (r, t, q) or not 0 <= r <= q or not 0 <= t <= (w if w is not None else t):  # type: ignore[operator]
        return f"RateLimit {limit_text!r} does not fit RateLimit-Policy {policy_text!r}"
    if response.status_code == 429 and "retry-after" not in response.headers:
        return "a 429 without Retry-After"
    return None
