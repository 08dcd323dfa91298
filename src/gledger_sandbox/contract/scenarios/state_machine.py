"""``entry_state_machine``: entries move ``pending -> posted | voided`` once, and only so.

On the kit's own books:

- a posted and a voided entry refuse a change of anything but metadata (and read back
  unchanged), while a metadata change is accepted;
- a pending entry resolves once: posted, it can be neither posted nor voided again; voided,
  neither posted nor voided again (each refusal leaves it as it was);
- a reversal reverses once: the reversing entry links ``reverses`` to the original, the
  original links ``reversed_by`` back, and a second reversal is refused;
- an unbalanced entry and one whose line currency is not its account's are refused with 422
  and leave nothing: no entry with their external id, no change to the accounts' balances, and
  no event about the kit's ledger.
"""

from __future__ import annotations

from typing import Any

import httpx

from gledger_sandbox.contract.scenarios import Scenario
from gledger_sandbox.contract.scenarios.events import _head

CHECK = "entry_state_machine"
STABLE = ("status", "description", "lines", "effective_at", "posted_at", "voided_at")
"""What a refused change must leave as it was."""


def run(scenario: Scenario) -> None:
    scenario.require("createEntry", "getEntry", "updateEntry", "postEntry", "voidEntry")
    _immutable(scenario)
    _resolves_once(scenario)
    if scenario.target.spec.has("reverseEntry"):
        _reverses_once(scenario)
    _refused_leaves_nothing(scenario)


def _fail(scenario: Scenario, part: str, message: str, response: httpx.Response) -> None:
    scenario.client.fail(CHECK, f"{part}: {message}", response)


def _read(scenario: Scenario, entry_id: str) -> dict[str, Any]:
    answer = scenario.client.get(f"/v1/entries/{entry_id}")
    result: dict[str, Any] = scenario.expect(answer, 200, doing="reading an entry back")
    return result


def _unchanged(scenario: Scenario, before: dict[str, Any], part: str, after_what: str) -> bool:
    """Whether the entry reads back as ``before`` on every field a refusal must keep."""
    after = _read(scenario, before["id"])
    changed = [name for name in STABLE if after.get(name) != before.get(name)]
    if changed:
        response = scenario.client.get(f"/v1/entries/{before['id']}")
        _fail(scenario, part, f"{after_what}, entry {before['id']} changed its {changed}", response)
        return False
    return True


def _immutable(scenario: Scenario) -> None:
    client = scenario.client
    posted = scenario.post_entry(("kit_cash", "debit", 410), ("kit_revenue", "credit", 410))
    pending = scenario.post_entry(
        ("kit_cash", "debit", 420), ("kit_revenue", "credit", 420), status="pending"
    )
    voided = scenario.expect(
        client.post(f"/v1/entries/{pending['id']}/void"), 200, doing="voiding a pending entry"
    )
    other_lines = scenario.entry(("kit_cash", "debit", 999), ("kit_revenue", "credit", 999))
    ok = True
    for entry in (posted, voided):
        path = f"/v1/entries/{entry['id']}"
        for change in (
            {"description": "changed by the kit"},
            {"effective_at": "2020-01-01T00:00:00Z"},
            {"lines": other_lines["lines"]},
        ):
            answer = client.patch(path, json=change)
            if answer.is_success:
                _fail(
                    scenario,
                    "immutable",
                    f"a {entry['status']} entry accepted the change "
                    f"{change} (only metadata may change)",
                    answer,
                )
                ok = False
            ok &= _unchanged(scenario, entry, "immutable", f"after PATCH {change}")
        answer = client.patch(path, json={"metadata": {"kit": scenario.tag}})
        if not answer.is_success or answer.json().get("metadata") != {"kit": scenario.tag}:
            _fail(
                scenario,
                "immutable",
                f"a {entry['status']} entry refused a metadata change",
                answer,
            )
            ok = False
    if ok:
        client.passed(CHECK, "updateEntry")


def _resolves_once(scenario: Scenario) -> None:
    client = scenario.client
    ok = True
    for first, then in (("post", ("post", "void")), ("void", ("void", "post"))):
        pending = scenario.post_entry(
            ("kit_cash", "debit", 430), ("kit_revenue", "credit", 430), status="pending"
        )
        path = f"/v1/entries/{pending['id']}"
        resolved = scenario.expect(client.post(f"{path}/{first}"), 200, doing=f"{first}ing")
        expected = "posted" if first == "post" else "voided"
        if resolved["status"] != expected:
            _fail(
                scenario,
                "resolves_once",
                f"{first} answered status {resolved['status']!r}",
                client.get(path),
            )
            ok = False
        for again in then:
            answer = client.post(f"{path}/{again}")
            if answer.is_success:
                _fail(
                    scenario,
                    "resolves_once",
                    f"a {expected} entry was {again}ed again (a pending entry resolves once)",
                    answer,
                )
                ok = False
            ok &= _unchanged(scenario, resolved, "resolves_once", f"after {again} of a {expected}")
    if ok:
        client.passed(CHECK, "postEntry")


