"""A page holds each entry's bytes as its own answer gives them, after every kind of change.

Pages reuse each entry's encoded JSON until the entry changes (``serializers.encoded``): every
change a client can make must show on the next page read, byte for byte, metadata key order
included (equal dicts in another order are other bytes).
"""

from __future__ import annotations

from tests.conftest import Books, Sandbox, entry_body


def _page_of(sandbox: Sandbox, books: Books, external_id: str) -> bytes:
    response = sandbox.client.get(
        "/v1/entries", params={"ledger_id": books.ledger_id, "external_id": external_id}
    )
    assert response.status_code == 200, response.text
    return response.content


def _alone(answer: bytes) -> bytes:
    return b'{"data":[' + answer + b'],"has_more":false,"next_cursor":null}'


def test_every_change_of_an_entry_shows_on_the_next_page(sandbox: Sandbox, books: Books) -> None:
    body = entry_body(
        books,
        ("cash", "debit", 300),
        ("revenue", "credit", 300),
        status="pending",
        external_id="enc-1",
        metadata={"a": "1", "b": "2"},
    )
    created = sandbox.client.post("/v1/entries", json=body)
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]
    assert _page_of(sandbox, books, "enc-1") == _alone(created.content)
    assert _page_of(sandbox, books, "enc-1") == _alone(created.content)  # read again: kept
    path = f"/v1/entries/{entry_id}"
    reordered = sandbox.client.patch(path, json={"metadata": {"b": "2", "a": "1"}})
    assert reordered.status_code == 200 and b'{"b":"2","a":"1"}' in reordered.content
    assert _page_of(sandbox, books, "enc-1") == _alone(reordered.content)
    lines = [
        {"account_id": books.accounts["cash"], "direction": "debit", "amount": 400},
        {"account_id": books.accounts["revenue"], "direction": "credit", "amount": 400},
    ]
    relined = sandbox.client.patch(path, json={"lines": lines, "description": "Held"})
    assert relined.status_code == 200, relined.text
    assert _page_of(sandbox, books, "enc-1") == _alone(relined.content)
    renamed = sandbox.client.patch(path, json={"external_id": "enc-2"})
    assert renamed.status_code == 200, renamed.text
    assert _page_of(sandbox, books, "enc-1") == b'{"data":[],"has_more":false,"next_cursor":null}'
    assert _page_of(sandbox, books, "enc-2") == _alone(renamed.content)
    posted = sandbox.client.post(f"{path}/post")
    assert posted.status_code == 200, posted.text
    assert _page_of(sandbox, books, "enc-2") == _alone(posted.content)
    reversal = sandbox.client.post(f"{path}/reverse", json={"description": "Mistake"})
    assert reversal.status_code == 201, reversal.text
    assert sandbox.client.get(path).content in _page_of(sandbox, books, "enc-2")
    assert b'"reversed_by":"' + reversal.json()["id"].encode() in _page_of(sandbox, books, "enc-2")


def test_a_voided_entry_shows_voided_on_the_next_page(sandbox: Sandbox, books: Books) -> None:
    body = entry_body(
        books, ("cash", "debit", 5), ("revenue", "credit", 5), status="pending", external_id="v-1"
    )
    created = sandbox.client.post("/v1/entries", json=body)
    assert _page_of(sandbox, books, "v-1") == _alone(created.content)
    voided = sandbox.client.post(f"/v1/entries/{created.json()['id']}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert _page_of(sandbox, books, "v-1") == _alone(voided.content)
