"""The ``made_keys`` part of ``auth_enforced``: API keys a tenant makes end when they should.

Where the target offers ``createApiKey`` (and the kit's credential may use it), the kit makes
a ``ledger.read`` key that expires within minutes and checks, with the key itself:

- it reads, and a write beyond its scope answers 403 ``insufficient_scope``;
- after ``rotateApiKey`` the old secret answers 401 and the new one reads;
- after ``revokeApiKey`` the secret answers 401.

The key is revoked at the end whatever happened, so a run leaves no working key behind.
"""

from __future__ import annotations

import httpx

from gledger_sandbox.contract.http import KitClient
from gledger_sandbox.contract.scenarios import Scenario

CHECK = "auth_enforced"
PART = "made_keys"
KEYS = "/v1/sandbox/api-keys"
LIFETIME_SECONDS = 300


def run(scenario: Scenario) -> None:
    spec, client = scenario.target.spec, scenario.client
    if not all(spec.has(op) for op in ("createApiKey", "rotateApiKey", "revokeApiKey")):
        _skip(scenario, "the target offers no createApiKey, rotateApiKey and revokeApiKey")
        return
    body = {"name": f"contract kit {scenario.tag}", "scopes": ["ledger.read"]}
    made = client.post(KEYS, json={**body, "ttl_seconds": LIFETIME_SECONDS})
    if made.status_code != 201:
        _skip(scenario, f"the kit's credential could not make an API key ({made.status_code})")
        return
    key_id, secret = made.json()["id"], made.json()["secret"]
    try:
        failed = _scoped(scenario, secret)
        rotated = client.post(f"{KEYS}/{key_id}/rotate")
        if rotated.status_code != 200:
            client.fail(CHECK, "rotating a working key must answer 200", rotated)
            return
        new = rotated.json()["secret"]
        failed |= _refused(scenario, secret, "the secret a rotation replaced")
        failed |= not _reads(scenario, new, "the rotated key's new secret")
        revoked = client.post(f"{KEYS}/{key_id}/revoke")
        if revoked.status_code != 200:
            client.fail(CHECK, "revoking a key must answer 200", revoked)
            return
        failed |= _refused(scenario, new, "a revoked key")
    finally:
        client.post(f"{KEYS}/{key_id}/revoke")
    if not failed:
        client.passed(CHECK, PART)


def _skip(scenario: Scenario, reason: str) -> None:
    scenario.target.results.skip("ledger", CHECK, PART, reason)


def _as(scenario: Scenario, secret: str) -> KitClient:
    return KitClient(scenario.target, scenario.client.phase, f"Bearer {secret}")


def _reads(scenario: Scenario, secret: str, what: str) -> bool:
    return not _misread(scenario, secret, 200, f"{what} (scope ledger.read) must read the ledgers")


def _refused(scenario: Scenario, secret: str, what: str) -> bool:
    """True when ``secret`` still worked."""
    return _misread(scenario, secret, 401, f"{what} must answer 401")


def _misread(scenario: Scenario, secret: str, status: int, message: str) -> bool:
    """True (and a failure recorded) when a read with ``secret`` does not answer ``status``."""
    with _as(scenario, secret) as key:
        answer = key.get("/v1/ledgers", params={"limit": 1})
        if answer.status_code != status:
            key.fail(CHECK, message, answer)
            return True
    return False


def _scoped(scenario: Scenario, secret: str) -> bool:
    """True when the new key did not hold to its scope."""
    if not _reads(scenario, secret, "a new key"):
        return True
    with _as(scenario, secret) as key:
        answer = key.post("/v1/ledgers", json={"name": scenario.key("made-key")})
        if _code(answer) != (403, "insufficient_scope"):
            key.fail(CHECK, "a ledger.read key must get 403 insufficient_scope on a write", answer)
            return True
    return False


def _code(answer: httpx.Response) -> tuple[int, str | None]:
    try:
        code = answer.json().get("code")
    except ValueError:
        code = None
    return answer.status_code, code
