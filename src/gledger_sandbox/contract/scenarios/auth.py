"""``auth_enforced``: no credential is 401, another tenant's id is 404, a missing scope is 403.

- Every secured operation of the spec, called without a credential and with a made-up one,
  answers 401.
- A second tenant (``--other-api-key``, or one the kit creates where the target offers
  ``createTenant``, deleted afterwards) sees none of the kit's resources: reading, changing or
  posting into them answers 404, and neither tenant lists the other's ledger.
- An OAuth2 token holding only ``ledger.read`` (the kit's client, or the second tenant's) is
  refused every operation that needs another scope with 403 ``insufficient_scope``.
- An API key the kit makes holds to its scope, and ends when rotated or revoked (``made_keys``).
- On the second tenant the kit created itself (never on ``--other-api-key``'s), rotating the
  tenant's own credentials (``rotateTenantCredentials``) ends the old API key (401) and the new
  one reads (``own_key_rotation``).
A part the target cannot run is reported as skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.scenarios import Scenario, ScenarioBroken, ScenarioSkipped, made_keys
from gledger_sandbox.contract.spec import SELF_DESTRUCTIVE, Operation
from gledger_sandbox.contract.target import request_token, token_endpoint

CHECK = "auth_enforced"
PHASE = "ledger"
READ_SCOPE = "ledger.read"
UNKNOWN_ID = "kit_unknown_0000000000"


def run(scenario: Scenario) -> None:
    _no_credential(scenario)
    with _second_tenant(scenario) as other:
        if other is None:
            _skip(scenario, "other_tenant", "needs --other-api-key, or a target with createTenant")
            isolated = False
            client_id = scenario.target.options.client_id
            secret = scenario.target.options.client_secret
        else:
            isolated = _other_tenant(scenario, other["api_key"])
            client_id, secret = other.get("client_id"), other.get("client_secret")
            if not client_id:
                client_id = scenario.target.options.client_id
                secret = scenario.target.options.client_secret
        if client_id and secret:
            _missing_scope(scenario, client_id, secret)
        else:
            _skip(scenario, "missing_scope", "needs an OAuth client (--client-id/--client-secret)")
        if other is None or not other.get("created_here"):
            if scenario.target.spec.has("rotateTenantCredentials"):
                _skip(scenario, "own_key_rotation", "needs a target with createTenant")
        elif isolated:  # (else the check has failed: its key may reach the kit's own tenant)
            _own_key_rotation(scenario, other)
    made_keys.run(scenario)


def _skip(scenario: Scenario, name: str, reason: str) -> None:
    scenario.target.results.skip(PHASE, CHECK, name, reason)


def _request(
    client: KitClient, operation: Operation, values: dict[str, str], body: bool = False
) -> httpx.Response:
    """The operation called with kit ids (or a made-up one) for its path.

    Required query parameters take the spec's examples, and with ``body`` a required request
    body is the spec's example (so the answer is about the ids, not a missing input);
    otherwise no body is sent.
    """
    path = operation.path
    for name in operation.parameter_names("path"):
        path = path.replace("{" + name + "}", values.get(name, UNKNOWN_ID))
    query = operation.parameter_names("query")
    params = {"timeout": 1, "max_events": 1} if operation.is_stream else {}
    params = {k: v for k, v in params.items() if k in query} | operation.required_query_examples()
    example = operation.example_body() if body and operation.body_required else None
    return client.request(operation.method, path, params=params, json=example)


def _values(scenario: Scenario) -> dict[str, str]:
    books = scenario.books()
    return {"ledger_id": books.ledger_id, "account_id": books.accounts["kit_cash"]}


def _secured(scenario: Scenario) -> list[Operation]:
    return [
        op
        for op in scenario.target.spec.operations.values()
        if op.secured and op.id not in SELF_DESTRUCTIVE
    ]


def _no_credential(scenario: Scenario) -> None:
    target, values = scenario.target, _values(scenario)
    failed = False
    for credential in (None, "Bearer gls_test_not_a_key_of_this_target"):
        with KitClient(target, PHASE, credential) as anonymous:
            for operation in _secured(scenario):
                answer = _request(anonymous, operation, values)
                if answer.status_code != 401:
                    what = "no credential" if credential is None else "a made-up credential"
                    anonymous.fail(CHECK, f"{operation.id} with {what} must answer 401", answer)
                    failed = True
    if not failed:
        scenario.client.passed(CHECK, "no_credential")


@contextmanager
def _second_tenant(scenario: Scenario) -> Iterator[dict[str, Any] | None]:
    """Another tenant's credentials: given, or created here (and deleted afterwards)."""
    options = scenario.target.options
    if options.other_api_key:
        yield {"api_key": options.other_api_key}
        return
    if not scenario.target.spec.has("createTenant"):
        yield None
        return
    with KitClient(scenario.target, PHASE, None) as anonymous:
        created = anonymous.post("/v1/sandbox/tenants", json={"fixture": "empty"})
        if created.status_code != 201:
            created = anonymous.post("/v1/sandbox/tenants", json={})
    if created.status_code != 201:
        yield None
        return
    tenant = {**created.json(), "created_here": True}
    try:
        yield tenant
    finally:
        if scenario.target.spec.has("deleteTenant"):
            httpx.delete(
                f"{scenario.target.base_url}/v1/sandbox/tenant",
                headers={"Authorization": f"Bearer {tenant['api_key']}"},
                timeout=15,
            )


