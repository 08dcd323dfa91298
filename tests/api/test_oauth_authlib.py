"""An independent OAuth2 client, authlib's, gets tokens from the real server and uses them."""

from __future__ import annotations

import pytest
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from tests.conftest import Sandbox, ServerThread


def _client(server: ServerThread, sandbox: Sandbox, secret: str, **options: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=sandbox.credentials["client_id"],
        client_secret=secret,
        base_url=server.url,
        timeout=30,
        **options,
    )


@pytest.mark.parametrize("method", [None, "client_secret_post"], ids=["defaults", "post"])
def test_authlib_gets_a_token_and_uses_it(
    server: ServerThread, sandbox: Sandbox, method: str | None
) -> None:
    options = {"token_endpoint_auth_method": method} if method else {}
    with _client(server, sandbox, sandbox.credentials["client_secret"], **options) as client:
        token = client.fetch_token(
            f"{server.url}/oauth/token", grant_type="client_credentials", scope="ledger.read"
        )
        assert token["token_type"] == "Bearer" and token["scope"] == "ledger.read"
        listed = client.get("/v1/ledgers")
        assert listed.status_code == 200, listed.text
        assert listed.request.headers["Authorization"] == f"Bearer {token['access_token']}"


def test_authlib_reports_a_wrong_secret_as_invalid_client(
    server: ServerThread, sandbox: Sandbox
) -> None:
    with _client(server, sandbox, "cs_wrong") as client, pytest.raises(OAuthError) as refused:
        client.fetch_token(f"{server.url}/oauth/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    assert refused.value.description
