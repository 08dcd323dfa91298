"""Batch posting over HTTP: per-item idempotency keys around the domain's batch commands.

An item's ``idempotency_key`` shares the scope of ``POST /v1/entries``: an item replays the
answer of an earlier single create with the same key and body, and vice versa. In an atomic
batch a refused item refuses the batch, and no item key is kept.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.problems import problem_body, status_of
from gledger_sandbox.api.responses import (
    JSON,
    answer_or_refusal,
    fingerprint,
    idempotent,
    json_response,
    request_id,
    tenant,
)
from gledger_sandbox.domain.errors import FieldError, LedgerError
from gledger_sandbox.domain.ledger import batches
from gledger_sandbox.domain.ledger.models import Entry, EntrySpec
from gledger_sandbox.domain.sandbox.idempotency import Scope, StoredAnswer
from gledger_sandbox.domain.sandbox.tenant import Tenant

ENTRY_ROUTE = ("createEntry", "/v1/entries")


def _answer(outcome: Entry | LedgerError) -> StoredAnswer:
    """What a single create would have answered for this item."""
    if isinstance(outcome, Entry):
        return StoredAnswer(201, serializers.dumps(serializers.entry(outcome)), JSON)
    body = problem_body(
        status_of(outcome), outcome.code, outcome.detail, request_id(), outcome.errors
    )
    return StoredAnswer(status_of(outcome), body, "application/problem+json")


def _as_error(stored: Response) -> LedgerError:
    """A stored refusal (an item key's earlier answer) as the error it was."""
    problem = json.loads(bytes(stored.body))
    errors = tuple(FieldError(e["pointer"], e["code"], e["detail"]) for e in problem["errors"])
    return LedgerError(problem["code"], problem["detail"], errors)


class _Items:
    """The batch's items: those replayed or refused by their key, and those to create."""

    def __init__(self, caller: Tenant, items: list[dict[str, Any]]) -> None:
        self.caller = caller
        self.early: dict[int, Response] = {}
        self.claims: dict[int, Scope] = {}
        self.specs: list[tuple[int, EntrySpec]] = []
        self.invalid: dict[int, LedgerError] = {}
        for index, item in enumerate(items):
            body = {k: v for k, v in item.items() if k != "idempotency_key"}
            key = item.get("idempotency_key")
            if key is not None:
                scope = (ENTRY_ROUTE[0], key)
                early = answer_or_refusal(
                    caller.idempotency, scope, fingerprint(ENTRY_ROUTE[1], body), caller.clock.now()
                )
                if early is not None:
                    self.early[index] = early
                    continue
                self.claims[index] = scope
            try:
                self.specs.append((index, serializers.entry_spec(body)))
            except LedgerError as error:
                self.invalid[index] = error

    def keep(self, index: int, outcome: Entry | LedgerError) -> None:
        if index in self.claims:
            self.caller.idempotency.complete(self.claims[index], _answer(outcome))

    def release_all(self) -> None:
        for scope in self.claims.values():
            self.caller.idempotency.abandon(scope)


@idempotent("createEntryBatch")
async def create_entry_batch(body: dict[str, Any]) -> Response:
    caller = tenant()
    items = _Items(caller, body["entries"])
    if body.get("atomic", True):
        return _atomic(caller, items)
    return _each(caller, items)


def _atomic(caller: Tenant, items: _Items) -> Response:
    refused = [(i, _as_error(r)) for i, r in items.early.items() if r.status_code >= 400]
    refused += list(items.invalid.items())
    try:
        if refused:
            index, error = min(refused, key=lambda pair: pair[0])
            raise batches.refuse_batch(error, index)
        created = dict(
            zip(
                (i for i, _ in items.specs),
                batches.create_atomic(caller.store, items.specs),
                strict=True,
            )
        )
    except LedgerError:
        items.release_all()
        raise
    for index, entry in created.items():
        items.keep(index, entry)
    data = [
        serializers.entry(created[i]) if i in created else json.loads(bytes(items.early[i].body))
        for i in range(len(created) + len(items.early))
    ]
    return json_response({"data": data}, 201)


def _each(caller: Tenant, items: _Items) -> Response:
    outcomes: dict[int, Entry | LedgerError] = dict(items.invalid)
    outcomes.update(batches.create_each(caller.store, items.specs))
    results: list[dict[str, Any]] = []
    for index in sorted([*outcomes, *items.early]):
        if index in items.early:
            stored = items.early[index]
            document = json.loads(bytes(stored.body))
            key = "entry" if stored.status_code < 400 else "error"
            results.append({"index": index, "status": stored.status_code, key: document})
            continue
        outcome = outcomes[index]
        items.keep(index, outcome)
        if isinstance(outcome, Entry):
            results.append({"index": index, "status": 201, "entry": serializers.entry(outcome)})
        else:
            answer = _answer(outcome.under(f"/entries/{index}"))
            results.append(
                {"index": index, "status": answer.status, "error": json.loads(answer.body)}
            )
    return json_response({"results": results}, 200)
