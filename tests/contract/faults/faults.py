"""The faults the proxy can inject: each breaks one promise of the API, and one check must notice.

| fault                     | what the client sees                                   | caught by               |
|---------------------------|--------------------------------------------------------|-------------------------|
| `none`                    | the sandbox, unchanged (the control)                   | nothing                 |
| `drop_request_id`         | no `X-GLedger-Request-Id` header                       | `request_id`            |
| `alter_line_amount`       | the first line of every entry read back is 1 higher    | `entries_balance`       |
| `balance_off_by_one`      | one account's posted balance is 1 higher               | `balance_matches_lines` |
| `skip_item_between_pages` | every second page of a walk lacks its first item       | `pages_complete`        |
| `different_replay_body`   | a replayed response has one field changed              | `idempotent_replay`     |
| `accept_reused_key`       | a reused key with another body gets the original 201   | `idempotent_replay`     |
| `answer_500`              | one operation answers 500 (a problem document)         | `not_a_server_error`    |
| `drop_event`              | an `entry.posted` event is missing from event pages    | `event_sequence`        |
| `plain_json_errors`       | 4xx as `application/json` without `code`               | `problem_json`          |
| `auth_bypass`             | calls without a credential run as the tenant           | `auth_enforced`         |
| `wrong_webhook_secret`    | endpoint create/rotate shows another `whsec_` secret   | `webhook_signature`     |
| `drop_required_field`     | 2xx JSON without a required field (`has_more`, `id`)   | `response_schema_conformance` |
| `undocumented_status`     | 200 answers come as 203, which no operation documents  | `status_code_conformance` |
| `mislabelled_json`        | 2xx JSON labelled `text/plain`                         | `content_type_conformance` |

Faults keep what state they need (the account they lie about, the page count of a walk, the
first answer per idempotency key); a proxy serves one fault for its whole life.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from typing import Any

import httpx

from tests.contract.faults.proxy import REQUEST_ID, Answer, Call, Fault

REPLAYED = "Idempotent-Replayed"
_ENTRY_READ = re.compile(r"^/v1/entries(/[^/]+)?$")
_BALANCE_READ = re.compile(r"^/v1/accounts/([^/]+)/balance$")
_SECRET_SHOWN = re.compile(r"^/v1/webhook-endpoints(/[^/]+/rotate-secret)?$")


class DropRequestId(Fault):
    name = "drop_request_id"

    def response(self, call: Call, answer: Answer) -> Answer:
        if REQUEST_ID in answer.headers:
            del answer.headers[REQUEST_ID]
            self.hits += 1
        return answer


class AlterLineAmount(Fault):
    """Entries read back (one entry, or a page of them) no longer balance."""

    name = "alter_line_amount"

    def __init__(self) -> None:
        super().__init__()
        self.entry_ids: list[str] = []
        """The entries shown unbalanced, in the order first shown."""

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != "GET" or answer.status != 200 or not _ENTRY_READ.match(call.path):
            return answer
        document = answer.json()
        entries = document.get("data", [document])
        for entry in entries:
            entry["lines"][0]["amount"] += 1
            if entry["id"] not in self.entry_ids:
                self.entry_ids.append(entry["id"])
        return self.rewritten(answer, document) if entries else answer


class BalanceOffByOne(Fault):
    """The first account whose balance is read shows one more on its normal side, every read."""

    name = "balance_off_by_one"

    def __init__(self) -> None:
        super().__init__()
        self.account_id: str | None = None

    def response(self, call: Call, answer: Answer) -> Answer:
        read = _BALANCE_READ.match(call.path)
        if call.method != "GET" or answer.status != 200 or not read:
            return answer
        self.account_id = self.account_id or read.group(1)
        if read.group(1) != self.account_id:
            return answer
        balance = answer.json()
        posted = balance["posted"]
        posted["debits" if balance["normal_balance"] == "debit" else "credits"] += 1
        posted["amount"] += 1
        return self.rewritten(answer, balance)


class SkipItemBetweenPages(Fault):
    """Cursor pages: the first item of every second page of a walk goes missing (cursor kept)."""

    name = "skip_item_between_pages"

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[tuple[str, str], int] = {}
        self.skipped: list[Any] = []
        """The items cut, in order."""

    def response(self, call: Call, answer: Answer) -> Answer:
        page = answer.json()
        if call.method != "GET" or answer.status != 200 or not _is_cursor_page(page):
            return answer
        # A walk is one list with one set of filters; its first page is the one without a cursor.
        filters = sorted((k, v) for k, v in call.params().items() if k != "cursor")
        walk = (call.path, repr(filters))
        number = self.pages.get(walk, 1) + 1 if "cursor" in call.params() else 1
        self.pages[walk] = number
        if number % 2 == 0 and page["data"]:
            self.skipped.append(page["data"].pop(0))
            return self.rewritten(answer, page)
        return answer


class DifferentReplayBody(Fault):
    """A replayed answer is no longer the stored one: its metadata gains a key."""

    name = "different_replay_body"

    def response(self, call: Call, answer: Answer) -> Answer:
        document = answer.json()
        if answer.headers.get(REPLAYED) != "true" or not isinstance(document, dict):
            return answer
        target = next(_with_metadata(document), None)
        if target is None:
            document["replayed"] = True
        else:
            target["metadata"] = {**target["metadata"], "replayed": "differently"}
        return self.rewritten(answer, document)


class AcceptReusedKey(Fault):
    """The same idempotency key with another body is answered with the original response."""

    name = "accept_reused_key"

    def __init__(self) -> None:
        super().__init__()
        self.originals: dict[tuple[str, str], Answer] = {}

    def response(self, call: Call, answer: Answer) -> Answer:
        key = call.headers.get("Idempotency-Key")
        if call.method != "POST" or key is None:
            return answer
        original = self.originals.get((call.path, key))
        if original is None and 200 <= answer.status < 300:
            self.originals[(call.path, key)] = copy.deepcopy(answer)
        problem = answer.json()
        if original is None or not isinstance(problem, dict):
            return answer
        if problem.get("code") != "idempotency.key_reused":
            return answer
        forged = copy.deepcopy(original)
        forged.headers[REQUEST_ID] = answer.headers.get(REQUEST_ID, "")
        self.hits += 1
        return forged


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


class DropEvent(Fault):
    """One event (the first of ``event_type`` a page shows) is cut from every `GET /v1/events` page."""

    name = "drop_event"

    def __init__(self, event_type: str | None = "entry.posted") -> None:
        super().__init__()
        self.event_type = event_type
        self.dropped: dict[str, Any] | None = None
        """The event that disappears, once chosen."""

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != "GET" or call.path != "/v1/events" or answer.status != 200:
            return answer
        page = answer.json()
        if self.dropped is None:
            self.dropped = next(
                (e for e in page["data"] if self.event_type in (None, e["type"])), None
            )
        kept = [e for e in page["data"] if self.dropped is None or e["id"] != self.dropped["id"]]
        if len(kept) != len(page["data"]):
            page["data"] = kept
            return self.rewritten(answer, page)
        return answer


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


def _is_cursor_page(page: Any) -> bool:
    return isinstance(page, dict) and isinstance(page.get("data"), list) and "next_cursor" in page


def _with_metadata(document: Any) -> Any:
    """Every object (depth first) carrying a `metadata` map."""
    if isinstance(document, dict):
        if isinstance(document.get("metadata"), dict):
            yield document
        for value in document.values():
            yield from _with_metadata(value)
    elif isinstance(document, list):
        for item in document:
            yield from _with_metadata(item)


FAULTS: dict[str, type[Fault]] = {
    fault.name: fault
    for fault in (
        Fault,
        DropRequestId,
        AlterLineAmount,
        BalanceOffByOne,
        SkipItemBetweenPages,
        DifferentReplayBody,
        AcceptReusedKey,
        Answer500,
        DropEvent,
        PlainJsonErrors,
        AuthBypass,
        WrongWebhookSecret,
        DropRequiredField,
        UndocumentedStatus,
        MislabelledJson,
    )
}


def make_fault(name: str, *, api_key: str = "") -> Fault:
    """A fresh fault by name (``auth_bypass`` needs the key it injects)."""
    if name == AuthBypass.name:
        return AuthBypass(api_key)
    return FAULTS[name]()