def _reverses_once(scenario: Scenario) -> None:
    client = scenario.client
    original = scenario.post_entry(("kit_cash", "debit", 440), ("kit_revenue", "credit", 440))
    path = f"/v1/entries/{original['id']}"
    answer = client.post(f"{path}/reverse")
    reversal = scenario.expect(answer, 200, 201, doing="reversing an entry")
    ok = True
    if (reversal.get("links") or {}).get("reverses") != original["id"]:
        _fail(
            scenario,
            "reverses_once",
            f"the reversal {reversal['id']} does not link reverses={original['id']}",
            answer,
        )
        ok = False
    swapped = {(ln["account_id"], ln["direction"], ln["amount"]) for ln in original["lines"]}
    mirrored = {
        (ln["account_id"], "credit" if ln["direction"] == "debit" else "debit", ln["amount"])
        for ln in reversal["lines"]
    }
    if swapped != mirrored:
        _fail(
            scenario,
            "reverses_once",
            "the reversal's lines are not the original's with directions swapped",
            answer,
        )
        ok = False
    back = client.get(path)
    if (back.json().get("links") or {}).get("reversed_by") != reversal["id"]:
        _fail(
            scenario,
            "reverses_once",
            f"the reversed entry does not link reversed_by={reversal['id']}",
            back,
        )
        ok = False
    again = client.post(f"{path}/reverse")
    if again.is_success:
        _fail(scenario, "reverses_once", "an entry was reversed a second time", again)
        ok = False
    if ok:
        client.passed(CHECK, "reverseEntry")


def _balances(scenario: Scenario, codes: tuple[str, ...]) -> dict[str, Any]:
    books = scenario.books()
    found = {}
    for code in codes:
        answer = scenario.client.get(f"/v1/accounts/{books.accounts[code]}/balance")
        found[code] = scenario.expect(answer, 200, doing="reading a balance")
    return found


def _refused_leaves_nothing(scenario: Scenario) -> None:
    client, books = scenario.client, scenario.books()
    codes = ("kit_cash", "kit_revenue", "kit_cash_eur")
    head = _head(scenario) if scenario.target.spec.has("listEvents") else None
    before = _balances(scenario, codes)
    refused = {
        "unbalanced": (("kit_cash", "debit", 450), ("kit_revenue", "credit", 449)),
        "currency_mismatch": (("kit_cash_eur", "debit", 460), ("kit_revenue", "credit", 460)),
    }
    ok = True
    last: httpx.Response | None = None
    for what, lines in refused.items():
        external_id = scenario.key(what)
        body = scenario.entry(*lines, external_id=external_id)
        if what == "currency_mismatch":
            body["lines"][0]["currency"] = "USD"
        last = answer = client.post("/v1/entries", json=body)
        if answer.status_code != 422:
            _fail(
                scenario,
                "refused",
                f"an entry {what.replace('_', ' ')} must be refused with 422",
                answer,
            )
            ok = False
        listed = client.get(
            "/v1/entries", params={"ledger_id": books.ledger_id, "external_id": external_id}
        )
        if listed.status_code == 200 and listed.json()["data"]:
            _fail(
                scenario,
                "refused",
                f"the refused {what} entry exists all the same (external_id {external_id})",
                listed,
            )
            ok = False
    after = _balances(scenario, codes)
    for code in codes:
        kept = ("lock_version", "posted", "pending", "available")
        if any(before[code][k] != after[code][k] for k in kept):
            response = client.get(f"/v1/accounts/{books.accounts[code]}/balance")
            _fail(
                scenario,
                "refused",
                f"refused entries moved the balance of {code}: {before[code]} became {after[code]}",
                response,
            )
            ok = False
    if head is not None:
        ok &= _no_events_since(scenario, head, books.ledger_id)
    if ok and last is not None:
        client.passed(CHECK, "createEntry")


def _no_events_since(scenario: Scenario, head: int, ledger_id: str) -> bool:
    answer = scenario.client.get("/v1/events", params={"after": head, "limit": 100})
    page = scenario.expect(answer, 200, doing="reading the event log")
    about = [
        event
        for event in page["data"]
        if isinstance(event.get("data"), dict) and event["data"].get("ledger_id") == ledger_id
    ]
    if about:
        kinds = ", ".join(f"{e['type']} {e['data'].get('id')}" for e in about[:3])
        _fail(scenario, "refused", f"refused entries made events: {kinds}", answer)
        return False
    return True
