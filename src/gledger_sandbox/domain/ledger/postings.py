"""Journal entries: the invariants, the status machine, and the postings that move balances.

The invariants of the lines live in ``entry_rules`` (checked before anything changes, every
offending field at once); external_id unique per ledger is kept here, with the index it needs.

Status machine: ``pending -> posted | voided``, once; an entry may be created ``posted``.
Posted and voided entries change only in metadata; corrections are reversals, linked both ways.
Every posting touching an account bumps its ``lock_version``.

An entry a payout owns (``LedgerStore.entry_owner``) moves only with its payout: posting,
voiding, reversing or changing it (metadata aside) is 409 ``entry.owned_by_payout`` unless the
caller is that owner, so a payout never finds its funds moved behind its back.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from gledger_sandbox.domain.errors import (
    Conflict,
    FieldError,
    InvalidRequest,
    NotFound,
)
from gledger_sandbox.domain.ledger import events
from gledger_sandbox.domain.ledger.entry_rules import check_expiry, check_flags, resolve_lines
from gledger_sandbox.domain.ledger.models import (
    NO_LINKS,
    NO_METADATA,
    Account,
    Entry,
    EntryLinks,
    EntrySpec,
    EntryStatus,
    LineSpec,
    VoidReason,
)
from gledger_sandbox.domain.ledger.money import MAX_AMOUNT, Direction, Totals
from gledger_sandbox.domain.ledger.store import LedgerStore

EDITABLE_WHEN_FINAL = frozenset({"metadata", "version"})


def _apply(store: LedgerStore, entry: Entry, bucket: str, sign: int, bump: bool = True) -> None:
    """Add (sign 1) or remove (sign -1) the entry's lines in an account bucket.

    ``bump`` raises each touched account's lock_version once; a step that is half of one
    posting (releasing the pending amounts of an entry being posted) does not bump.
    """
    touched: dict[str, Account] = {}
    for line in entry.lines:
        account = store.accounts[line.account_id]
        totals: Totals = getattr(account, bucket)
        store.uow.set(account, bucket, totals.plus(line.direction, sign * line.amount))
        touched[account.id] = account
    _move_volume(store, entry, sign)
    if bump:
        _bump(store, touched)


def _move_volume(store: LedgerStore, entry: Entry, sign: int) -> None:
    """Keep the ledger's volume per currency within MAX_AMOUNT (the caller's unit of work
    undoes the posting otherwise).

    The volume is the sum of the debits (equal to the credits) of all posted and pending
    lines: it bounds every running total the API shows (an account's debits and credits in
    each bucket, a day's totals, a report's sums), so none passes 2^53 - 1.
    """
    debits: dict[str, int] = {}
    for line in entry.lines:
        if line.direction is Direction.DEBIT:
            debits[line.currency] = debits.get(line.currency, 0) + line.amount
    for currency, amount in debits.items():
        key = (entry.ledger_id, currency)
        after = store.volumes.get(key, 0) + sign * amount
        if sign > 0 and after > MAX_AMOUNT:
            raise InvalidRequest.at(
                "/lines",
                "amount_out_of_range",
                f"Posting this entry would take the ledger's {currency} totals past "
                f"{MAX_AMOUNT} (2^53 - 1), the largest amount the API carries exactly.",
            )
        store.uow.put(store.volumes, key, after)


def _bump(store: LedgerStore, account_ids: Iterable[str]) -> None:
    for account_id in account_ids:
        account = store.accounts[account_id]
        store.uow.set(account, "lock_version", account.lock_version + 1)


def _post(store: LedgerStore, entry: Entry, now: datetime) -> None:
    _apply(store, entry, "posted", 1)
    for place, line in enumerate(entry.lines):
        store.add_statement_line(store.accounts[line.account_id], entry, place)
    store.uow.set(entry, "posted_at", now)


def _index_keys(entry: Entry) -> list[tuple[Any, ...]]:
    keys: list[tuple[Any, ...]] = [
        ("entries",),
        ("entries", "ledger", entry.ledger_id),
        ("entries", "status", entry.status),
    ]
    keys += [
        ("entries", "account", a) for a in dict.fromkeys(line.account_id for line in entry.lines)
    ]
    if entry.source_type is not None:
        keys.append(("entries", "source_type", entry.source_type))
        if entry.source_id is not None:
            keys.append(("entries", "source", entry.source_type, entry.source_id))
    if entry.external_id is not None:
        keys.append(("entries", "external_id", entry.external_id))
    return keys


def create_entry(store: LedgerStore, spec: EntrySpec, *, reverses: str | None = None) -> Entry:
    """Validate and record an entry, posting it at once unless it is created ``pending``."""
    ledger = store.ledger(spec.ledger_id, "/ledger_id")
    if spec.status is EntryStatus.VOIDED:
        raise InvalidRequest.at(
            "/status", "validation.invalid_value", "An entry is created pending or posted."
        )
    check_expiry(store, spec.status, spec.expires_at)
    for i, related in enumerate(spec.related_entry_ids):
        if related not in store.entries:
            raise NotFound("entry", related, f"/related_entry_ids/{i}")
    if spec.external_id is not None:
        owner = store.external_id_owner(ledger.id, spec.external_id)
        if owner is not None:
            raise Conflict.at(
                "/external_id",
                "duplicate_entry",
                f"Entry {owner} in this ledger already has external_id {spec.external_id!r}.",
            )
    with store.uow.atomic():
        lines = resolve_lines(store, ledger.id, spec.lines)
        store.quotas.check("entries", len(store.entries))
        now = store.clock.now()
        seq = store.next_seq()
        entry = Entry(
            id=store.ids.new("ent"),
            seq=seq,
            ledger_id=ledger.id,
            status=spec.status,
            lines=tuple(lines),
            description=spec.description,
            external_id=spec.external_id,
            effective_at=spec.effective_at or now,
            created_at=now,
            updated_at=now,
            # A handful of source types name most entries: one string each, not one per entry.
            source_type=sys.intern(spec.source_type) if spec.source_type else spec.source_type,
            source_id=spec.source_id,
            metadata=dict(spec.metadata) if spec.metadata else NO_METADATA,
            links=EntryLinks(
                reverses=reverses, related=tuple(dict.fromkeys(spec.related_entry_ids))
            )
            if reverses or spec.related_entry_ids
            else NO_LINKS,
            expires_at=spec.expires_at,
        )
        store.keep(store.entries, entry, _index_keys(entry))
        if entry.external_id is not None:
            store.claim_external_id(ledger.id, entry.external_id, entry.id)
        if entry.status is EntryStatus.POSTED:
            _post(store, entry, now)
        else:
            _apply(store, entry, "pending", 1)
            if entry.expires_at is not None:
                store.expire_later(entry)
        check_flags(store, entry.lines)
        created = store.events.append(events.ENTRY_CREATED, entry, at=now)
        if entry.status is EntryStatus.POSTED:
            # Every way an entry reaches posted says so: partners subscribe to entry.posted.
            store.events.append(events.ENTRY_POSTED, entry, like=created)
        return entry


def entry(store: LedgerStore, entry_id: str) -> Entry:
    found = store.entries.get(entry_id)
    if found is None:
        raise NotFound("entry", entry_id)
    return found


def _require_pending(found: Entry, action: str) -> None:
    if found.status is not EntryStatus.PENDING:
        raise Conflict.at(
            "/status",
            "entry.invalid_transition",
            f"Entry {found.id} is {found.status.value}; only a pending entry can be {action}.",
        )


def _require_unowned(store: LedgerStore, found: Entry, owner: str | None, action: str) -> None:
    holder = store.entry_owner(found.id)
    if holder is not None and holder != owner:
        raise Conflict.at(
            "/source_id",
            "entry.owned_by_payout",
            f"Entry {found.id} belongs to payout {holder}, which {action}s it itself: "
            "cancel the payout instead.",
        )


def post_entry(store: LedgerStore, entry_id: str, *, owner: str | None = None) -> Entry:
    """Post a pending entry; ``owner`` is the payout that owns it, when it posts its own."""
    found = entry(store, entry_id)
    _require_unowned(store, found, owner, "post")
    _require_pending(found, "posted")
    with store.uow.atomic():
        now = store.clock.now()
        _apply(store, found, "pending", -1, bump=False)
        _post(store, found, now)
        store.set_status(found, "entries", EntryStatus.POSTED)
        _touch(store, found, now)
        check_flags(store, found.lines)
        store.events.append(events.ENTRY_POSTED, found)
    return found


def void_entry(
    store: LedgerStore,
    entry_id: str,
    reason: VoidReason = VoidReason.REQUESTED,
    *,
    owner: str | None = None,
) -> Entry:
    found = entry(store, entry_id)
    _require_unowned(store, found, owner, "void")
    _require_pending(found, "voided")
    with store.uow.atomic():
        now = store.clock.now()
        _apply(store, found, "pending", -1)
        store.set_status(found, "entries", EntryStatus.VOIDED)
        store.uow.set(found, "voided_at", now)
        store.uow.set(found, "void_reason", reason)
        _touch(store, found, now)
        store.events.append(events.ENTRY_VOIDED, found)
    return found


def _touch(store: LedgerStore, found: Entry, now: datetime) -> None:
    store.uow.set(found, "updated_at", now)
    store.uow.set(found, "version", found.version + 1)


def reverse_entry(
    store: LedgerStore,
    entry_id: str,
    description: str | None = None,
    effective_at: datetime | None = None,
    external_id: str | None = None,
    metadata: dict[str, str] | None = None,
    *,
    owner: str | None = None,
) -> Entry:
    """Post a new entry with every line's direction swapped, linked both ways to the original."""
    original = entry(store, entry_id)
    _require_unowned(store, original, owner, "reverse")
    if original.status is not EntryStatus.POSTED:
        raise Conflict.at(
            "/status",
            "entry.invalid_transition",
            f"Entry {original.id} is {original.status.value}; only a posted entry is reversed.",
        )
    if original.links.reversed_by is not None:
        raise Conflict.at(
            "/links/reversed_by",
            "entry.already_reversed",
            f"Entry {original.id} was already reversed by {original.links.reversed_by}.",
        )
    spec = EntrySpec(
        ledger_id=original.ledger_id,
        lines=tuple(
            LineSpec(
                direction=line.direction.opposite(),
                amount=line.amount,
                account_id=line.account_id,
                memo=line.memo,
            )
            for line in original.lines
        ),
        description=description or f"Reversal of {original.id}",
        external_id=external_id,
        effective_at=effective_at,
        source_type=original.source_type,
        source_id=original.source_id,
        metadata=metadata or {},
    )
    with store.uow.atomic():
        reversal = create_entry(store, spec, reverses=original.id)
        links = original.links
        store.uow.set(original, "links", EntryLinks(links.reverses, reversal.id, links.related))
        _touch(store, original, reversal.created_at)
        store.events.append(events.ENTRY_REVERSED, original)
    return reversal


