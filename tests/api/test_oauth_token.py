"""The token endpoint as RFC 6749 has it: client authentication by HTTP Basic or by form
fields, errors as section 5.2 describes, tokens that expire on the tenant's clock, and forms
that cannot be read refused with 400 at a bounded cost."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import pytest

from tests.conftest import Sandbox, ServerThread

TOKEN = "/oauth/token"
GRANT = {"grant_type": "client_credentials"}


def _basic(client_id: str, secret: str) -> str:
    """An ``Authorization: Basic`` value as RFC 6749 2.3.1 builds it (form-encoded, then base64)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _post(server: ServerThread, data: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.post(server.url + TOKEN, data=data, **kwargs)


def _oauth_error(answer: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """The answer is a section 5.2 error that is also our problem+json, never cached."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == error and body["error_description"], body
    assert body["request_id"] == answer.headers["X-GLedger-Request-Id"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Pragma"] == "no-cache"
    return body


def test_http_basic_client_authentication_grants_a_token(
    server: ServerThread, sandbox: Sandbox
) -> None:
    creds = sandbox.credentials
    granted = _post(
        server,
        {**GRANT, "scope": "ledger.read"},
        headers={"Authorization": _basic(creds["client_id"], creds["client_secret"])},
    )
    assert granted.status_code == 200, granted.text
    assert granted.headers["Cache-Control"] == "no-store"
    assert granted.headers["Pragma"] == "no-cache"
    token = granted.json()
    assert token["token_type"] == "Bearer" and token["scope"] == "ledger.read"
    listed = httpx.get(
        server.url + "/v1/ledgers", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert listed.status_code == 200, listed.text
    # httpx's own Basic auth (not form-encoded first) works too: our credentials need no escaping.
    plain = _post(server, GRANT, auth=(creds["client_id"], creds["client_secret"]))
    assert plain.status_code == 200, plain.text
    # The form may repeat the same client_id alongside Basic.
    same = _post(
        server,
        {**GRANT, "client_id": creds["client_id"]},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert same.status_code == 200, same.text


def test_a_failed_basic_authentication_is_401_with_a_basic_challenge(
    server: ServerThread, sandbox: Sandbox
) -> None:
    wrong = _post(
        server, GRANT, headers={"Authorization": _basic(sandbox.credentials["client_id"], "x")}
    )
    body = _oauth_error(wrong, 401, "invalid_client")
    assert body["code"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith('Basic realm="')
    garbled = _post(server, GRANT, headers={"Authorization": "Basic %%%not-base64"})
    _oauth_error(garbled, 401, "invalid_client")
    assert garbled.headers["WWW-Authenticate"].startswith('Basic realm="')
    # No client authentication at all is invalid_client too (RFC 6749 5.2).
    _oauth_error(_post(server, GRANT), 401, "invalid_client")
    # A wrong secret in the form is the same refusal.
    form = {**GRANT, "client_id": sandbox.credentials["client_id"], "client_secret": "x"}
    _oauth_error(_post(server, form), 401, "invalid_client")


def test_two_client_authentications_that_disagree_are_invalid_request(
    server: ServerThread, sandbox: Sandbox
) -> None:
    creds = sandbox.credentials
    basic = {"Authorization": _basic(creds["client_id"], creds["client_secret"])}
    other = _post(server, {**GRANT, "client_id": "cli_other"}, headers=basic)
    body = _oauth_error(other, 400, "invalid_request")
    assert [e["pointer"] for e in body["errors"]] == ["/client_id"]
    secret = _post(server, {**GRANT, "client_secret": "cs_other"}, headers=basic)
    _oauth_error(secret, 400, "invalid_request")
    lone = _post(server, {**GRANT, "client_id": creds["client_id"]})
    body = _oauth_error(lone, 400, "invalid_request")
    assert [e["pointer"] for e in body["errors"]] == ["/client_secret"]


def test_each_missing_field_is_listed_once(server: ServerThread) -> None:
    missing = _post(server, {"scope": "admin"})
    body = _oauth_error(missing, 400, "invalid_request")
    assert body["code"] == "validation.required_field_missing"
    assert [e["pointer"] for e in body["errors"]] == ["/grant_type"]
    empty = _post(server, headers={"Content-Type": "application/x-www-form-urlencoded"})
    body = _oauth_error(empty, 400, "invalid_request")
    assert [e["pointer"] for e in body["errors"]] == ["/grant_type"]


def test_another_grant_type_is_unsupported_grant_type(server: ServerThread) -> None:
    refused = _post(server, {"grant_type": "password", "username": "a", "password": "b"})
    body = _oauth_error(refused, 400, "unsupported_grant_type")
    assert body["code"] == "unsupported_grant_type"
    assert [e["pointer"] for e in body["errors"]] == ["/grant_type"]


def test_unknown_form_fields_are_ignored_and_repeated_ones_refused(
    server: ServerThread, sandbox: Sandbox
) -> None:
    creds = sandbox.credentials
    form = {**GRANT, "client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    extended = _post(server, {**form, "audience": "https://api.example.com"})
    assert extended.status_code == 200, extended.text
    twice = _post(
        server,
        content=urlencode([*form.items(), ("grant_type", "client_credentials")]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body = _oauth_error(twice, 400, "invalid_request")
    assert body["code"] == "validation.duplicate_field"
    assert [e["pointer"] for e in body["errors"]] == ["/grant_type"]
    # error_description keeps to the characters RFC 6749 5.2 allows, whatever a name brings.
    odd = _post(
        server,
        content=urlencode([*form.items(), ('é"\\', "1"), ('é"\\', "2")]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    description = _oauth_error(odd, 400, "invalid_request")["error_description"]
    assert description.isascii() and '"' not in description and "\\" not in description


def test_a_scope_the_client_cannot_have_is_invalid_scope(
    server: ServerThread, sandbox: Sandbox
) -> None:
    creds = sandbox.credentials
    refused = _post(
        server,
        {**GRANT, "scope": "ledger.read root"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    body = _oauth_error(refused, 400, "invalid_scope")
    assert [e["pointer"] for e in body["errors"]] == ["/scope"]


@pytest.mark.parametrize(
    "raw",
    [
        "&".join(f"f{i}=1" for i in range(1001)).encode(),
        b"&" * 60_000,
        b"grant_type=client_credentials&client_id=%ZZ&client_secret=x",
        b"grant_type=client_credentials&client_id=%ff%fe&client_secret=x",
        b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=x",
    ],
    ids=["1001-fields", "60k-separators", "bad-percent", "percent-not-utf8", "raw-not-utf8"],
)
def test_a_form_that_cannot_be_read_is_400(server: ServerThread, raw: bytes) -> None:
    answer = _post(
        server, content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    body = _oauth_error(answer, 400, "invalid_request")
    assert body["code"] in ("validation.too_many_fields", "validation.malformed_body"), body
    assert body["errors"][0]["code"] == body["code"]


def test_a_token_expires_when_the_tenant_clock_passes_its_lifetime(
    server: ServerThread, sandbox: Sandbox
) -> None:
    creds = sandbox.credentials
    token = _post(server, GRANT, auth=(creds["client_id"], creds["client_secret"])).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(server.url + "/v1/ledgers", headers=bearer).status_code == 200
    almost = sandbox.client.post(
        "/v1/sandbox/clock/advance", json={"seconds": token["expires_in"] - 60}
    )
    assert almost.status_code == 200, almost.text
    assert httpx.get(server.url + "/v1/ledgers", headers=bearer).status_code == 200
    past = sandbox.client.post("/v1/sandbox/clock/advance", json={"seconds": 61})
    assert past.status_code == 200, past.text
    expired = httpx.get(server.url + "/v1/ledgers", headers=bearer)
    assert expired.status_code == 401 and expired.json()["code"] == "unauthorized"
    # The client itself is still good: a new token works.
    fresh = _post(server, GRANT, auth=(creds["client_id"], creds["client_secret"])).json()
    again = httpx.get(
        server.url + "/v1/ledgers", headers={"Authorization": f"Bearer {fresh['access_token']}"}
    )
    assert again.status_code == 200