def _other_tenant(scenario: Scenario, api_key: str) -> bool:
    """Whether the second tenant saw none of the kit's resources (failures recorded)."""
    books = scenario.books()
    entry = scenario.post_entry(("kit_cash", "debit", 1), ("kit_revenue", "credit", 1))
    values = {**_values(scenario), "entry_id": entry["id"]}
    failed = False
    with KitClient(scenario.target, PHASE, f"Bearer {api_key}") as other:
        for operation in scenario.target.spec.operations.values():
            names = operation.parameter_names("path")
            if not names or not names <= set(values) or operation.id in SELF_DESTRUCTIVE:
                continue
            if operation.body_required and operation.example_body() is None:
                continue  # no valid body to send: a 400 would say nothing about the id
            answer = _request(other, operation, values, body=True)
            if answer.status_code != 404:
                other.fail(CHECK, f"{operation.id} on another tenant's id must answer 404", answer)
                failed = True
        entry = scenario.entry(("kit_cash", "debit", 1), ("kit_revenue", "credit", 1))
        posting = other.post("/v1/entries", json=entry)
        if posting.status_code != 404:
            other.fail(CHECK, "posting into another tenant's ledger must answer 404", posting)
            failed = True
        failed |= _lists_apart(scenario, other, books.ledger_id)
    if not failed:
        scenario.client.passed(CHECK, "other_tenant")
    return not failed


def _lists_apart(scenario: Scenario, other: KitClient, own_ledger: str) -> bool:
    """Neither tenant lists or reads the other's ledger; True when that failed."""
    listed = other.get("/v1/ledgers", params={"limit": 500})
    if listed.status_code == 200 and any(
        ledger["id"] == own_ledger for ledger in listed.json()["data"]
    ):
        other.fail(CHECK, "another tenant's ledger list shows the kit's ledger", listed)
        return True
    theirs = other.post("/v1/ledgers", json={"name": scenario.key("other")})
    if theirs.status_code != 201:
        raise ScenarioBroken("the second tenant could not create a ledger", theirs)
    mine = scenario.client.get(f"/v1/ledgers/{theirs.json()['id']}")
    if mine.status_code != 404:
        scenario.client.fail(CHECK, "the kit read another tenant's ledger (must be 404)", mine)
        return True
    return False


def _own_key_rotation(scenario: Scenario, tenant: dict[str, Any]) -> None:
    """Rotate the throwaway tenant's own key: the old one answers 401, the new one reads."""
    if not scenario.target.spec.has("rotateTenantCredentials"):
        return
    old = tenant["api_key"]
    with KitClient(scenario.target, PHASE, f"Bearer {old}") as client:
        answer = client.post("/v1/sandbox/tenant/rotate-credentials", json={})
        if answer.status_code != 200:
            client.fail(CHECK, "rotating the tenant's own credentials must answer 200", answer)
            return
        new = answer.json()["api_key"]
        tenant["api_key"] = new  # deleted with it afterwards
        after = client.get("/v1/ledgers", params={"limit": 1})
        if after.status_code != 401:
            client.fail(CHECK, "the API key a rotation replaced must answer 401", after)
            return
    with KitClient(scenario.target, PHASE, f"Bearer {new}") as client:
        read = client.get("/v1/ledgers", params={"limit": 1})
        if read.status_code != 200:
            client.fail(CHECK, "the API key a rotation returned must read the ledgers", read)
            return
    scenario.client.passed(CHECK, "own_key_rotation")


def _missing_scope(scenario: Scenario, client_id: str, secret: str) -> None:
    target = scenario.target
    url = token_endpoint(target.options, target.spec, target.base_url)
    answer = request_token(url, client_id, secret, READ_SCOPE)
    if answer.status_code != 200:
        raise ScenarioSkipped(
            f"the token endpoint refused a {READ_SCOPE} token ({answer.status_code})"
        )
    token = answer.json()["access_token"]
    failed = False
    values = _values(scenario)
    with KitClient(target, PHASE, f"Bearer {token}") as reader:
        for operation in _secured(scenario):
            scopes = _oauth_scopes(operation)
            if scopes is None or READ_SCOPE in scopes:
                continue
            refused = _request(reader, operation, values)
            code = refused.json().get("code") if refused.status_code == 403 else None
            if code != "insufficient_scope":
                reader.fail(
                    CHECK,
                    f"{operation.id} needs {' '.join(scopes)}: a {READ_SCOPE} token must get "
                    "403 insufficient_scope",
                    refused,
                )
                failed = True
    if not failed:
        scenario.client.passed(CHECK, "missing_scope")


def _oauth_scopes(operation: Operation) -> list[str] | None:
    """The OAuth2 scopes the operation asks for, or None when it names none."""
    for requirement in operation.definition.get("security") or ():
        for scheme, scopes in requirement.items():
            if scheme.startswith("oauth") and scopes:
                return list(scopes)
    return None