def update_entry(store: LedgerStore, entry_id: str, changes: dict[str, Any]) -> Entry:
    """Change a pending entry, or only the metadata of a posted or voided one."""
    found = entry(store, entry_id)
    if set(changes) - EDITABLE_WHEN_FINAL:
        _require_unowned(store, found, None, "change")
    expected = changes.get("version")
    if expected is not None and expected != found.version:
        raise Conflict.at(
            "/version",
            "conflict.version_mismatch",
            f"Entry {found.id} is at version {found.version}, not {expected}.",
        )
    if found.status is not EntryStatus.PENDING:
        frozen = sorted(set(changes) - EDITABLE_WHEN_FINAL)
        if frozen:
            raise Conflict(
                "entry.immutable",
                f"Entry {found.id} is {found.status.value}: only its metadata can change. "
                "Correct it with a reversal.",
                tuple(
                    FieldError(
                        f"/{name}",
                        "entry.immutable",
                        f"{name} of a {found.status.value} entry cannot change.",
                    )
                    for name in frozen
                ),
            )
    with store.uow.atomic():
        now = store.clock.now()
        if "external_id" in changes and changes["external_id"] != found.external_id:
            _move_external_id(store, found, changes["external_id"])
        for name in ("description", "metadata", "effective_at"):
            if name in changes:
                store.uow.set(found, name, changes[name])
        if "expires_at" in changes:
            check_expiry(store, found.status, changes["expires_at"])
            store.uow.set(found, "expires_at", changes["expires_at"])
            if found.expires_at is not None:
                store.expire_later(found)
        if "lines" in changes:
            _replace_pending_lines(store, found, changes["lines"])
        _touch(store, found, now)
        store.events.append(events.ENTRY_UPDATED, found)
    return found


