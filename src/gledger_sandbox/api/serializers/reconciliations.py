"""The JSON shape of reconciliation runs, both ways: the request to a spec, runs and items out."""

from __future__ import annotations

import re
from datetime import date, datetime

from gledger_sandbox.api.serializers import (
    RESOURCES,
    Json,
    parse_timestamp,
    timestamp,
)
from gledger_sandbox.domain.errors import MalformedInput
from gledger_sandbox.domain.ledger.day_totals import midnight
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.treasury.reconciliation import (
    ExternalRecord,
    LedgerLine,
    MatchItem,
    ReferenceRule,
    Rules,
)
from gledger_sandbox.domain.treasury.reconciliation_runs import (
    Reconciliation,
    ReconciliationSpec,
    Window,
)

_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def record_date(text: str, pointer: str) -> tuple[datetime, bool]:
    """A record's date: a calendar date (midnight UTC, shown back as a date) or a date-time."""
    if not _CALENDAR_DATE.fullmatch(text):
        return parse_timestamp(text, pointer), False
    try:
        return midnight(date.fromisoformat(text)), True
    except ValueError:
        raise MalformedInput.at(
            pointer, "validation.invalid_value", f"{text!r} is not a calendar date."
        ) from None


def external_record(body: Json, index: int) -> ExternalRecord:
    moment, date_only = record_date(body["date"], f"/records/{index}/date")
    return ExternalRecord(
        id=body["id"],
        amount=body["amount"],
        direction=Direction(body["direction"]),
        currency=body.get("currency"),
        date=moment,
        date_only=date_only,
        reference=body.get("reference"),
        description=body.get("description"),
    )


def rules(body: Json | None) -> Rules:
    body = body or {}
    defaults = Rules()
    return Rules(
        match_reference=ReferenceRule(body.get("match_reference", defaults.match_reference)),
        amount_tolerance=body.get("amount_tolerance", defaults.amount_tolerance),
        date_window_days=body.get("date_window_days", defaults.date_window_days),
        one_to_many=body.get("one_to_many", defaults.one_to_many),
    )


def reconciliation_spec(body: Json) -> ReconciliationSpec:
    window = body.get("window")
    return ReconciliationSpec(
        ledger_id=body["ledger_id"],
        account_id=body.get("account_id"),
        account_code=body.get("account_code"),
        records=tuple(external_record(r, i) for i, r in enumerate(body["records"])),
        rules=rules(body.get("rules")),
        window=Window(
            parse_timestamp(window["from"], "/window/from"),
            parse_timestamp(window["to"], "/window/to"),
        )
        if window
        else None,
        dry_run=bool(body.get("dry_run", False)),
        metadata=body.get("metadata") or {},
    )


def reconciliation(found: Reconciliation, items: tuple[MatchItem, ...] | None = None) -> Json:
    """A run; a dry run's answer also carries every item inline (``matches``)."""
    summary = found.summary
    document: Json = {
        "id": found.id,
        "ledger_id": found.ledger_id,
        "account_id": found.account_id,
        "account_code": found.account_code,
        "currency": found.currency,
        "status": found.status,
        "dry_run": found.dry_run,
        "rules": {
            "match_reference": found.rules.match_reference.value,
            "amount_tolerance": found.rules.amount_tolerance,
            "date_window_days": found.rules.date_window_days,
            "one_to_many": found.rules.one_to_many,
        },
        "window": {"from": timestamp(found.window.start), "to": timestamp(found.window.end)},
        "summary": {
            "records": summary.records,
            "matched_records": summary.matched_records,
            "unmatched_records": summary.unmatched_records,
            "ledger_lines": summary.ledger_lines,
            "matched_ledger_lines": summary.matched_ledger_lines,
            "unmatched_ledger_lines": summary.unmatched_ledger_lines,
            "matched_amount": summary.matched_amount,
            "unmatched_record_amount": summary.unmatched_record_amount,
            "unmatched_ledger_amount": summary.unmatched_ledger_amount,
        },
        "created_at": timestamp(found.created_at),
        "metadata": found.metadata,
    }
    if items is not None:
        document["matches"] = [match_item(item) for item in items]
    return document


def record(found: ExternalRecord) -> Json:
    return {
        "id": found.id,
        "amount": found.amount,
        "direction": found.direction.value,
        "currency": found.currency,
        "date": found.day.isoformat() if found.date_only else timestamp(found.date),
        "reference": found.reference,
        "description": found.description,
    }


def ledger_line(found: LedgerLine) -> Json:
    return {
        "entry_id": found.entry_id,
        "line_id": found.line_id,
        "amount": found.amount,
        "direction": found.direction.value,
        "effective_at": timestamp(found.effective_at),
        "reference": found.reference,
        "external_id": found.external_id,
        "source_id": found.source_id,
    }


def match_item(found: MatchItem) -> Json:
    return {
        "id": found.id,
        "reconciliation_id": found.reconciliation_id,
        "status": found.status.value,
        "rule": found.rule.value if found.rule else None,
        "record_ids": [r.id for r in found.records],
        "records": [record(r) for r in found.records],
        "ledger_lines": [ledger_line(line) for line in found.ledger_lines],
        "amount_difference": found.amount_difference,
        "date_difference_days": found.date_difference_days,
    }


RESOURCES.update({Reconciliation: reconciliation, MatchItem: match_item})
