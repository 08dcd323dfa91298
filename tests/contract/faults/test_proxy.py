"""The fault proxy itself: each fault changes what it claims and nothing else; `none` changes nothing.

Every test reads the same thing twice, straight from the sandbox and through the proxy, and
compares the two answers field by field.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import Books, Sandbox, ServerThread, entry_body
from tests.contract.faults.faults import (
    ALL_SCOPES,
    Answer500,
    AuthBypass,
    TenantLeak,
    forged_secret,
    make_fault,
)
from tests.contract.faults.ledger_faults import AcceptReusedKey, DropEvent, RepeatItemBetweenPages
from tests.contract.faults.proxy import REQUEST_ID, Fault, fault_proxy

Through = Callable[[Fault], httpx.Client]
# Headers that differ between any two requests, proxy or not.
PER_REQUEST = {REQUEST_ID.lower(), "date"}


@pytest.fixture
def through(server: ServerThread, sandbox: Sandbox) -> Iterator[Through]:
    """Opens a proxy with the given fault in front of the server, and a client of the sandbox's tenant."""
    with ExitStack() as stack:

        def open_proxy(fault: Fault) -> httpx.Client:
            proxy = stack.enter_context(fault_proxy(server.url, fault))
            client = httpx.Client(
                base_url=proxy.url, headers=dict(sandbox.client.headers), timeout=30
            )
            return stack.enter_context(client)

        yield open_proxy