def _move_external_id(store: LedgerStore, found: Entry, external_id: str | None) -> None:
    if external_id is not None:
        owner = store.external_id_owner(found.ledger_id, external_id)
        if owner is not None:
            raise Conflict.at(
                "/external_id",
                "duplicate_entry",
                f"Entry {owner} in this ledger already has external_id {external_id!r}.",
            )
    if found.external_id is not None:
        store.release_external_id(found.ledger_id, found.external_id)
        store.index_remove(("entries", "external_id", found.external_id), found.seq)
    if external_id is not None:
        store.claim_external_id(found.ledger_id, external_id, found.id)
        store.index_add(("entries", "external_id", external_id), found.seq)
    store.uow.set(found, "external_id", external_id)


def _replace_pending_lines(store: LedgerStore, found: Entry, specs: tuple[LineSpec, ...]) -> None:
    old_accounts = {line.account_id for line in found.lines}
    _apply(store, found, "pending", -1, bump=False)
    lines = tuple(resolve_lines(store, found.ledger_id, specs))
    store.uow.set(found, "lines", lines)
    _apply(store, found, "pending", 1, bump=False)
    new_accounts = {line.account_id for line in lines}
    _bump(store, sorted(old_accounts | new_accounts))
    for gone in old_accounts - new_accounts:
        store.index_remove(("entries", "account", gone), found.seq)
    for added in new_accounts - old_accounts:
        store.index_add(("entries", "account", added), found.seq)
    check_flags(store, lines)
