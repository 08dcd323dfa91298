"""Entries encoded once: a page of entries is a join of bytes most entries already have.

An entry changes rarely after it is created (post, void, reversal, a metadata edit), and a page
of the newest 50 is read many times between its changes, so each read re-encoded the same
entries. Here an entry's JSON is kept beside what it was encoded from (:func:`_stamp`); a read
whose entry still has those values takes the bytes, anything else encodes again. The bytes are
those :func:`serializers.entry` gives, embedded by orjson as they are, so answers stay
byte-identical. A bounded number is kept (the oldest go first): memory stays flat however large
the ledgers grow.
"""

from __future__ import annotations

from typing import Any

import orjson

from gledger_sandbox.api import jsontext
from gledger_sandbox.api.serializers import Json, entry, page
from gledger_sandbox.domain.ledger.models import Entry
from gledger_sandbox.domain.ledger.pages import Page

MAX_ENCODED_ENTRIES = 4096
"""Entries whose JSON is kept (a few pages of every busy tenant; about 1 KB each)."""

_encoded: dict[int, tuple[Entry, tuple[Any, ...], orjson.Fragment]] = {}
"""By ``id()`` of the entry, which the value holds: its id cannot be reused while kept."""


def _stamp(found: Entry) -> tuple[Any, ...]:
    """Every field of an entry that can change after it is created (the domain replaces them
    whole, never in place). Metadata counts by identity too: equal dicts whose keys come in
    another order are equal, yet encode to other bytes."""
    return (
        found.version,
        found.updated_at,
        found.status,
        found.lines,
        found.description,
        found.external_id,
        found.effective_at,
        found.posted_at,
        found.voided_at,
        found.void_reason,
        found.expires_at,
        found.links,
        found.metadata,
        id(found.metadata),
    )


def entry_json(found: Entry) -> orjson.Fragment | Json:
    """The entry as :func:`serializers.entry` encodes it, for ``json_response`` or a page: its
    kept bytes if it has not changed since, else encoded now (and kept). The plain document
    where orjson cannot encode it (nothing is kept then)."""
    stamp = _stamp(found)
    kept = _encoded.get(id(found))
    if kept is not None and kept[0] is found and kept[1] == stamp:
        return kept[2]
    document = entry(found)
    encoded = jsontext.fragment(document)
    if encoded is None:
        return document
    if len(_encoded) >= MAX_ENCODED_ENTRIES:
        _encoded.pop(next(iter(_encoded)), None)
    _encoded[id(found)] = (found, stamp, encoded)
    return encoded


def entry_page(found: Page[Entry]) -> Json:
    """A page of entries as :func:`serializers.page` builds it, each entry's bytes kept."""
    data = [entry_json(row) for row in found.items]
    if not all(isinstance(item, orjson.Fragment) for item in data):
        # One entry orjson refused: the whole page takes the fallback encoder, as before.
        return page(found, entry)
    return {"data": data, "has_more": found.has_more, "next_cursor": found.next_cursor}