def differences(left: Any, right: Any, pointer: str = "") -> list[tuple[str, Any, Any]]:
    """The JSON pointers where two documents differ, with both values."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [
            found
            for key in sorted(left.keys() | right.keys())
            for found in differences(left.get(key), right.get(key), f"{pointer}/{key}")
        ]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            found
            for index, (a, b) in enumerate(zip(left, right, strict=True))
            for found in differences(a, b, f"{pointer}/{index}")
        ]
    return [] if left == right else [(pointer, left, right)]


def stable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [
        (k.lower(), v) for k, v in response.headers.multi_items() if k.lower() not in PER_REQUEST
    ]


def post_entry(sandbox: Sandbox, books: Books, amount: int) -> dict[str, Any]:
    body = entry_body(books, ("cash", "debit", amount), ("revenue", "credit", amount))
    created = sandbox.client.post("/v1/entries", json=body)
    assert created.status_code == 201, created.text
    entry: dict[str, Any] = created.json()
    return entry


def test_pass_through_changes_no_status_header_or_byte(
    sandbox: Sandbox, books: Books, through: Through
) -> None:
    post_entry(sandbox, books, 100)
    proxied = through(make_fault("none"))
    reads = [
        "/v1/ledgers",
        f"/v1/ledgers/{books.ledger_id}",
        "/v1/entries?limit=1&order=asc",
        f"/v1/ledgers/{books.ledger_id}/accounts?code=cash",
        "/v1/events?after=0&limit=3",
        "/v1/ledgers/ldg_unknown",
        "/v1/entries?limit=0",
    ]
    for path in reads:
        direct, relayed = sandbox.client.get(path), proxied.get(path)
        assert relayed.status_code == direct.status_code, path
        assert stable_headers(relayed) == stable_headers(direct), path
        if direct.is_success:
            assert relayed.content == direct.content, path
        else:
            assert differences(relayed.json(), direct.json()) == [
                ("/request_id", relayed.headers[REQUEST_ID], direct.headers[REQUEST_ID])
            ]


def test_pass_through_forwards_method_headers_and_body(
    sandbox: Sandbox, books: Books, through: Through
) -> None:
    body = entry_body(books, ("cash", "debit", 7), ("revenue", "credit", 7))
    key = {"Idempotency-Key": "through-1", "X-Correlation-Id": "proxy-test"}
    relayed = through(make_fault("none")).post("/v1/entries", json=body, headers=key)
    direct = sandbox.client.post("/v1/entries", json=body, headers=key)
    # The sandbox saw the same key and the same body: it replays what the proxy's request stored.
    assert relayed.status_code == direct.status_code == 201
    assert direct.headers["Idempotent-Replayed"] == "true" and direct.content == relayed.content
    assert relayed.headers["X-Correlation-Id"] == "proxy-test"


def test_server_sent_events_are_relayed(sandbox: Sandbox, books: Books, through: Through) -> None:
    streamed = through(make_fault("none")).get(
        "/v1/events/stream", params={"after": 0, "max_events": 2, "timeout": 5}
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    kinds = [line for line in streamed.text.splitlines() if line.startswith("event: ")]
    assert kinds == ["event: ledger.created", "event: account.created"]


def test_drop_request_id_removes_only_the_header(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    fault = make_fault("drop_request_id")
    path = f"/v1/ledgers/{books.ledger_id}"
    direct, relayed = sandbox.client.get(path), through(fault).get(path)
    assert REQUEST_ID in direct.headers and REQUEST_ID not in relayed.headers
    assert relayed.content == direct.content
    assert stable_headers(relayed) == stable_headers(direct)
    assert fault.hits == 1


def test_alter_line_amount_unbalances_entries_read_back(
    sandbox: Sandbox, books: Books, through: Through
) -> None:
    first, second = post_entry(sandbox, books, 100), post_entry(sandbox, books, 250)
    proxied = through(make_fault("alter_line_amount"))

    one = f"/v1/entries/{first['id']}"
    assert differences(proxied.get(one).json(), sandbox.client.get(one).json()) == [
        ("/lines/0/amount", 101, 100)
    ]
    page = "/v1/entries?order=asc"
    assert differences(proxied.get(page).json(), sandbox.client.get(page).json()) == [
        ("/data/0/lines/0/amount", 101, 100),
        ("/data/1/lines/0/amount", 251, 250),
    ]
    # Other reads, and the entry a write answers with, are left alone.
    ledger = f"/v1/ledgers/{books.ledger_id}"
    assert proxied.get(ledger).content == sandbox.client.get(ledger).content
    body = entry_body(books, ("cash", "debit", 5), ("revenue", "credit", 5))
    assert [line["amount"] for line in proxied.post("/v1/entries", json=body).json()["lines"]] == [
        5,
        5,
    ]
    assert second["lines"][0]["amount"] == 250


def test_balance_off_by_one_lies_about_one_account_every_time(
    sandbox: Sandbox, books: Books, through: Through
) -> None:
    post_entry(sandbox, books, 300)
    proxied = through(make_fault("balance_off_by_one"))
    cash = f"/v1/accounts/{books.accounts['cash']}/balance"
    for _ in range(2):
        assert differences(proxied.get(cash).json(), sandbox.client.get(cash).json()) == [
            ("/posted/amount", 301, 300),
            ("/posted/debits", 301, 300),
        ]
    revenue = f"/v1/accounts/{books.accounts['revenue']}/balance"
    assert proxied.get(revenue).content == sandbox.client.get(revenue).content


def walk(client: httpx.Client, path: str, limit: int) -> list[dict[str, Any]]:
    pages, params = [], {"limit": limit, "order": "asc"}
    while True:
        page = client.get(path, params=params).json()
        pages.append(page)
        if not page["has_more"]:
            return pages
        params = {**params, "cursor": page["next_cursor"]}


def test_skip_item_between_pages_drops_the_first_item_of_every_second_page(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    path = f"/v1/ledgers/{books.ledger_id}/accounts"
    direct = walk(sandbox.client, path, 2)
    relayed = walk(through(make_fault("skip_item_between_pages")), path, 2)
    assert len(direct) == len(relayed) == 3  # six accounts, two per page
    assert relayed[0] == direct[0] and relayed[2] == direct[2]
    assert relayed[1] == {**direct[1], "data": direct[1]["data"][1:]}
    # A new walk starts counting again: its first page is whole.
    assert walk(through(make_fault("skip_item_between_pages")), path, 6) == walk(
        sandbox.client, path, 6
    )


def test_different_replay_body_changes_one_field_of_replays_only(
    sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("different_replay_body"))
    key = {"Idempotency-Key": "ledger-replay"}
    first = proxied.post("/v1/ledgers", json={"name": "Replayed"}, headers=key)
    replayed = proxied.post("/v1/ledgers", json={"name": "Replayed"}, headers=key)
    assert first.status_code == replayed.status_code == 201
    assert differences(replayed.json(), first.json()) == [
        ("/metadata/replayed", "differently", None)
    ]
    honest = sandbox.client.post("/v1/ledgers", json={"name": "Replayed"}, headers=key)
    assert honest.content == first.content


def test_accept_reused_key_answers_the_original_201(sandbox: Sandbox, through: Through) -> None:
    fault = AcceptReusedKey()
    proxied = through(fault)
    key = {"Idempotency-Key": "ledger-reuse"}
    first = proxied.post("/v1/ledgers", json={"name": "First"}, headers=key)
    reused = proxied.post("/v1/ledgers", json={"name": "Second"}, headers=key)
    assert first.status_code == reused.status_code == 201 and reused.content == first.content
    assert reused.headers[REQUEST_ID] != first.headers[REQUEST_ID]
    refused = sandbox.client.post("/v1/ledgers", json={"name": "Second"}, headers=key)
    assert refused.status_code == 422 and refused.json()["code"] == "idempotency.key_reused"
    assert fault.hits == 1


def test_answer_500_breaks_one_operation(books: Books, sandbox: Sandbox, through: Through) -> None:
    proxied = through(Answer500("GET", r"^/v1/ledgers/[^/]+$"))
    broken = proxied.get(f"/v1/ledgers/{books.ledger_id}")
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["code"] == "internal_error"
    assert broken.json()["request_id"] == broken.headers[REQUEST_ID]
    assert proxied.get("/v1/ledgers").content == sandbox.client.get("/v1/ledgers").content


def test_drop_event_hides_one_event_from_every_page(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    fault = DropEvent("account.created")
    proxied = through(fault)
    direct = sandbox.client.get("/v1/events", params={"after": 0}).json()
    assert [e["type"] for e in direct["data"][:2]] == ["ledger.created", "account.created"]
    for _ in range(2):
        relayed = proxied.get("/v1/events", params={"after": 0}).json()
        assert relayed == {**direct, "data": [direct["data"][0], *direct["data"][2:]]}
    assert fault.dropped == direct["data"][1]
    later = proxied.get("/v1/events", params={"after": direct["data"][0]["sequence"]}).json()
    assert later["data"] == direct["data"][2:]


def test_plain_json_errors_strip_the_problem_of_its_type_and_code(
    sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("plain_json_errors"))
    relayed = proxied.get("/v1/ledgers/ldg_unknown")
    direct = sandbox.client.get("/v1/ledgers/ldg_unknown")
    assert relayed.status_code == direct.status_code == 404
    assert relayed.headers["content-type"] == "application/json"
    assert direct.headers["content-type"] == "application/problem+json"
    assert {pointer for pointer, _, _ in differences(relayed.json(), direct.json())} == {
        "/code",
        "/request_id",
    }
    assert proxied.get("/v1/ledgers").content == sandbox.client.get("/v1/ledgers").content


def test_auth_bypass_lets_anonymous_calls_in_as_the_tenant(
    server: ServerThread, sandbox: Sandbox
) -> None:
    fault = AuthBypass(sandbox.credentials["api_key"])
    with fault_proxy(server.url, fault) as proxy:
        anonymous = httpx.get(f"{proxy.url}/v1/ledgers")
        wrong_key = httpx.get(
            f"{proxy.url}/v1/ledgers", headers={"Authorization": "Bearer gls_not_a_key"}
        )
    assert anonymous.status_code == 200
    assert anonymous.content == sandbox.client.get("/v1/ledgers").content
    assert httpx.get(f"{server.url}/v1/ledgers").status_code == 401
    assert wrong_key.status_code == 401 and fault.hits == 1


def test_wrong_webhook_secret_shows_a_forged_secret_on_create_and_rotate(
    sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("wrong_webhook_secret"))
    key = {"Idempotency-Key": "hook-1"}
    body = {"url": "http://127.0.0.1:9/hooks", "event_types": ["ledger.created"]}
    shown = proxied.post("/v1/webhook-endpoints", json=body, headers=key).json()
    real = sandbox.client.post("/v1/webhook-endpoints", json=body, headers=key).json()
    assert differences(shown, real) == [("/secret", forged_secret(real["secret"]), real["secret"])]
    assert shown["secret"].startswith("whsec_")
    forged_key = base64.b64decode(shown["secret"].removeprefix("whsec_"))
    assert len(forged_key) == len(base64.b64decode(real["secret"].removeprefix("whsec_")))

    rotate = f"/v1/webhook-endpoints/{real['id']}/rotate-secret"
    rotated = proxied.post(rotate, json={}, headers={"Idempotency-Key": "rotate-1"}).json()
    truth = sandbox.client.post(rotate, json={}, headers={"Idempotency-Key": "rotate-1"}).json()
    assert rotated["secret"] == forged_secret(truth["secret"]) != truth["secret"]
    endpoint = f"/v1/webhook-endpoints/{real['id']}"
    assert proxied.get(endpoint).content == sandbox.client.get(endpoint).content


def test_drop_required_field_removes_has_more_or_id_from_successes(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("drop_required_field"))
    ledger = f"/v1/ledgers/{books.ledger_id}"
    page = sandbox.client.get("/v1/ledgers").json()
    assert differences(proxied.get("/v1/ledgers").json(), page) == [
        ("/has_more", None, page["has_more"])
    ]
    assert differences(proxied.get(ledger).json(), sandbox.client.get(ledger).json()) == [
        ("/id", None, books.ledger_id)
    ]
    assert "code" in proxied.get("/v1/ledgers/ldg_unknown").json()


def test_undocumented_status_turns_200_into_203_only(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("undocumented_status"))
    relayed, direct = proxied.get("/v1/ledgers"), sandbox.client.get("/v1/ledgers")
    assert (relayed.status_code, direct.status_code) == (203, 200)
    assert relayed.content == direct.content
    assert proxied.get("/v1/ledgers/ldg_unknown").status_code == 404
    assert proxied.post("/v1/ledgers", json={"name": "Still 201"}).status_code == 201


def test_mislabelled_json_labels_successes_text_plain(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("mislabelled_json"))
    relayed, direct = proxied.get("/v1/ledgers"), sandbox.client.get("/v1/ledgers")
    assert relayed.headers["content-type"] == "text/plain; charset=utf-8"
    assert direct.headers["content-type"] == "application/json"
    assert relayed.content == direct.content
    missing = proxied.get("/v1/ledgers/ldg_unknown")
    assert missing.headers["content-type"] == "application/problem+json"


def test_repeat_item_between_pages_shows_the_last_item_again(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    fault = RepeatItemBetweenPages()
    path = f"/v1/ledgers/{books.ledger_id}/accounts"
    direct, relayed = walk(sandbox.client, path, 2), walk(through(fault), path, 2)
    assert len(direct) == len(relayed) == 3
    assert relayed[0] == direct[0] and relayed[2] == direct[2]
    again = direct[0]["data"][-1]
    assert relayed[1] == {**direct[1], "data": [again, direct[1]["data"][0]]}
    assert fault.repeated == [again]


def test_events_out_of_order_swaps_the_first_two_events_of_a_page(
    books: Books, sandbox: Sandbox, through: Through
) -> None:
    proxied = through(make_fault("events_out_of_order"))
    direct = sandbox.client.get("/v1/events", params={"after": 0}).json()
    first, second, *rest = direct["data"]
    relayed = proxied.get("/v1/events", params={"after": 0}).json()
    assert relayed == {**direct, "data": [second, first, *rest]}
    short = {"after": 0, "limit": 2}  # the last event of a page stays last: short pages are left
    assert proxied.get("/v1/events", params=short).content == (
        sandbox.client.get("/v1/events", params=short).content
    )


def test_tenant_leak_serves_a_new_tenant_as_the_first(
    server: ServerThread, sandbox: Sandbox, books: Books
) -> None:
    fault = TenantLeak(sandbox.credentials["api_key"])
    with fault_proxy(server.url, fault) as proxy:
        created = httpx.post(f"{proxy.url}/v1/sandbox/tenants", json={"fixture": "empty"})
        other = {"Authorization": f"Bearer {created.json()['api_key']}"}
        seen = httpx.get(f"{proxy.url}/v1/ledgers", headers=other)
        deleted = httpx.delete(f"{proxy.url}/v1/sandbox/tenant", headers=other)
    assert created.status_code == 201
    assert seen.content == sandbox.client.get("/v1/ledgers").content  # the first tenant's books
    assert deleted.status_code in (200, 204)  # the new tenant deleted itself, not the first
    assert httpx.get(f"{server.url}/v1/ledgers", headers=other).status_code == 401
    assert sandbox.client.get(f"/v1/ledgers/{books.ledger_id}").status_code == 200
    assert fault.hits == 1


def test_scope_ignored_grants_every_scope(sandbox: Sandbox, through: Through) -> None:
    proxied = through(make_fault("scope_ignored"))
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.credentials["client_id"],
        "client_secret": sandbox.credentials["client_secret"],
        "scope": "ledger.read",
    }
    granted = proxied.post("/oauth/token", data=form).json()
    honest = sandbox.client.post("/oauth/token", data=form).json()
    assert (set(granted["scope"].split()), honest["scope"]) == (
        set(ALL_SCOPES.split()),
        "ledger.read",
    )
    reader = {"Authorization": f"Bearer {granted['access_token']}"}
    assert proxied.post("/v1/ledgers", json={"name": "Written"}, headers=reader).status_code == 201
