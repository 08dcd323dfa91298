"""The faults the proxy can inject: each breaks one promise of the API, and one check must notice.

| fault                       | what the client sees                                  | caught by                     |
|-----------------------------|-------------------------------------------------------|-------------------------------|
| `none`                      | the sandbox, unchanged (the control)                  | nothing                       |
| `answer_500`                | one operation answers 500 (a problem document)        | `not_a_server_error`          |
| `drop_required_field`       | 2xx JSON without a required field (`has_more`, `id`)  | `response_schema_conformance` |
| `malformed_single_reads`    | a P&L without `net`, a payout without `status`        | `response_schema_conformance` |
| `undocumented_status`       | 200 answers come as 203, which no operation documents | `status_code_conformance`     |
| `mislabelled_json`          | 2xx JSON labelled `text/plain`                        | `content_type_conformance`    |
| `drop_request_id`           | no `X-GLedger-Request-Id` header                      | `request_id`                  |
| `plain_json_errors`         | 4xx as `application/json` without `code`              | `problem_json`                |
| `alter_line_amount`         | the first line of every entry read back is 1 higher   | `entries_balance`             |
| `balance_off_by_one`        | one account's posted balance is 1 higher              | `balance_matches_lines`       |
| `different_replay_body`     | a replayed response has one field changed             | `idempotent_replay`           |
| `accept_reused_key`         | a reused key with another body gets the original 201  | `idempotent_replay`           |
| `skip_item_between_pages`   | every second page of a walk lacks its first item      | `pages_complete`              |
| `repeat_item_between_pages` | every second page starts with the last item again     | `pages_complete`              |
| `drop_event`                | an `entry.posted` event is missing from event pages   | `event_sequence`              |
| `events_out_of_order`       | the first two events of a page are swapped            | `event_sequence`              |
| `auth_bypass`               | calls without a credential run as the tenant          | `auth_enforced`               |
| `tenant_leak`               | a tenant created through the proxy acts as the first  | `auth_enforced`               |
| `scope_ignored`             | every OAuth token gets every scope                    | `auth_enforced`               |
| `wrong_webhook_secret`      | endpoint create/rotate shows another `whsec_` secret  | `webhook_signature`           |
| `revoke_ignored`            | revoking an API key answers it revoked, yet it works  | `auth_enforced`               |
| `own_rotation_ignored`      | a tenant's key rotation answers 200, the key unchanged | `auth_enforced`              |

The HTTP-level faults live here, the ledger ones in ``ledger_faults.py``. Faults keep what
state they need (the account they lie about, the pages of a walk, the first answer per
idempotency key); a proxy serves one fault for its whole life.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qsl, urlencode

import httpx

from tests.contract.faults.ledger_faults import (
    AcceptReusedKey,
    AlterLineAmount,
    BalanceOffByOne,
    DifferentReplayBody,
    DropEvent,
    EventsOutOfOrder,
    RepeatItemBetweenPages,
    SkipItemBetweenPages,
)
from tests.contract.faults.proxy import REQUEST_ID, Answer, Call, Fault

_SECRET_SHOWN = re.compile(r"^/v1/webhook-endpoints(/[^/]+/rotate-secret)?$")
_REVOKE = re.compile(r"^(/v1/sandbox/api-keys/[^/]+)/revoke$")
_ROTATE_OWN = "/v1/sandbox/tenant/rotate-credentials"
ALL_SCOPES = "ledger.read ledger.write admin"


class DropRequestId(Fault):
    name = "drop_request_id"

    def response(self, call: Call, answer: Answer) -> Answer:
        if REQUEST_ID in answer.headers:
            del answer.headers[REQUEST_ID]
            self.hits += 1
        return answer


class Answer500(Fault):
    """One operation (by method and path pattern) fails with a 500 problem document."""

    name = "answer_500"

    def __init__(self, method: str = "GET", path: str = r"^/v1/ledgers/[^/]+$") -> None:
        super().__init__()
        self.method = method
        self.path = re.compile(path)

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != self.method or not self.path.match(call.path):
            return answer
        request_id = answer.headers.get(REQUEST_ID, "")
        broken = Answer(500, httpx.Headers(answer.headers), b"")
        broken.headers["content-type"] = "application/problem+json"
        return self.rewritten(
            broken,
            {
                "type": "https://docs.gledger.dev/problems/internal_error",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "Injected by the fault proxy.",
                "code": "internal_error",
                "request_id": request_id,
                "errors": [],
            },
        )


class PlainJsonErrors(Fault):
    """4xx answers become plain JSON without a machine-readable `code`."""

    name = "plain_json_errors"

    def response(self, call: Call, answer: Answer) -> Answer:
        problem = answer.json()
        if not 400 <= answer.status < 500 or not isinstance(problem, dict):
            return answer
        problem.pop("code", None)
        answer.headers["content-type"] = "application/json"
        return self.rewritten(answer, problem)


class AuthBypass(Fault):
    """A call without `Authorization` is sent on with the given API key."""

    name = "auth_bypass"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def request(self, call: Call) -> Call | Answer:
        if "Authorization" not in call.headers and call.path.startswith("/v1/"):
            call.headers["Authorization"] = f"Bearer {self.api_key}"
            self.hits += 1
        return call


class TenantLeak(Fault):
    """A tenant created through the proxy is served as the first tenant (``api_key``'s).

    Its API key is swapped for ``api_key`` on the way in, so it sees and changes the first
    tenant's books; deleting it still deletes itself.
    """

    name = "tenant_leak"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.leaked: set[str] = set()
        """API keys of the tenants created through the proxy."""

    def request(self, call: Call) -> Call | Answer:
        bearer = call.headers.get("Authorization", "").removeprefix("Bearer ")
        deleting = call.method == "DELETE" and call.path == "/v1/sandbox/tenant"
        if bearer in self.leaked and not deleting:
            call.headers["Authorization"] = f"Bearer {self.api_key}"
            self.hits += 1
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        tenant = answer.json()
        if call.path == "/v1/sandbox/tenants" and answer.status == 201 and tenant:
            self.leaked.add(tenant["api_key"])
        return answer


class ScopeIgnored(Fault):
    """An OAuth2 token request for some scopes is sent on asking for all of them."""

    name = "scope_ignored"

    def request(self, call: Call) -> Call | Answer:
        if call.method != "POST" or call.path != "/oauth/token":
            return call
        form = dict(parse_qsl(call.body.decode()))
        if form.get("scope") not in (None, ALL_SCOPES):
            form["scope"] = ALL_SCOPES
            call.body = urlencode(form).encode()
            self.hits += 1
        return call


class RevokeIgnored(Fault):
    """A revoke of an API key is sent on as a read of it, answered as if revoked."""

    name = "revoke_ignored"

    def __init__(self) -> None:
        super().__init__()
        self.revoking: set[str] = set()
        """The key paths whose revoke was turned into a read."""

    def request(self, call: Call) -> Call | Answer:
        found = _REVOKE.match(call.path)
        if call.method == "POST" and found:
            call.method, call.path, call.body = "GET", found.group(1), b""
            self.revoking.add(call.path)
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        key = answer.json()
        if call.path not in self.revoking or not isinstance(key, dict):
            return answer
        return self.rewritten(answer, {**key, "status": "revoked"})


class OwnRotationIgnored(Fault):
    """A rotation of the tenant's own credentials is sent on as a read of the tenant, and
    answered as a rotation that returned the same key (a schema-valid answer)."""

    name = "own_rotation_ignored"

    def request(self, call: Call) -> Call | Answer:
        if call.method == "POST" and call.path == _ROTATE_OWN:
            call.method, call.path, call.body = "GET", "/v1/sandbox/tenant", b""
            call.headers["X-Kit-Fault-Rotation"] = "1"
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        tenant = answer.json()
        if "X-Kit-Fault-Rotation" not in call.headers or not isinstance(tenant, dict):
            return answer
        key = call.headers["Authorization"].removeprefix("Bearer ")
        return self.rewritten(
            answer,
            {
                "tenant_id": tenant["tenant_id"],
                "api_key": key,
                "client_id": "cli_s0_unchanged",
                "client_secret": "cs_s0_unchanged",
                "rotated": ["api_key", "client_secret"],
                "previous_expires_at": "2024-05-01T09:00:00Z",
                "access_tokens_revoked": False,
            },
        )


class WrongWebhookSecret(Fault):
    """The secret shown on endpoint create and rotate is another, equally valid-looking one."""

    name = "wrong_webhook_secret"

    def response(self, call: Call, answer: Answer) -> Answer:
        endpoint = answer.json()
        if call.method != "POST" or not _SECRET_SHOWN.match(call.path):
            return answer
        if not isinstance(endpoint, dict) or "secret" not in endpoint:
            return answer
        endpoint["secret"] = forged_secret(endpoint["secret"])
        return self.rewritten(answer, endpoint)


class DropRequiredField(Fault):
    """Successful JSON answers lose a required field: a page its `has_more`, a resource its `id`."""

    name = "drop_required_field"

    def response(self, call: Call, answer: Answer) -> Answer:
        document = answer.json()
        if not 200 <= answer.status < 300 or not isinstance(document, dict):
            return answer
        for required in ("has_more", "id"):
            if required in document:
                del document[required]
                return self.rewritten(answer, document)
        return answer


class MalformedSingleReads(Fault):
    """Reads of one resource lose a required field: a P&L its `net`, a payout its `status`.

    Random ids never reach these 200s: only the kit's reads of its own resources do.
    """

    name = "malformed_single_reads"
    DROPPED = ((re.compile(r"^/v1/ledgers/[^/]+/reports/pnl$"), "net"),
               (re.compile(r"^/v1/payouts/[^/]+$"), "status"))  # fmt: skip

    def response(self, call: Call, answer: Answer) -> Answer:
        document = answer.json()
        if call.method != "GET" or answer.status != 200 or not isinstance(document, dict):
            return answer
        for path, field in self.DROPPED:
            if path.match(call.path) and field in document:
                del document[field]
                return self.rewritten(answer, document)
        return answer


class UndocumentedStatus(Fault):
    """200 answers come as 203 Non-Authoritative Information, which no operation documents."""

    name = "undocumented_status"

    def response(self, call: Call, answer: Answer) -> Answer:
        if answer.status == 200:
            answer.status = 203
            self.hits += 1
        return answer


class MislabelledJson(Fault):
    """Successful JSON answers are labelled `text/plain` (the body is unchanged)."""

    name = "mislabelled_json"

    def response(self, call: Call, answer: Answer) -> Answer:
        if 200 <= answer.status < 300 and answer.media_type == "application/json":
            answer.headers["content-type"] = "text/plain; charset=utf-8"
            self.hits += 1
        return answer


def forged_secret(secret: str) -> str:
    """A `whsec_` secret with a key of the same length, derived from (never equal to) ``secret``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    forged = hashlib.sha256(b"forged" + key).digest() * (len(key) // 32 + 1)
    return "whsec_" + base64.b64encode(forged[: len(key)]).decode()


FAULTS: dict[str, type[Fault]] = {
    fault.name: fault
    for fault in (
        Fault,
        Answer500,
        DropRequiredField,
        MalformedSingleReads,
        UndocumentedStatus,
        MislabelledJson,
        DropRequestId,
        PlainJsonErrors,
        AlterLineAmount,
        BalanceOffByOne,
        DifferentReplayBody,
        AcceptReusedKey,
        SkipItemBetweenPages,
        RepeatItemBetweenPages,
        DropEvent,
        EventsOutOfOrder,
        AuthBypass,
        TenantLeak,
        ScopeIgnored,
        WrongWebhookSecret,
        RevokeIgnored,
        OwnRotationIgnored,
    )
}


def make_fault(name: str, *, api_key: str = "") -> Fault:
    """A fresh fault by name (``auth_bypass`` and ``tenant_leak`` need the tenant's API key)."""
    if name == AuthBypass.name:
        return AuthBypass(api_key)
    if name == TenantLeak.name:
        return TenantLeak(api_key)
    return FAULTS[name]()
