"""The one table from error to HTTP status: the class decides, a code overrides only where listed."""

from __future__ import annotations

from gledger_sandbox.api.problems import status_of
from gledger_sandbox.domain.errors import (
    AccessError,
    BatchRefused,
    Conflict,
    IdempotencyError,
    InvalidRequest,
    MalformedInput,
    NotFound,
)


def test_unreadable_input_is_400_whatever_its_code() -> None:
    assert status_of(MalformedInput.at("/effective_at", "validation.invalid_value", "x")) == 400
    assert status_of(MalformedInput.at("/query/cursor", "validation.invalid_cursor", "x")) == 400


def test_ledger_rules_conflicts_and_access() -> None:
    assert status_of(InvalidRequest.at("/fixture", "validation.invalid_value", "x")) == 422
    assert status_of(BatchRefused("not_found", "x")) == 422
    assert status_of(NotFound("entry", "ent_1")) == 404
    assert status_of(Conflict("duplicate_entry", "x")) == 409
    assert status_of(IdempotencyError("idempotency.key_in_use", "x")) == 409
    assert status_of(IdempotencyError("idempotency.key_reused", "x")) == 422
    assert status_of(AccessError("invalid_client", "x")) == 401
    assert status_of(AccessError("tenant_limit_reached", "x")) == 429
    assert status_of(AccessError.at("/scope", "invalid_scope", "x")) == 400
