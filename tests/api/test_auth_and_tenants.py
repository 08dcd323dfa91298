"""OAuth2 client credentials, scopes, and tenants that never see each other."""

from __future__ import annotations

import httpx

from tests.conftest import Books, Sandbox, ServerThread, entry_body, new_sandbox


def _token(server: ServerThread, sandbox: Sandbox, scope: str | None = None) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.credentials["client_id"],
        "client_secret": sandbox.credentials["client_secret"],
    }
    if scope is not None:
        form["scope"] = scope
    return httpx.post(f"{server.url}/oauth/token", data=form)


def test_client_credentials_grant_a_scoped_token(
    server: ServerThread, sandbox: Sandbox, books: Books
) -> None:
    granted = _token(server, sandbox, "ledger.read")
    assert granted.status_code == 200, granted.text
    token = granted.json()
    assert (
        token["token_type"] == "Bearer"
        and token["scope"] == "ledger.read"
        and token["expires_in"] > 0
    )
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token['access_token']}"}
    ) as reader:
        assert reader.get("/v1/ledgers").status_code == 200
        refused = reader.post(
            "/v1/entries", json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1))
        )
        assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
        assert reader.get("/v1/sandbox/tenant").status_code == 403  # admin scope
    writer = _token(server, sandbox, "ledger.read ledger.write").json()["access_token"]
    ok = httpx.post(
        f"{server.url}/v1/entries",
        headers={"Authorization": f"Bearer {writer}"},
        json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1)),
    )
    assert ok.status_code == 201


def test_bad_grants_are_refused(server: ServerThread, sandbox: Sandbox) -> None:
    wrong = httpx.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.credentials["client_id"],
            "client_secret": "cs_wrong",
        },
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"
    unknown_scope = _token(server, sandbox, "ledger.read root")
    assert unknown_scope.status_code == 400 and unknown_scope.json()["code"] == "invalid_scope"
    grant = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "password", "client_id": "a", "client_secret": "b"},
    )
    assert grant.status_code == 400 and grant.json()["errors"][0]["pointer"] == "/grant_type"


def test_tenants_never_see_each_other(server: ServerThread, sandbox: Sandbox, books: Books) -> None:
    entry = sandbox.client.post(
        "/v1/entries", json=entry_body(books, ("cash", "debit", 1), ("revenue", "credit", 1))
    ).json()
    other = new_sandbox(server)
    with other.client:
        for template, real_id in [
            ("/v1/entries/{}", entry["id"]),
            ("/v1/ledgers/{}", books.ledger_id),
            ("/v1/accounts/{}", books.accounts["cash"]),
            ("/v1/accounts/{}/balance", books.accounts["cash"]),
        ]:
            foreign = other.client.get(template.format(real_id))
            unknown = other.client.get(template.format(real_id[:-4] + "zzzz"))
            # Another tenant's id answers exactly as an unknown id does: nothing leaks.
            assert foreign.status_code == unknown.status_code == 404
            assert foreign.json()["code"] == unknown.json()["code"] == "not_found"
            assert foreign.json()["detail"].replace(real_id, "ID") == unknown.json()[
                "detail"
            ].replace(real_id[:-4] + "zzzz", "ID")
        assert other.client.get("/v1/entries").json()["data"] == []
        assert other.client.post(f"/v1/entries/{entry['id']}/reverse").status_code == 404
    assert sandbox.client.get(f"/v1/entries/{entry['id']}").json()["links"]["reversed_by"] is None


def test_tenant_read_reset_delete(server: ServerThread) -> None:
    box = new_sandbox(server, fixture="merchant", seed=11)
    with box.client:
        info = box.client.get("/v1/sandbox/tenant").json()
        assert (
            info["fixture"] == "merchant" and info["seed"] == 11 and info["counts"]["entries"] > 50
        )
        box.client.post("/v1/ledgers", json={"name": "extra"})
        reset = box.client.post("/v1/sandbox/reset", json={"fixture": "empty"})
        assert reset.status_code == 200 and reset.json()["counts"] == {
            "ledgers": 0,
            "accounts": 0,
            "entries": 0,
            "settlements": 0,
            "payouts": 0,
            "reconciliations": 0,
        }
        assert box.client.delete("/v1/sandbox/tenant").status_code == 204
        assert box.client.get("/v1/ledgers").status_code == 401
