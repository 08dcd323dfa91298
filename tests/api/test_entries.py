"""Entries end to end over real HTTP: create, list with filters, change, post, void, reverse, batch."""

from __future__ import annotations

import time

from tests.conftest import Books, Sandbox, entry_body


def _balance(sandbox: Sandbox, account_id: str, **params: str) -> dict:  # type: ignore[type-arg]
    response = sandbox.client.get(f"/v1/accounts/{account_id}/balance", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_posted_entry_moves_balances_and_shows_on_the_statement(
    sandbox: Sandbox, books: Books
) -> None:
    body = entry_body(
        books,
        ("cash", "debit", 10800),
        ("revenue", "credit", 10000),
        ("tax", "credit", 800),
        source_type="invoice",
        source_id="in_1",
        external_id="inv-1",
    )
    created = sandbox.client.post("/v1/entries", json=body)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["status"] == "posted" and entry["posted_at"] is not None
    assert [line["account_code"] for line in entry["lines"]] == ["cash", "revenue", "tax"]
    cash = _balance(sandbox, books.accounts["cash"])
    assert cash["posted"] == {"debits": 10800, "credits": 0, "amount": 10800}
    assert cash["lock_version"] == 1
    revenue = _balance(sandbox, books.accounts["revenue"])
    assert revenue["posted"]["amount"] == 10000
    lines = sandbox.client.get(f"/v1/accounts/{books.accounts['cash']}/lines").json()
    assert [(l["entry_id"], l["balance_after"]) for l in lines["data"]] == [(entry["id"], 10800)]
    per_code = sandbox.client.get(
        f"/v1/ledgers/{books.ledger_id}/balances", params={"currency": "USD"}
    ).json()
    assert {b["code"]: b["balance"] for b in per_code["data"]}["tax"] == 800
    assert sandbox.client.get(f"/v1/entries/{entry['id']}").json() == entry


def test_list_filters(sandbox: Sandbox, books: Books) -> None:
    post = sandbox.client.post
    a = post(
        "/v1/entries",
        json=entry_body(
            books,
            ("cash", "debit", 5),
            ("revenue", "credit", 5),
            source_type="checkout_session",
            source_id="cs_1",
            effective_at="2026-01-10T00:00:00Z",
        ),
    ).json()
    b = post(
        "/v1/entries",
        json=entry_body(
            books,
            ("cash_eur", "debit", 7),
            ("revenue_eur", "credit", 7),
            status="pending",
            external_id="x-7",
            effective_at="2026-02-10T00:00:00Z",
        ),
    ).json()

    def ids(**params: str) -> list[str]:
        response = sandbox.client.get("/v1/entries", params=params)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["data"]]

    assert ids(ledger_id=books.ledger_id) == [b["id"], a["id"]]
    assert ids(ledger_id=books.ledger_id, order="asc") == [a["id"], b["id"]]
    assert ids(account_id=books.accounts["cash_eur"]) == [b["id"]]
    assert ids(status="pending") == [b["id"]]
    assert ids(source_type="checkout_session", source_id="cs_1") == [a["id"]]
    assert ids(external_id="x-7") == [b["id"]]
    assert ids(effective_from="2026-02-01T00:00:00Z") == [b["id"]]
    assert ids(effective_to="2026-02-01T00:00:00Z") == [a["id"]]
    assert ids(ledger_id="ldg_unknown") == []


def test_pagination_over_http_is_stable_under_inserts(sandbox: Sandbox, books: Books) -> None:
    for _ in range(7):
        sandbox.client.post(
            "/v1/entries", json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1))
        )
    seen, cursor = [], None
    while True:
        params = {"limit": "3", "order": "asc", **({"cursor": cursor} if cursor else {})}
        page = sandbox.client.get("/v1/entries", params=params).json()
        seen += [e["id"] for e in page["data"]]
        sandbox.client.post(
            "/v1/entries", json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1))
        )
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) and len(seen) >= 7


