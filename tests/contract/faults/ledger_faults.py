"""Faults that break the ledger's own promises: entries, balances, pages, replays, events.

See ``faults.py`` for the table of every fault and the check that must catch it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from tests.contract.faults.proxy import REQUEST_ID, Answer, Call, Fault

REPLAYED = "Idempotent-Replayed"
_ENTRY_READ = re.compile(r"^/v1/entries(/[^/]+)?$")
_BALANCE_READ = re.compile(r"^/v1/accounts/([^/]+)/balance$")


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


class PageWalks(Fault):
    """Counts the pages of each walk of a cursor list, for faults that break some of them.

    A walk is one list with one set of filters; its first page is the one without a cursor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[tuple[str, str], int] = {}
        self.last_items: dict[tuple[str, str], Any] = {}

    def response(self, call: Call, answer: Answer) -> Answer:
        page = answer.json()
        if call.method != "GET" or answer.status != 200 or not _is_cursor_page(page):
            return answer
        params = call.params()
        walk = (call.path, repr(sorted((k, v) for k, v in params.items() if k != "cursor")))
        number = self.pages.get(walk, 1) + 1 if "cursor" in params else 1
        self.pages[walk] = number
        previous = self.last_items.get(walk) if number > 1 else None
        if page["data"]:
            self.last_items[walk] = page["data"][-1]
        limit = int(params.get("limit", 50))
        if number % 2 == 0 and self.break_page(page, previous, limit):
            return self.rewritten(answer, page)
        return answer

    def break_page(self, page: dict[str, Any], previous: Any, limit: int) -> bool:
        """Change the walk's second, fourth... page in place; whether anything changed."""
        raise NotImplementedError


class SkipItemBetweenPages(PageWalks):
    """Every second page of a walk lacks its first item (the cursor is kept)."""

    name = "skip_item_between_pages"

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[Any] = []
        """The items cut, in order."""

    def break_page(self, page: dict[str, Any], previous: Any, limit: int) -> bool:
        if not page["data"]:
            return False
        self.skipped.append(page["data"].pop(0))
        return True


class RepeatItemBetweenPages(PageWalks):
    """Every second page of a walk starts with the previous page's last item again.

    An off-by-one cursor: the page keeps ``limit`` items, so its own last one is pushed out.
    """

    name = "repeat_item_between_pages"

    def __init__(self) -> None:
        super().__init__()
        self.repeated: list[Any] = []
        """The items shown twice, in order."""

    def break_page(self, page: dict[str, Any], previous: Any, limit: int) -> bool:
        if previous is None:
            return False
        page["data"] = [previous, *page["data"]][:limit]
        self.repeated.append(previous)
        return True


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


class EventsOutOfOrder(Fault):
    """Each `GET /v1/events` page of three or more events has its first two swapped.

    The last event stays last, so `next_after` still matches the page: only the order is wrong.
    """

    name = "events_out_of_order"

    def response(self, call: Call, answer: Answer) -> Answer:
        if call.method != "GET" or call.path != "/v1/events" or answer.status != 200:
            return answer
        page = answer.json()
        events = page["data"]
        if len(events) < 3:
            return answer
        events[0], events[1] = events[1], events[0]
        return self.rewritten(answer, page)


def _is_cursor_page(page: Any) -> bool:
    return isinstance(page, dict) and isinstance(page.get("data"), list) and "next_cursor" in page


def _with_metadata(document: Any) -> Iterator[dict[str, Any]]:
    """Every object (depth first) carrying a `metadata` map."""
    if isinstance(document, dict):
        if isinstance(document.get("metadata"), dict):
            yield document
        for value in document.values():
            yield from _with_metadata(value)
    elif isinstance(document, list):
        for item in document:
            yield from _with_metadata(item)
