"""Idempotency keys: a retried write returns the first answer instead of writing twice.

A key is scoped to a tenant and a route. The first request with a key claims it (in flight);
its answer is stored when it completes, and is replayed, status and body byte for byte, to every
later request with the same key and the same body. The same key with another body is refused
(``idempotency.key_reused``), and so is a second request while the first is in flight
(``idempotency.key_in_use``). Answers are kept for ``retention`` of sandbox time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from gledger_sandbox.domain.errors import IdempotencyError
from gledger_sandbox.domain.journal import Journal, note

RETENTION = timedelta(hours=24)
KEY_POINTER = "/header/Idempotency-Key"

Scope = tuple[str, str]
"""(route, key): the tenant is implied, as each tenant has its own store."""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: bytes
    content_type: str


@dataclass(slots=True)
class _Claim:
    fingerprint: str
    expires_at: datetime
    answer: StoredAnswer | None = None


class IdempotencyStore:
    __slots__ = ("_claims", "_retention", "answer_bytes", "journal")

    def __init__(self, retention: timedelta = RETENTION) -> None:
        self._claims: OrderedDict[Scope, _Claim] = OrderedDict()
        self._retention = retention
        self.journal: Journal | None = None
        """The tenant's journal under ``serve --state-dir`` (never part of its document)."""
        self.answer_bytes = 0
        """Bytes of the stored answers' bodies (kept as each is stored and let go: the memory
        cap's accounting reads it, O(1))."""

    def _expire(self, now: datetime) -> None:
        # Claims are made in clock order, so the expired ones are at the front.
        while self._claims:
            scope, claim = next(iter(self._claims.items()))
            if claim.expires_at > now or claim.answer is None:
                return
            self._let_go(self._claims.pop(scope))
            note(self.journal, "pop", self._claims, scope)

    def begin(self, scope: Scope, fingerprint: str, now: datetime) -> StoredAnswer | None:
        """Claim the key; or the stored answer to replay; or refuse a clash."""
        self._expire(now)
        claim = self._claims.get(scope)
        if claim is None:
            claim = self._claims[scope] = _Claim(fingerprint, now + self._retention)
            note(self.journal, "put", self._claims, scope, claim)
            return None
        if claim.fingerprint != fingerprint:
            raise IdempotencyError.at(
                KEY_POINTER,
                "idempotency.key_reused",
                "This Idempotency-Key was used with another request body.",
            )
        if claim.answer is None:
            raise IdempotencyError.at(
                KEY_POINTER,
                "idempotency.key_in_use",
                "A request with this Idempotency-Key is still in flight; retry shortly.",
            )
        return claim.answer

    def complete(self, scope: Scope, answer: StoredAnswer) -> None:
        claim = self._claims[scope]
        claim.answer = answer
        self.answer_bytes += len(answer.body)
        note(self.journal, "set", claim, "answer", answer)
        note(self.journal, "set", self, "answer_bytes", self.answer_bytes)

    def abandon(self, scope: Scope) -> None:
        """Release a claim whose request ended without an answer worth keeping."""
        claim = self._claims.pop(scope, None)
        if claim is not None:
            self._let_go(claim)
            note(self.journal, "pop", self._claims, scope)

    def _let_go(self, claim: _Claim) -> None:
        if claim.answer is not None:
            self.answer_bytes -= len(claim.answer.body)
            note(self.journal, "set", self, "answer_bytes", self.answer_bytes)

    def forget_unanswered(self) -> None:
        """Drop claims still in flight (their requests belong to another state: a restore)."""
        for scope in [s for s, claim in self._claims.items() if claim.answer is None]:
            del self._claims[scope]
            note(self.journal, "pop", self._claims, scope)

    def __len__(self) -> int:
        return len(self._claims)
