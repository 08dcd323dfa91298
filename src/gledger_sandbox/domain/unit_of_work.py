"""All or nothing: every change to a store is recorded with its inverse until the command ends.

A command runs inside :meth:`UnitOfWork.atomic`; if it raises, every change it made is undone in
reverse order, so a refused request, or a failed item of an atomic batch, leaves nothing behind.
Nested ``atomic`` blocks join the outer one: the outermost block decides. What must only happen
once the changes stand (telling streams and webhooks about new events) waits for the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gledger_sandbox.domain.journal import Journal

logger = logging.getLogger("gledger_sandbox.domain")


class UnitOfWork:
    __slots__ = ("_on_begin", "_on_commit", "_undo", "journal", "release_snapshot")

    def __init__(self) -> None:
        self.journal: Journal | None = None
        """Where committed changes are recorded (``serve --state-dir``); None in memory."""
        self._undo: list[Callable[[], None]] | None = None
        self._on_begin: list[Callable[[], Callable[[], None]]] = []
        self._on_commit: list[Callable[[], None]] = []
        self.release_snapshot: Callable[[Any], None] = _no_snapshot
        """Called before an object with a ``live_event`` changes: the event log's copy on
        write (an event shares the resource it records until the resource changes)."""

    def snapshot_on_begin(self, take: Callable[[], Callable[[], None]]) -> None:
        """Register state taken at the start of every unit (``take`` returns its restorer)."""
        self._on_begin.append(take)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if self._undo is not None:
            yield
            return
        self._undo = [take() for take in self._on_begin]
        journal = self.journal
        recorded = len(journal.changes) if journal is not None else 0
        try:
            yield
        except BaseException:
            for undo in reversed(self._undo):
                undo()
            self._on_commit.clear()
            if journal is not None:
                del journal.changes[recorded:]
            raise
        finally:
            self._undo = None
        hooks, self._on_commit = self._on_commit, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                # The change stands: a listener's fault must not turn it into an error.
                logger.exception("an after-commit hook failed")

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the outermost unit ends without error (never on a rollback)."""
        if self._undo is None:
            raise RuntimeError("store changed outside a unit of work")
        if hook not in self._on_commit:
            self._on_commit.append(hook)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        if self._undo is None:
            raise RuntimeError("store changed outside a unit of work")
        self._undo.append(undo)

    def note(self, kind: str, target: object, *args: Any) -> None:
        """Record a change made by hand (see ``domain.journal``) if a journal is kept."""
        if self.journal is not None:
            self.journal.note(kind, target, *args)

    def note_adds(self, pairs: tuple[tuple[object, Any], ...]) -> None:
        """Record an ``add`` to each container of ``pairs`` (container, value) as one change."""
        if self.journal is not None and pairs:
            self.journal.note("adds", pairs)

    def set(self, obj: Any, attr: str, value: Any) -> None:
        """Set an attribute, remembering the old value."""
        old = getattr(obj, attr)
        if getattr(obj, "live_event", None) is not None:
            self.release_snapshot(obj)
        self.on_rollback(lambda: setattr(obj, attr, old))
        setattr(obj, attr, value)
        if self.journal is not None:  # not through ``note``: a call less per change
            self.journal.note("set", obj, attr, value)

    def put(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        """Set a key of a dict, remembering what it held (or that it was absent)."""
        if key in mapping:
            old = mapping[key]
            self.on_rollback(lambda: mapping.__setitem__(key, old))
        else:
            self.on_rollback(lambda: mapping.pop(key, None))
        mapping[key] = value
        if self.journal is not None:
            self.journal.note("put", mapping, key, value)

    def pop(self, mapping: dict[Any, Any], key: Any) -> Any:
        """Remove a key from a dict, remembering to put it back."""
        old = mapping.pop(key)
        self.on_rollback(lambda: mapping.__setitem__(key, old))
        if self.journal is not None:
            self.journal.note("pop", mapping, key)
        return old


def _no_snapshot(resource: Any) -> None:
    return None
