"""A replayed ``POST /v1/sandbox/tenants`` never hands a tenant's credentials to another caller.

The route has no tenant to scope its ``Idempotency-Key`` to, so keys are scoped to the client's
address as well: the same key from another address is another key (a tenant of its own, or a
refusal), never a replay. From the same address a replay is what idempotency promises: the
stored answer, byte for byte, credentials included (a client whose first answer was lost gets
its tenant), marked ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from gledger_sandbox.api.settings import ConnectionSettings
from gledger_sandbox.bootstrap import sandbox_app
from tests.conftest import TEST_SETTINGS, ServerThread

TENANTS = "/v1/sandbox/tenants"
SECRETS = ("api_key", "client_id", "client_secret", "tenant_id")


def _from(server: ServerThread, address: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (any of 127.0.0.0/8 is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=30)


def _shares_no_secret(first: httpx.Response, second: httpx.Response) -> None:
    for name in SECRETS:
        assert first.json()[name] not in second.text, name


def test_a_replay_from_another_address_gets_a_tenant_of_its_own(server: ServerThread) -> None:
    key = {"Idempotency-Key": "signup-shared-by-two-visitors"}
    with _from(server, "127.0.0.1") as first, _from(server, "127.0.0.2") as second:
        mine = first.post(TENANTS, json={"fixture": "empty"}, headers=key)
        theirs = second.post(TENANTS, json={"fixture": "empty"}, headers=key)
        again = first.post(TENANTS, json={"fixture": "empty"}, headers=key)
    assert mine.status_code == theirs.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    _shares_no_secret(mine, theirs)
    # The same address: the stored answer, credentials and all.
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == mine.content


def test_another_address_with_another_body_is_not_told_of_the_first(
    server: ServerThread,
) -> None:
    """Not even a 422 ``idempotency.key_reused``: that would tell it the key is in use."""
    key = {"Idempotency-Key": "signup-probed-by-a-stranger"}
    with _from(server, "127.0.0.1") as first, _from(server, "127.0.0.3") as second:
        mine = first.post(TENANTS, json={"fixture": "empty"}, headers=key)
        probe = second.post(TENANTS, json={"fixture": "merchant", "seed": 1}, headers=key)
    assert mine.status_code == probe.status_code == 201, probe.text
    assert "Idempotent-Replayed" not in probe.headers
    _shares_no_secret(mine, probe)


@pytest.fixture
def behind_a_proxy() -> Iterator[ServerThread]:
    settings = replace(TEST_SETTINGS, connections=ConnectionSettings(trusted_proxies=("*",)))
    app, services = sandbox_app(settings)
    with ServerThread(app, services=services) as running:
        yield running


def test_behind_a_trusted_proxy_the_forwarded_address_scopes_the_key(
    behind_a_proxy: ServerThread,
) -> None:
    """Every request comes from the proxy's address; the client's is the one it forwards."""
    key = {"Idempotency-Key": "signup-through-the-proxy"}
    with httpx.Client(base_url=behind_a_proxy.url, timeout=30) as proxy:
        mine = proxy.post(TENANTS, json={}, headers={**key, "X-Forwarded-For": "203.0.113.7"})
        theirs = proxy.post(TENANTS, json={}, headers={**key, "X-Forwarded-For": "198.51.100.9"})
        again = proxy.post(TENANTS, json={}, headers={**key, "X-Forwarded-For": "203.0.113.7"})
    assert "Idempotent-Replayed" not in theirs.headers
    _shares_no_secret(mine, theirs)
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == mine.content
