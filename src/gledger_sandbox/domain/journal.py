"""The forward changes of committed units, for the journal of ``serve --state-dir``.

A :class:`Journal` hangs on a tenant's unit of work (and its idempotency keys) only when the
server keeps tenants durable; in memory it is ``None`` and nothing is recorded. Each change
names the object it changes (``set``, ``put``, ``pop``, ``add``, ``discard``) or asks for the
object to be written whole (``touch``: a heap, a list compacted in place); ``adds`` holds the
``add``-s one step makes to several containers at once (a statement row's five columns, a new
entry's indexes, an event's two lists), one change rather than one each
(``UnitOfWork.note_adds``); a unit that rolls back takes its changes back with it.
``api.durability`` turns the changes into journal records (``tenant_state.delta``) and decides
when a full document is written instead.

A change recorded outside a *trusted* context (``TRUSTED``: a request, or a webhook attempt's
outcome, whose every change is recorded) marks the journal ``tainted``: the server then writes
the tenant's whole document. So does a change a journal cannot hold (``taint``): the parts of a
tenant that record only their hot paths call it from every other change they make, so a change
left out of the journal can never be lost silently, only cost a full document.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

TRUSTED: ContextVar[bool] = ContextVar("gledger_journal_trusted", default=False)
"""Set while a request whose changes are all recorded runs (see ``api.durability``)."""

Change = tuple[Any, ...]


class Journal:
    """Changes since the last write of the tenant, in order."""

    __slots__ = ("changes", "tainted")

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.tainted = False

    def note(self, kind: str, target: object, *args: Any) -> None:
        if not TRUSTED.get():
            self.tainted = True
        self.changes.append((kind, target, *args))

    def taint(self) -> None:
        """A change was made that this journal does not hold: the next write is a full document."""
        self.tainted = True

    def drain(self) -> list[Change]:
        changes, self.changes = self.changes, []
        return changes


def note(journal: Journal | None, kind: str, target: object, *args: Any) -> None:
    """Record a change if the tenant keeps a journal (a no-op in memory)."""
    if journal is not None:
        journal.note(kind, target, *args)


def unrecorded(journal: Journal | None) -> None:
    """A change the journal does not hold was made (a no-op in memory): see ``Journal.taint``."""
    if journal is not None:
        journal.taint()