def test_pending_entry_lifecycle(sandbox: Sandbox, books: Books) -> None:
    body = entry_body(books, ("cash", "debit", 300), ("revenue", "credit", 300), status="pending")
    entry = sandbox.client.post("/v1/entries", json=body).json()
    assert _balance(sandbox, books.accounts["cash"])["pending"]["amount"] == 300
    assert _balance(sandbox, books.accounts["cash"])["posted"]["amount"] == 0
    changed = sandbox.client.patch(
        f"/v1/entries/{entry['id']}", json={"description": "Held", "version": 1}
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = sandbox.client.patch(
        f"/v1/entries/{entry['id']}", json={"description": "x", "version": 1}
    )
    assert stale.status_code == 409 and stale.json()["code"] == "conflict.version_mismatch"
    posted = sandbox.client.post(f"/v1/entries/{entry['id']}/post")
    assert posted.status_code == 200 and posted.json()["status"] == "posted"
    assert _balance(sandbox, books.accounts["cash"])["posted"]["amount"] == 300
    again = sandbox.client.post(f"/v1/entries/{entry['id']}/void")
    assert again.status_code == 409 and again.json()["code"] == "entry.invalid_transition"


def test_posted_entries_are_immutable_except_metadata(sandbox: Sandbox, books: Books) -> None:
    entry = sandbox.client.post(
        "/v1/entries", json=entry_body(books, ("cash", "debit", 9), ("revenue", "credit", 9))
    ).json()
    lines = [
        {"account_id": books.accounts["cash"], "direction": "debit", "amount": 10},
        {"account_id": books.accounts["revenue"], "direction": "credit", "amount": 10},
    ]
    refused = sandbox.client.patch(f"/v1/entries/{entry['id']}", json={"lines": lines})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "entry.immutable" and problem["errors"][0]["pointer"] == "/lines"
    assert sandbox.client.get(f"/v1/entries/{entry['id']}").json()["lines"] == entry["lines"]
    ok = sandbox.client.patch(f"/v1/entries/{entry['id']}", json={"metadata": {"reviewed": "yes"}})
    assert ok.status_code == 200 and ok.json()["metadata"] == {"reviewed": "yes"}


def test_reverse_links_both_ways_once(sandbox: Sandbox, books: Books) -> None:
    entry = sandbox.client.post(
        "/v1/entries", json=entry_body(books, ("cash", "debit", 40), ("revenue", "credit", 40))
    ).json()
    reversal = sandbox.client.post(
        f"/v1/entries/{entry['id']}/reverse", json={"description": "Mistake"}
    )
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["links"]["reverses"] == entry["id"]
    assert (
        sandbox.client.get(f"/v1/entries/{entry['id']}").json()["links"]["reversed_by"]
        == reversal.json()["id"]
    )
    assert _balance(sandbox, books.accounts["cash"])["posted"] == {
        "debits": 40,
        "credits": 40,
        "amount": 0,
    }
    twice = sandbox.client.post(f"/v1/entries/{entry['id']}/reverse")
    assert twice.status_code == 409 and twice.json()["code"] == "entry.already_reversed"


def test_respond_async_accepts_then_posts(sandbox: Sandbox, books: Books) -> None:
    body = entry_body(books, ("cash", "debit", 77), ("revenue", "credit", 77))
    accepted = sandbox.client.post("/v1/entries", json=body, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Preference-Applied"] == "respond-async"
    assert accepted.json()["status"] == "pending"
    deadline = time.monotonic() + 10
    while sandbox.client.get(f"/v1/entries/{accepted.json()['id']}").json()["status"] != "posted":
        assert time.monotonic() < deadline, "the accepted entry never posted"
        time.sleep(0.05)
    assert _balance(sandbox, books.accounts["cash"])["posted"]["amount"] == 77


def test_insufficient_funds_and_lock_version(sandbox: Sandbox, books: Books) -> None:
    spend = entry_body(books, ("wallet", "debit", 5), ("cash", "credit", 5))
    refused = sandbox.client.post("/v1/entries", json=spend)
    assert refused.status_code == 422 and refused.json()["code"] == "insufficient_funds"
    body = entry_body(books, ("cash", "debit", 5), ("revenue", "credit", 5))
    body["lines"][0]["lock_version"] = 3
    stale = sandbox.client.post("/v1/entries", json=body)
    assert (
        stale.status_code == 409 and stale.json()["errors"][0]["pointer"] == "/lines/0/lock_version"
    )


def test_atomic_batch_all_or_nothing_and_per_item_results(sandbox: Sandbox, books: Books) -> None:
    good = entry_body(books, ("cash", "debit", 2), ("revenue", "credit", 2))
    bad = entry_body(books, ("cash", "debit", 2), ("revenue", "credit", 1))
    refused = sandbox.client.post("/v1/entries/batch", json={"entries": [good, good, bad]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/entries/2/lines"
    assert sandbox.client.get("/v1/entries").json()["data"] == []
    each = sandbox.client.post(
        "/v1/entries/batch", json={"atomic": False, "entries": [good, bad, good]}
    )
    assert each.status_code == 200
    assert [r["status"] for r in each.json()["results"]] == [201, 422, 201]
    assert each.json()["results"][1]["error"]["errors"][0]["pointer"] == "/entries/1/lines"
    created = sandbox.client.post("/v1/entries/batch", json={"entries": [good, good]})
    assert created.status_code == 201 and len(created.json()["data"]) == 2
    assert _balance(sandbox, books.accounts["cash"])["posted"]["amount"] == 8


def test_batch_items_share_idempotency_keys_with_single_creates(
    sandbox: Sandbox, books: Books
) -> None:
    single = entry_body(books, ("cash", "debit", 3), ("revenue", "credit", 3))
    first = sandbox.client.post("/v1/entries", json=single, headers={"Idempotency-Key": "item-1"})
    batch = {
        "entries": [
            {**single, "idempotency_key": "item-1"},
            {
                **entry_body(books, ("cash", "debit", 4), ("revenue", "credit", 4)),
                "idempotency_key": "item-2",
            },
        ]
    }
    done = sandbox.client.post("/v1/entries/batch", json=batch)
    assert done.status_code == 201, done.text
    assert done.json()["data"][0] == first.json()
    again = sandbox.client.post(
        "/v1/entries", json=batch["entries"][1] | {}, headers={"Idempotency-Key": "item-2"}
    )
    assert again.status_code == 400  # idempotency_key is no field of a single create
    assert again.json()["errors"][0]["pointer"] == "/idempotency_key"
    replay = sandbox.client.post(
        "/v1/entries",
        json=entry_body(books, ("cash", "debit", 4), ("revenue", "credit", 4)),
        headers={"Idempotency-Key": "item-2"},
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == done.json()["data"][1]
    assert _balance(sandbox, books.accounts["cash"])["posted"]["amount"] == 7
