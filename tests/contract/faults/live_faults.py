"""Faults that break what is live rather than booked: events, tenancy, headers, inputs, webhooks.

See ``promise_faults.py`` for the table of every promise fault and the check that must catch it.
The webhook faults stand between the sandbox and the kit's receiver: an endpoint created
through the proxy is pointed at the proxy itself (``own_url``, set once it listens), which
relays each delivery to the receiver with the fault's change. The relay is a blocking call on
the proxy's loop, which only the receiver (a thread of its own) waits on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import httpx

from tests.contract.faults.faults import TenantLeak
from tests.contract.faults.proxy import REQUEST_ID, Answer, Call, Fault


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def problem(answer: Answer, status: int, code: str, detail: str) -> dict[str, Any]:
    """A problem document like the sandbox's, with the answer's request id."""
    answer.status = status
    answer.headers["content-type"] = "application/problem+json"
    return {
        "type": f"https://docs.gledger.dev/problems/{code}",
        "title": "Unprocessable request",
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": answer.headers.get(REQUEST_ID, ""),
        "errors": [{"pointer": "/lines", "code": code, "detail": detail}],
    }


class EventPageFault(Fault):
    """Rewrites the events of `GET /v1/events` pages; ``change`` returns None to cut one."""

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != "GET" or call.path != "/v1/events" or answer.status != 200:
            return answer
        page = answer.json()
        kept = []
        changed = False
        for event in page["data"]:
            new = self.change(event)
            changed |= new is not event
            if new is not None:
                kept.append(new)
        if not changed:
            return answer
        page["data"] = kept
        return self.rewritten(answer, page)

    def change(self, event: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError


class StaleEventData(EventPageFault):
    name = "stale_event_data"

    def change(self, event: dict[str, Any]) -> dict[str, Any] | None:
        if event["type"] != "entry.posted":
            return event
        return {**event, "data": {**event["data"], "status": "pending", "posted_at": None}}


class DropAsyncPosted(EventPageFault):
    """Entries that post after their creation (async, or posted later) have no `entry.posted`."""

    name = "drop_async_posted"

    def change(self, event: dict[str, Any]) -> dict[str, Any] | None:
        data = event["data"]
        later = event["type"] == "entry.posted" and data.get("posted_at") != data.get("created_at")
        return None if later else event


class DropPayoutPaid(EventPageFault):
    name = "drop_payout_paid"

    def change(self, event: dict[str, Any]) -> dict[str, Any] | None:
        return None if event["type"] == "payout.paid" else event


class TenantLeakBeyondReads(TenantLeak):
    """A tenant created through the proxy acts as the first one off the beaten track.

    Where ``auth_enforced`` looks (ledgers, accounts, entries by path) it stays apart; on the
    treasury, event and webhook paths, and on any list filtered by an id, its key is swapped
    for ``api_key``, so it reads the first tenant's resources there.
    """

    name = "tenant_leak_beyond_reads"
    PATHS = re.compile(
        r"^/v1/(payouts|settlements|reconciliations|events|webhook-endpoints"
        r"|webhook-deliveries)/[^/]+"
    )

    def request(self, call: Call) -> Call | Answer:
        bearer = call.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.leaked:
            return call
        filtered = call.method == "GET" and any(k.endswith("_id") for k in call.params())
        if filtered or self.PATHS.match(call.path):
            call.headers["Authorization"] = f"Bearer {self.api_key}"
            self.hits += 1
        return call


class RepeatedRequestId(Fault):
    name = "repeated_request_id"

    def __init__(self) -> None:
        super().__init__()
        self.first: str | None = None

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != "GET" or call.path != "/v1/ledgers" or answer.status != 200:
            return answer
        if self.first is None:
            self.first = answer.headers.get(REQUEST_ID)
        elif answer.headers.get(REQUEST_ID) != self.first:
            answer.headers[REQUEST_ID] = self.first
            self.hits += 1
        return answer


class CorrelationDropped(Fault):
    name = "correlation_dropped"

    def response(self, call: Call, answer: Answer) -> Answer:
        if 400 <= answer.status < 500 and "x-correlation-id" in answer.headers:
            del answer.headers["x-correlation-id"]
            self.hits += 1
        return answer


class RateLimitStuck(Fault):
    """`RateLimit` always shows the quota less one remaining, however many requests came."""

    name = "rate_limit_stuck"

    def response(self, call: Call, answer: Answer) -> Answer:
        limit, policy = answer.headers.get("ratelimit"), answer.headers.get("ratelimit-policy")
        quota = re.search(r"q=(\d+)", policy or "")
        if limit is None or quota is None:
            return answer
        stuck = re.sub(r"r=\d+", f"r={int(quota.group(1)) - 1}", limit)
        if stuck != limit:
            answer.headers["ratelimit"] = stuck
            self.hits += 1
        return answer


class RateLimitInconsistent(Fault):
    """`RateLimit` names a policy that `RateLimit-Policy` does not (its counts still fall)."""

    name = "rate_limit_inconsistent"

    def response(self, call: Call, answer: Answer) -> Answer:
        limit = answer.headers.get("ratelimit")
        if limit is None or "ratelimit-policy" not in answer.headers:
            return answer
        answer.headers["ratelimit"] = re.sub(r'^"[^"]*"', '"burst"', limit)
        self.hits += 1
        return answer


class ServerErrorOnDeepInput(Fault):
    """A JSON body too deep (or, when asked, too long or too wide) crashes the server: 500.

    Never forwarded. By default only depth counts (beyond 12 levels); ``length`` and ``keys``
    also make a string longer, or an object with more keys, than that a crash.
    """

    name = "server_error_on_deep_input"

    def __init__(self, depth: int = 12, length: int | None = None, keys: int | None = None):
        super().__init__()
        self.depth, self.length, self.keys = depth, length, keys

    def crashes(self, body: Any) -> bool:
        if _depth(body) > self.depth:
            return True
        length, keys = _extent(body)
        return (self.length is not None and length > self.length) or (
            self.keys is not None and keys > self.keys
        )

    def request(self, call: Call) -> Call | Answer:
        if call.method not in ("POST", "PATCH") or not self.crashes(call.json()):
            return call
        self.hits += 1
        answer = Answer(500, httpx.Headers({REQUEST_ID: "req_fault_deep_input"}), b"")
        document = problem(answer, 500, "internal_error", "Injected: input too big.")
        answer.with_json({**document, "title": "Internal Server Error", "errors": []})
        return answer


def _extent(document: Any) -> tuple[int, int]:
    """The longest string and the most keys of one object anywhere in ``document``."""
    if isinstance(document, str):
        return len(document), 0
    values = document.values() if isinstance(document, dict) else document
    if not isinstance(document, (dict, list)):
        return 0, 0
    found = [_extent(value) for value in values]
    own = len(document) if isinstance(document, dict) else 0
    return max([0, *(f[0] for f in found)]), max([own, *(f[1] for f in found)])


def _depth(document: Any) -> int:
    if isinstance(document, dict):
        return 1 + max((_depth(value) for value in document.values()), default=0)
    if isinstance(document, list):
        return 1 + max((_depth(item) for item in document), default=0)
    return 0


class WebhookRelay(Fault):
    """Relays deliveries to the endpoint's real URL; ``alter`` changes an attempt's headers."""

    RELAY = "/_relay/"

    def __init__(self) -> None:
        super().__init__()
        self.own_url = ""
        self.urls: list[str] = []
        self.secrets: dict[int, str] = {}
        self.seen: set[bytes] = set()

    def request(self, call: Call) -> Call | Answer:
        if call.path.startswith(self.RELAY):
            return self._relay(call, int(call.path.removeprefix(self.RELAY)))
        body = call.json()
        if call.method == "POST" and call.path == "/v1/webhook-endpoints" and body:
            self.urls.append(body["url"])
            body["url"] = f"{self.own_url}{self.RELAY}{len(self.urls) - 1}"
            call.body = compact(body)
            call.headers["x-fault-endpoint"] = str(len(self.urls) - 1)
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        endpoint = call.headers.get("x-fault-endpoint")
        if endpoint is not None and answer.status == 201:
            self.secrets[int(endpoint)] = answer.json()["secret"]
        return answer

    def _relay(self, call: Call, endpoint: int) -> Answer:
        retry = call.body in self.seen
        self.seen.add(call.body)
        headers = httpx.Headers(call.headers)
        if self.alter(headers, call.body, self.secrets.get(endpoint, ""), retry):
            self.hits += 1
        reply = httpx.post(self.urls[endpoint], content=call.body, headers=headers, timeout=10)
        return Answer(reply.status_code, httpx.Headers({"content-length": "0"}), b"")

    def alter(self, headers: httpx.Headers, body: bytes, secret: str, retry: bool) -> bool:
        raise NotImplementedError


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """A Standard Webhooks `v1,` signature of ``body`` under ``secret``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class RetryNewWebhookId(WebhookRelay):
    name = "retry_new_webhook_id"

    def alter(self, headers: httpx.Headers, body: bytes, secret: str, retry: bool) -> bool:
        if not retry:
            return False
        headers["webhook-id"] = f"msg_fault_{self.hits}"
        headers["webhook-signature"] = sign(
            secret, headers["webhook-id"], headers["webhook-timestamp"], body
        )
        return True


class RetrySignatureBroken(WebhookRelay):
    name = "retry_signature_broken"

    def alter(self, headers: httpx.Headers, body: bytes, secret: str, retry: bool) -> bool:
        if not retry:
            return False
        headers["webhook-signature"] = "v1," + base64.b64encode(bytes(32)).decode()
        return True


class SequenceScrambled(WebhookRelay):
    name = "sequence_scrambled"

    def alter(self, headers: httpx.Headers, body: bytes, secret: str, retry: bool) -> bool:
        headers["x-gledger-sequence"] = str(1000 - int(headers["x-gledger-sequence"]))
        return True
