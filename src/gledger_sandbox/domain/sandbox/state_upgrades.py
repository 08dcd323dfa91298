"""Reading state documents of an older version: what changed, and how the old shape is carried.

Version 1 (before 2026-12-03) kept every posted line twice over: in ``LedgerStore.statement``
(a dict by sequence) with an index of sequences per account (``("statement", account_id)``),
and each line carried its entry's id, posted time and source. Version 2 holds an account's
lines in one list in sequence order (``LedgerStore.statements``), and a line refers to its
entry instead (``StatementLine.entry``), which saves about 130 bytes per posted entry.

A version-1 document (its journal records too) is decoded in its own shape, with its lines read
as :class:`StatementLineV1`; :func:`store_from_v1` then rebuilds the store's lines as version 2
holds them. Nothing else differs between the two versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sortedcontainers import SortedList

from gledger_sandbox.domain.ledger.models import EffectiveAt, Line, StatementLine
from gledger_sandbox.domain.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class StatementLineV1:
    """A posted line as version 1 wrote it (read only from such a document)."""

    seq: int
    line: Line
    entry_id: str
    effective_at: datetime
    posted_at: datetime
    source_type: str | None
    source_id: str | None
    balance_after: int

    def __lt__(self, other: StatementLineV1 | EffectiveAt) -> bool:
        return (self.effective_at, self.seq) < (other.effective_at, other.seq)


V1_CLASSES: dict[str, type] = {"models.StatementLine": StatementLineV1}
"""The classes a version-1 document names that version 2 reads differently."""


def store_from_v1(store: LedgerStore) -> None:
    """Rebuild the posted lines of a store decoded from a version-1 document."""
    old: dict[int, StatementLineV1] = vars(store).pop("statement")
    statements: dict[str, list[StatementLine]] = {}
    for seq in sorted(old):
        line = old[seq]
        statements.setdefault(line.line.account_id, []).append(
            StatementLine(
                seq=line.seq,
                line=line.line,
                entry=store.entries[line.entry_id],
                effective_at=line.effective_at,
                balance_after=line.balance_after,
            )
        )
    store.statements = statements
    store.posted_lines = len(old)
    for key in [key for key in store._indexes if key[0] == "statement"]:
        del store._indexes[key]
    for account_id in store._effective:
        store._effective[account_id] = SortedList(statements.get(account_id, ()))
