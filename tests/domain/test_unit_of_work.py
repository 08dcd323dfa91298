"""The unit of work's dict primitives: a rollback leaves each dict as it found it."""

from __future__ import annotations

import pytest

from gledger_sandbox.domain.unit_of_work import UnitOfWork


class Refused(Exception):
    pass


def test_a_rollback_restores_replaced_added_and_removed_keys() -> None:
    uow = UnitOfWork()
    table = {"kept": 1, "replaced": 2, "removed": 3}
    with pytest.raises(Refused), uow.atomic():
        uow.put(table, "replaced", 20)
        uow.put(table, "added", 4)
        assert uow.pop(table, "removed") == 3
        assert table == {"kept": 1, "replaced": 20, "added": 4}
        raise Refused
    assert table == {"kept": 1, "replaced": 2, "removed": 3}


def test_a_commit_keeps_the_changes() -> None:
    uow = UnitOfWork()
    table = {"replaced": 2, "removed": 3}
    with uow.atomic():
        uow.put(table, "replaced", 20)
        uow.pop(table, "removed")
    assert table == {"replaced": 20}
