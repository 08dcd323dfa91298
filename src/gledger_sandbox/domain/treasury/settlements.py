"""Settlements: an account's posted balance as of a time, moved into a contra account.

The amount is the account's posted balance as of ``up_to`` (lines effective at or before it),
signed by its normal balance. One balanced entry, effective at ``up_to``, takes it out of the
account and into the contra: a positive balance is posted against the account's normal side, a
negative one on it. The entry's ``source_type``/``source_id`` name the settlement, whose
``entry_id`` names the entry.

A settlement whose ``up_to`` is still ahead on the tenant's clock is ``scheduled``: the clock
completes it then (computing the amount then), or fails it (``failure_code``) if there is
nothing to settle by then or the posting is refused. Settlements of one account go forward in
time: an ``up_to`` before the last completed one's would settle those funds twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gledger_sandbox.domain.errors import FieldError, InvalidRequest, LedgerError, NotFound
from gledger_sandbox.domain.ledger import events
from gledger_sandbox.domain.ledger.due import DueQueue, DueRow
from gledger_sandbox.domain.ledger.entry_rules import named_account
from gledger_sandbox.domain.ledger.events import caused_by
from gledger_sandbox.domain.ledger.models import Account, EntrySpec, LineSpec
from gledger_sandbox.domain.ledger.pages import Page, PageRequest, paginate
from gledger_sandbox.domain.ledger.postings import create_entry
from gledger_sandbox.domain.ledger.schedule import DueKey, DueWork, Transition
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.treasury.settlement_models import (
    Settlement,
    SettlementSpec,
    SettlementStatus,
)

SOURCE_TYPE = "settlement"
_LINE_FIELDS = {"/lines/0": "/account_id", "/lines/1": "/contra_account_id"}


class Settlements:
    """A tenant's settlements: the commands, the reads, and the completions the clock runs."""

    __slots__ = ("_by_id", "_due", "_last_up_to", "_store")

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._by_id: dict[str, Settlement] = {}
        self._due = DueQueue(store.uow)
        self._last_up_to: dict[str, datetime] = {}
        """Per settled account, the ``up_to`` of its latest completed settlement."""

    # -- commands --------------------------------------------------------------------------

    def create(self, spec: SettlementSpec, at: datetime | None = None) -> Settlement:
        """Settle now (``completed``), or at ``up_to`` if it is ahead (``scheduled``).

        ``at`` stands for now when a fixture plays history; requests leave it to the clock.
        """
        store = self._store
        now = at or store.clock.now()
        ledger = store.ledger(spec.ledger_id, "/ledger_id")
        account, contra = self._accounts(ledger.id, spec)
        up_to = spec.up_to or now
        with store.uow.atomic():
            seq = store.next_seq()
            settlement = Settlement(
                id=store.ids.new("stl"),
                seq=seq,
                ledger_id=ledger.id,
                account_id=account.id,
                contra_account_id=contra.id,
                currency=account.currency,
                up_to=up_to,
                status=SettlementStatus.SCHEDULED,
                created_at=now,
                description=spec.description,
                metadata=dict(spec.metadata),
            )
            store.keep(self._by_id, settlement, _index_keys(settlement))
            if up_to > now:
                self._due.push(up_to, seq, settlement.id)
                store.events.append(events.SETTLEMENT_SCHEDULED, settlement)
            else:
                self._complete(settlement, now)
        return settlement

    def _accounts(self, ledger_id: str, spec: SettlementSpec) -> tuple[Account, Account]:
        store = self._store
        account, errors = named_account(
            store, ledger_id, spec.account.account_id, spec.account.account_code, "/"
        )
        contra, more = named_account(
            store, ledger_id, spec.contra.account_id, spec.contra.account_code, "/contra_"
        )
        errors += more
        if account is not None and contra is not None and not errors:
            if account.id == contra.id:
                errors.append(
                    FieldError(
                        "/contra_account_id",
                        "settlement.same_account",
                        f"Account {account.code} cannot be settled into itself.",
                    )
                )
            elif account.currency != contra.currency:
                errors.append(
                    FieldError(
                        "/contra_account_id",
                        "settlement.currency_mismatch",
                        f"Account {account.code} holds {account.currency}, "
                        f"its contra {contra.code} holds {contra.currency}.",
                    )
                )
        if errors:
            raise InvalidRequest.collected(errors)
        assert account is not None and contra is not None
        return account, contra

    def _complete(self, settlement: Settlement, at: datetime) -> None:
        """Post the settling entry (inside the caller's unit of work) and mark it completed."""
        store = self._store
        account = store.accounts[settlement.account_id]
        last = self._last_up_to.get(account.id)
        if last is not None and settlement.up_to < last:
            raise InvalidRequest.at(
                "/up_to",
                "settlement.out_of_order",
                f"Account {account.code} was already settled up to {last.isoformat()}; "
                "an earlier up_to would settle those funds twice.",
            )
        balance = store.posted_as_of(account, settlement.up_to).signed(account.normal_balance)
        if balance == 0:
            raise InvalidRequest.at(
                "/up_to",
                "settlement.nothing_to_settle",
                f"Account {account.code} has no posted balance as of "
                f"{settlement.up_to.isoformat()}.",
            )
        normal = account.normal_balance
        direction = normal.opposite() if balance > 0 else normal
        amount = abs(balance)
        entry_spec = EntrySpec(
            ledger_id=settlement.ledger_id,
            lines=(
                LineSpec(direction, amount, account_id=account.id),
                LineSpec(direction.opposite(), amount, account_id=settlement.contra_account_id),
            ),
            description=settlement.description or f"Settlement of {account.code}",
            effective_at=settlement.up_to,
            source_type=SOURCE_TYPE,
            source_id=settlement.id,
        )
        try:
            entry = create_entry(store, entry_spec)
        except LedgerError as error:
            raise error.renamed(_LINE_FIELDS) from None
        for name, value in [
            ("amount", amount),
            ("direction", direction),
            ("entry_id", entry.id),
            ("completed_at", at),
        ]:
            store.uow.set(settlement, name, value)
        store.set_status(settlement, "settlements", SettlementStatus.COMPLETED)
        store.uow.put(self._last_up_to, account.id, settlement.up_to)
        store.events.append(events.SETTLEMENT_COMPLETED, settlement)

    def _fail(self, settlement: Settlement, at: datetime, error: LedgerError) -> None:
        store = self._store
        with store.uow.atomic():
            store.uow.set(settlement, "failure_code", error.code.removeprefix("settlement."))
            store.uow.set(settlement, "failure_message", error.detail)
            store.uow.set(settlement, "failed_at", at)
            store.set_status(settlement, "settlements", SettlementStatus.FAILED)
            store.events.append(events.SETTLEMENT_FAILED, settlement)

    # -- the clock (a DueSource of the schedule) -------------------------------------------

    def peek(self) -> DueKey | None:
        return self._due.peek(self._live)

    def _live(self, row: DueRow) -> bool:
        return self._by_id[row.resource_id].status is SettlementStatus.SCHEDULED

    def run_next(self, work: DueWork) -> None:
        row = self._due.pop()
        settlement = self._by_id[row.resource_id]
        with caused_by(row.cause):
            try:
                with self._store.uow.atomic():
                    self._complete(settlement, row.when)
            except LedgerError as error:
                self._fail(settlement, row.when, error)
        work.settlements.append(Transition(settlement.id, settlement.status.value))

    # -- reads -----------------------------------------------------------------------------

    def get(self, settlement_id: str) -> Settlement:
        found = self._by_id.get(settlement_id)
        if found is None:
            raise NotFound("settlement", settlement_id)
        return found

    def list(
        self,
        page: PageRequest,
        *,
        ledger_id: str | None = None,
        account_id: str | None = None,
        status: SettlementStatus | None = None,
    ) -> Page[Settlement]:
        """Walk the smallest index the filters name; the others are checked row by row."""
        keys: list[tuple[Any, ...]] = [("settlements",)]
        if ledger_id is not None:
            keys.append(("settlements", "ledger", ledger_id))
        if account_id is not None:
            keys.append(("settlements", "account", account_id))
        if status is not None:
            keys.append(("settlements", "status", status))
        seqs = self._store.narrowest(keys)

        def accept(s: Settlement) -> bool:
            return (
                (ledger_id is None or s.ledger_id == ledger_id)
                and (account_id is None or account_id in (s.account_id, s.contra_account_id))
                and (status is None or s.status is status)
            )

        return paginate(seqs, self._store.fetch, page, accept)


def _index_keys(settlement: Settlement) -> list[tuple[Any, ...]]:
    return [
        ("settlements",),
        ("settlements", "ledger", settlement.ledger_id),
        ("settlements", "account", settlement.account_id),
        ("settlements", "account", settlement.contra_account_id),
        ("settlements", "status", settlement.status),
    ]
