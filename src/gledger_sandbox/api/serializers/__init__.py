"""The JSON shape of every resource, both ways: the only package that knows field names.

Out: domain objects to plain dicts (timestamps in UTC with a ``Z``). In: request bodies, already
checked against the spec's schemas by connexion, to the domain's specs. The core resources live
here; newer areas (reports, settlements, reconciliation) get a module of their own beside it.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import httpx

from gledger_sandbox.api import jsontext
from gledger_sandbox.api.runner import AdvanceReport
from gledger_sandbox.domain.errors import InvalidRequest, MalformedInput
from gledger_sandbox.domain.ledger.events import Event, EventPage
from gledger_sandbox.domain.ledger.models import (
    Account,
    AccountFlags,
    AccountKind,
    AccountSpec,
    AccountStatus,
    Entry,
    EntrySpec,
    EntryStatus,
    Ledger,
    LineSpec,
    StatementLine,
)
from gledger_sandbox.domain.ledger.money import Direction, Totals
from gledger_sandbox.domain.ledger.pages import Page
from gledger_sandbox.domain.live.webhook_models import (
    Attempt,
    Delivery,
    EndpointSpec,
    EndpointStatus,
    WebhookEndpoint,
)
from gledger_sandbox.domain.sandbox.tenant import Tenant

Json = dict[str, Any]


dumps = jsontext.dumps
"""Compact, stable JSON: the bytes a replay must reproduce exactly (never fails on a document)."""


def timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``; every stored time is already UTC (clock and parser)."""
    if moment is None:
        return None
    return _rfc3339(moment, moment.tzinfo)


@functools.lru_cache(maxsize=16384)
def _rfc3339(moment: datetime, _zone: Any) -> str:
    """The text of a time, remembered: a page of 50 entries formats the same few hundred
    times on every read. Keyed by the time zone too (equal instants in other zones are equal
    datetimes, and would share an entry)."""
    return moment.isoformat().replace("+00:00", "Z")


