"""``gledger-sandbox events tail``: the live feed, one readable line per event.

``09:00:01  #42  entry.posted  evt_...  entry ent_... posted 10800 USD (invoice in_1001)``:
the sandbox time of the event, its sequence, type and id, then what it is about, picked from
the resource it carries (id, status, amount and currency, source, code) when it has them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gledger_sandbox.devtools.feed import EventFeed, FeedEvent


def _amount(resource: dict[str, Any]) -> str | None:
    amount, currency = resource.get("amount"), resource.get("currency")
    if isinstance(amount, int) and currency:
        return f"{amount} {currency}"
    lines = resource.get("lines")
    if isinstance(lines, list):
        debits: dict[str, int] = {}
        for line in lines:
            if isinstance(line, dict) and line.get("direction") == "debit":
                key = str(line.get("currency", ""))
                debits[key] = debits.get(key, 0) + int(line.get("amount", 0))
        return ", ".join(f"{total} {code}".strip() for code, total in debits.items()) or None
    return None


def summary(kind: str, resource: Any) -> str:
    """What the event is about, in a few words: ``entry ent_... posted 10800 USD``."""
    if not isinstance(resource, dict):
        return ""
    words = [kind, str(resource.get("id", ""))]
    for field in ("code", "status"):
        if resource.get(field):
            words.append(str(resource[field]))
    amount = _amount(resource)
    if amount:
        words.append(amount)
    if resource.get("source_type"):
        source = f"{resource['source_type']} {resource.get('source_id') or ''}".strip()
        words.append(f"({source})")
    return " ".join(word for word in words if word)


def event_line(event: FeedEvent) -> str:
    created = str(event.body.get("created_at", ""))
    clock = created[11:19] if len(created) >= 19 else created
    about = summary(event.type.partition(".")[0], event.body.get("data"))
    return f"{clock}  #{event.seq:<5} {event.type:<28} {event.id}  {about}".rstrip()


async def tail(feed: EventFeed, print_line: Callable[[str], None]) -> None:
    """Print every event of ``feed`` as it comes, until cancelled."""
    async for event in feed.events():
        print_line(event_line(event))
