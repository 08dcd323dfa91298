"""Reading state documents of an older version: what changed, and how the old shape is carried.

Version 1 (before 2026-12-03) kept every posted line twice over: in ``LedgerStore.statement``
(a dict by sequence) with an index of sequences per account (``("statement", account_id)``),
and each line carried its entry's id, posted time and source. Version 2 held an account's
lines in one list of ``StatementLine`` objects in sequence order (``LedgerStore.statements``),
each referring to its entry, and the same objects again in a sorted list per account in
effective order (``LedgerStore._effective``). Version 3 holds an account's lines as the
columns of a ``statements.Statement`` (no object per line: about 200-220 bytes less per posted
two-line entry), its effective order alongside.

An older document (its journal records too) is decoded in its own shape, version-1 lines read
as :class:`StatementLineV1`; :func:`store_from_v1` or :func:`store_from_v2` then rebuilds the
store's lines as version 3 holds them. Nothing else differs between the versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gledger_sandbox.domain.ledger.models import Entry, Line, StatementLine
from gledger_sandbox.domain.ledger.statements import Statement
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

    def __lt__(self, other: StatementLineV1) -> bool:
        return (self.effective_at, self.seq) < (other.effective_at, other.seq)


V1_CLASSES: dict[str, type] = {"models.StatementLine": StatementLineV1}
"""The classes a version-1 document names that later versions read differently."""


def store_from_v1(store: LedgerStore) -> None:
    """Rebuild the posted lines of a store decoded from a version-1 document."""
    old: dict[int, StatementLineV1] = vars(store).pop("statement")
    vars(store).pop("_effective", None)
    lines = (old[seq] for seq in sorted(old))
    store.statements = _columns(
        (line.seq, line.line, store.entries[line.entry_id], line.balance_after) for line in lines
    )
    store.posted_lines = len(old)
    for key in [key for key in store._indexes if key[0] == "statement"]:
        del store._indexes[key]


def store_from_v2(store: LedgerStore) -> None:
    """Rebuild the posted lines of a store decoded from a version-2 document."""
    old: dict[str, list[StatementLine]] = store.statements  # type: ignore[assignment]
    vars(store).pop("_effective", None)
    store.statements = _columns(
        (line.seq, line.line, line.entry, line.balance_after)
        for lines in old.values()
        for line in lines
    )


def _columns(lines: Iterable[tuple[int, Line, Entry, int]]) -> dict[str, Statement]:
    """Statements from (sequence, line, entry, balance after) of lines in each account's
    sequence order."""
    statements: dict[str, Statement] = {}
    for seq, line, entry, balance_after in lines:
        statement = statements.setdefault(line.account_id, Statement())
        statement.load(entry, entry.lines.index(line), seq, balance_after)
    return statements