def parse_timestamp(text: str, pointer: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime; anything else is refused at ``pointer``."""
    try:
        moment = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except ValueError:
        raise MalformedInput.at(
            pointer, "validation.invalid_value", f"{text!r} is not an RFC 3339 date-time."
        ) from None
    except OverflowError:  # e.g. 0001-01-01T00:00:00+00:01: before year 1 once in UTC
        # A well-formed time out of range: 422 in a body (as its other constraints), 400 in a
        # query (a query cannot be answered as asked).
        error = MalformedInput if pointer.startswith("/query/") else InvalidRequest
        raise error.at(
            pointer,
            "validation.invalid_value",
            f"{text!r} falls outside the years 0001 to 9999 once converted to UTC.",
        ) from None


def page(items: Page[Any], item: Any) -> Json:
    return {
        "data": [item(row) for row in items.items],
        "has_more": items.has_more,
        "next_cursor": items.next_cursor,
    }


def ledger(found: Ledger) -> Json:
    return {
        "id": found.id,
        "name": found.name,
        "description": found.description,
        "metadata": found.metadata,
        "created_at": timestamp(found.created_at),
        "updated_at": timestamp(found.updated_at),
    }


def account(found: Account) -> Json:
    return {
        "id": found.id,
        "ledger_id": found.ledger_id,
        "code": found.code,
        "name": found.name,
        "kind": found.kind.value,
        "normal_balance": found.normal_balance.value,
        "currency": found.currency,
        "status": found.status.value,
        "lock_version": found.lock_version,
        "flags": {
            "debits_must_not_exceed_credits": found.flags.debits_must_not_exceed_credits,
            "credits_must_not_exceed_debits": found.flags.credits_must_not_exceed_debits,
        },
        "metadata": found.metadata,
        "created_at": timestamp(found.created_at),
        "updated_at": timestamp(found.updated_at),
    }


def totals(amounts: Totals, normal: Direction) -> Json:
    return {"debits": amounts.debits, "credits": amounts.credits, "amount": amounts.signed(normal)}


def balance(found: Account, posted: Totals, as_of: datetime | None) -> Json:
    """An account's balance; as of a past time only posted history counts, so pending and
    available equal posted then."""
    normal = found.normal_balance
    pending, available = (posted, posted) if as_of else (found.pending_view, found.available)
    return {
        "account_id": found.id,
        "ledger_id": found.ledger_id,
        "code": found.code,
        "currency": found.currency,
        "normal_balance": normal.value,
        "lock_version": found.lock_version,
        "as_of": timestamp(as_of),
        "posted": totals(posted, normal),
        "pending": totals(pending, normal),
        "available": totals(available, normal),
    }


def ledger_balance(found: Account) -> Json:
    return {
        "account_id": found.id,
        "code": found.code,
        "currency": found.currency,
        "debits": found.posted.debits,
        "credits": found.posted.credits,
        "balance": found.posted.signed(found.normal_balance),
    }


def statement_line(found: StatementLine) -> Json:
    line = found.line
    return {
        "id": line.id,
        "entry_id": found.entry_id,
        "account_id": line.account_id,
        "direction": line.direction.value,
        "amount": line.amount,
        "currency": line.currency,
        "memo": line.memo,
        "effective_at": timestamp(found.effective_at),
        "posted_at": timestamp(found.posted_at),
        "source_type": found.source_type,
        "source_id": found.source_id,
        "balance_after": found.balance_after,
    }


def entry(found: Entry) -> Json:
    return {
        "id": found.id,
        "ledger_id": found.ledger_id,
        "status": found.status._value_,  # .value is a slow descriptor: pages call this per entry
        "description": found.description,
        "external_id": found.external_id,
        "effective_at": timestamp(found.effective_at),
        "posted_at": timestamp(found.posted_at),
        "voided_at": timestamp(found.voided_at),
        "void_reason": found.void_reason._value_ if found.void_reason else None,
        "expires_at": timestamp(found.expires_at),
        "created_at": timestamp(found.created_at),
        "updated_at": timestamp(found.updated_at),
        "source_type": found.source_type,
        "source_id": found.source_id,
        "lines": [
            {
                "id": line.id,
                "account_id": line.account_id,
                "account_code": line.account_code,
                "direction": line.direction._value_,
                "amount": line.amount,
                "currency": line.currency,
                "memo": line.memo,
            }
            for line in found.lines
        ],
        "links": {
            "reverses": found.links.reverses,
            "reversed_by": found.links.reversed_by,
            "related": list(found.links.related),
        },
        "version": found.version,
        "metadata": found.metadata,
    }


def _tenant_identity(found: Tenant) -> Json:
    return {
        "tenant_id": found.id,
        "fixture": found.fixture,
        "seed": found.seed,
        "created_at": timestamp(found.created_at),
        "expires_at": timestamp(found.expires_at),
    }


def tenant(found: Tenant) -> Json:
    return {
        **_tenant_identity(found),
        "clock": {"now": timestamp(found.clock.now()), "frozen": found.clock.frozen},
        "counts": found.counts(),
    }


def tenant_credentials(found: Tenant, scopes: tuple[str, ...]) -> Json:
    return {
        **_tenant_identity(found),
        "api_key": found.api_key,
        "client_id": found.client_id,
        "client_secret": found.client_secret,
        "scopes": list(scopes),
    }


# -- request bodies to domain specs ----------------------------------------------------------


def line_spec(body: Json) -> LineSpec:
    return LineSpec(
        direction=Direction(body["direction"]),
        amount=body["amount"],
        account_id=body.get("account_id"),
        account_code=body.get("account_code"),
        currency=body.get("currency"),
        memo=body.get("memo"),
        lock_version=body.get("lock_version"),
    )


def optional_timestamp(body: Json, name: str) -> datetime | None:
    text = body.get(name)
    return parse_timestamp(text, "/" + name) if text else None


def entry_spec(body: Json) -> EntrySpec:
    effective_at = body.get("effective_at")
    return EntrySpec(
        expires_at=optional_timestamp(body, "expires_at"),
        ledger_id=body["ledger_id"],
        lines=tuple(line_spec(line) for line in body["lines"]),
        status=EntryStatus(body.get("status", "posted")),
        description=body.get("description"),
        external_id=body.get("external_id"),
        effective_at=parse_timestamp(effective_at, "/effective_at") if effective_at else None,
        source_type=body.get("source_type"),
        source_id=body.get("source_id"),
        related_entry_ids=tuple(body.get("related_entry_ids", ())),
        metadata=body.get("metadata") or {},
    )


def _metadata_cleared(changes: Json) -> Json:
    """A PATCH's ``metadata: null`` clears it: the stored value is an empty map."""
    if "metadata" in changes and changes["metadata"] is None:
        changes["metadata"] = {}
    return changes


def ledger_changes(body: Json) -> Json:
    return _metadata_cleared(dict(body))


def entry_changes(body: Json) -> Json:
    changes = dict(body)
    if "lines" in changes:
        changes["lines"] = tuple(line_spec(line) for line in changes["lines"])
    if "effective_at" in changes:
        changes["effective_at"] = parse_timestamp(changes["effective_at"], "/effective_at")
    if "expires_at" in changes:
        changes["expires_at"] = optional_timestamp(changes, "expires_at")
    return _metadata_cleared(changes)


def flags(body: Json | None, current: AccountFlags | None = None) -> AccountFlags:
    base = current or AccountFlags()
    body = body or {}
    return AccountFlags(
        debits_must_not_exceed_credits=body.get(
            "debits_must_not_exceed_credits", base.debits_must_not_exceed_credits
        ),
        credits_must_not_exceed_debits=body.get(
            "credits_must_not_exceed_debits", base.credits_must_not_exceed_debits
        ),
    )


def account_spec(body: Json) -> AccountSpec:
    normal = body.get("normal_balance")
    return AccountSpec(
        code=body["code"],
        name=body["name"],
        kind=AccountKind(body["kind"]),
        currency=body["currency"],
        normal_balance=Direction(normal) if normal else None,
        flags=flags(body.get("flags")),
        metadata=body.get("metadata") or {},
    )


def account_changes(body: Json, current: Account) -> Json:
    changes = dict(body)
    if "status" in changes:
        changes["status"] = AccountStatus(changes["status"])
    if "flags" in changes:
        changes["flags"] = flags(changes["flags"], current.flags)
    return _metadata_cleared(changes)


# -- events, webhooks and the clock ----------------------------------------------------------

RESOURCES: dict[type, Any] = {}
"""How the data of an event renders, by the type of the snapshot it holds (filled below)."""


def event(found: Event) -> Json:
    return {
        "id": found.id,
        "sequence": found.seq,
        "type": found.type,
        "created_at": timestamp(found.created_at),
        "data": RESOURCES[type(found.data)](found.data),
        "request_id": found.cause.request_id,
        "correlation_id": found.cause.correlation_id,
    }


def event_page(found: EventPage) -> Json:
    return {
        "data": [event(e) for e in found.events],
        "has_more": found.has_more,
        "next_after": found.next_after,
    }


def webhook_endpoint(found: WebhookEndpoint, secret: str | None = None) -> Json:
    """An endpoint; its secret only in the answer that creates or rotates it."""
    shown = {"secret": secret} if secret is not None else {}
    return {
        "id": found.id,
        "url": found.url,
        "description": found.description,
        "event_types": list(found.event_types),
        "status": found.status.value,
        "disabled_reason": found.disabled_reason,
        **shown,
        "secrets_in_use": len(found.secrets),
        "previous_secret_expires_at": timestamp(
            max((s.expires_at for s in found.secrets if s.expires_at), default=None)
        ),
        "metadata": found.metadata,
        "created_at": timestamp(found.created_at),
        "updated_at": timestamp(found.updated_at),
    }


def attempt(found: Attempt) -> Json:
    return {
        "number": found.number,
        "started_at": timestamp(found.started_at),
        "duration_ms": found.duration_ms,
        "response_status": found.response_status,
        "error": found.error,
    }


def delivery(found: Delivery) -> Json:
    last = found.attempts[-1] if found.attempts else None
    return {
        "id": found.id,
        "endpoint_id": found.endpoint_id,
        "event_id": found.event.id,
        "event_type": found.event.type,
        "event_sequence": found.event.seq,
        "sequence": found.sequence,
        "status": found.status.value,
        "attempt_count": len(found.attempts),
        "last_response_status": last.response_status if last else None,
        "next_attempt_at": timestamp(found.next_attempt_at),
        "attempts": [attempt(a) for a in found.attempts],
        "created_at": timestamp(found.created_at),
    }


def webhook_url(text: str) -> str:
    """A URL the delivery worker can call: http(s), a host, a port that exists, and no
    credentials in it (they would be sent to the receiver and shown in every listing); else
    400 ``validation.invalid_url`` at ``/url``."""
    problem = "is not an http(s) URL with a host"
    try:
        url = httpx.URL(text)
        usable = url.scheme in ("http", "https") and bool(url.host)
        if usable and url.userinfo:
            usable, problem = False, "holds a user name or password (user:pass@)"
        elif usable and url.port is not None and not 1 <= url.port <= 65535:
            usable, problem = False, "names a port outside 1-65535"
    except (httpx.InvalidURL, ValueError, TypeError):
        usable = False
    if not usable:
        raise MalformedInput.at("/url", "validation.invalid_url", f"{text!r} {problem}.")
    return text


def endpoint_spec(body: Json) -> EndpointSpec:
    return EndpointSpec(
        url=webhook_url(body["url"]),
        event_types=tuple(body.get("event_types") or ()),
        description=body.get("description"),
        metadata=body.get("metadata") or {},
    )


def endpoint_changes(body: Json) -> Json:
    changes = dict(body)
    if "url" in changes:
        changes["url"] = webhook_url(changes["url"])
    if "status" in changes:
        changes["status"] = EndpointStatus(changes["status"])
    if "event_types" in changes:
        changes["event_types"] = tuple(changes["event_types"] or ())
    return _metadata_cleared(changes)


def clock(found: Tenant) -> Json:
    due = found.next_due()
    return {
        "now": timestamp(found.clock.now()),
        "frozen": found.clock.frozen,
        "next_due_at": timestamp(due),
    }


def advance(report: AdvanceReport) -> Json:
    return {
        "previous": timestamp(report.previous),
        "now": timestamp(report.now),
        "steps": report.steps,
        "entries_posted": report.entries_posted,
        "entries_expired": report.entries_expired,
        "webhook_attempts": len(report.attempts),
        "webhook_attempts_succeeded": sum(a.succeeded for a in report.attempts),
        "settlements": [{"id": t.resource_id, "status": t.status} for t in report.settlements],
        "payouts": [{"id": t.resource_id, "status": t.status} for t in report.payouts],
    }


RESOURCES.update(
    {Ledger: ledger, Account: account, Entry: entry, WebhookEndpoint: webhook_endpoint}
)

# Newer areas keep their shapes in modules beside this one; importing them here registers the
# resources their events carry.
from gledger_sandbox.api.serializers import reconciliations as reconciliations  # noqa: E402
from gledger_sandbox.api.serializers import settlements as settlements  # noqa: E402
