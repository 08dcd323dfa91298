"""Payouts: money leaving the ledger, ``pending -> in_transit -> paid | failed``, or ``canceled``.

Every step posts to the ledger, and the tenant's clock takes the steps:

- create (``pending``): a *pending* entry debits transit and credits the source, so the
  source's available balance drops at once; more than it holds is ``insufficient_funds``.
- ``created_at + 1 h`` (``in_transit``): that entry posts.
- ``expected_arrival_at`` = ``created_at + 2 days``: ``paid`` (an entry debits the destination
  and credits transit), or ``failed`` for a magic amount (``FAILURES``): the transit entry is
  reversed, which returns the funds to the source.
- cancel, only while ``pending``: the pending entry is voided (``canceled``).

The payout owns its transit entry until it ends (``LedgerStore.own_entry``): the entries API
cannot post, void, reverse or change it behind the payout's back. A failure always ends the
payout: if the ledger refuses the return of the funds (the source disabled meanwhile), the
payout fails all the same with ``entries.returned`` null, the funds parked in transit and the
refusal told in ``failure_message``; nothing is left waiting.

Each step emits its ``payout.*`` event after the entry events it caused. Steps the clock takes
run as the request that created the payout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gledger_sandbox.domain.errors import (
    Conflict,
    FieldError,
    InsufficientFunds,
    InvalidRequest,
    LedgerError,
    NotFound,
)
from gledger_sandbox.domain.ledger import events
from gledger_sandbox.domain.ledger.due import DueQueue, DueRow
from gledger_sandbox.domain.ledger.entry_rules import named_account
from gledger_sandbox.domain.ledger.events import caused_by
from gledger_sandbox.domain.ledger.models import Account, EntrySpec, EntryStatus, LineSpec
from gledger_sandbox.domain.ledger.money import Direction
from gledger_sandbox.domain.ledger.pages import Page, PageRequest, paginate
from gledger_sandbox.domain.ledger.postings import (
    create_entry,
    post_entry,
    reverse_entry,
    void_entry,
)
from gledger_sandbox.domain.ledger.schedule import DueKey, DueWork, Transition
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.treasury.settlement_models import (
    Payout,
    PayoutEntries,
    PayoutSpec,
    PayoutStatus,
)

SOURCE_TYPE = "payout"
IN_TRANSIT_AFTER = timedelta(hours=1)
ARRIVAL_AFTER = timedelta(days=2)

FAILURES: dict[int, tuple[str, str]] = {
    400001: ("account_closed", "The destination bank account is closed."),
    400002: ("invalid_account_number", "The destination account number is invalid."),
    400003: ("insufficient_funds_at_bank", "The bank refused the payout for lack of funds."),
    400004: ("declined", "The destination bank declined the payout."),
    400005: ("could_not_process", "The bank could not process the payout."),
}
"""Magic amounts (minor units, any currency): a payout of exactly this amount fails on arrival
with this ``failure_code``, so integrations can test their failure paths. Any other amount
is paid."""

_ROLES = ("source", "transit", "destination")
_EVENTS = {
    PayoutStatus.IN_TRANSIT: events.PAYOUT_IN_TRANSIT,
    PayoutStatus.PAID: events.PAYOUT_PAID,
    PayoutStatus.FAILED: events.PAYOUT_FAILED,
    PayoutStatus.CANCELED: events.PAYOUT_CANCELED,
}
_LINE_FIELDS = {"/lines/0": "/transit_account_id", "/lines/1": "/source_account_id"}


class Payouts:
    """A tenant's payouts: the commands, the reads, and the steps the clock takes."""

    __slots__ = ("_by_id", "_due", "_store")

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._by_id: dict[str, Payout] = {}
        self._due = DueQueue(store.uow)

    # -- commands --------------------------------------------------------------------------

    def create(self, spec: PayoutSpec, at: datetime | None = None) -> Payout:
        """Reserve the funds with a pending entry; the clock takes it from there.

        ``at`` stands for now when a fixture plays history; requests leave it to the clock.
        """
        store = self._store
        now = at or store.clock.now()
        ledger = store.ledger(spec.ledger_id, "/ledger_id")
        source, transit, destination = self._accounts(ledger.id, spec)
        available = source.available.signed(source.normal_balance)
        if spec.amount > available:
            raise InsufficientFunds.at(
                "/amount",
                "insufficient_funds",
                f"Account {source.code} has {max(available, 0)} {source.currency} available, "
                f"less than the payout's {spec.amount}.",
            )
        with store.uow.atomic():
            seq = store.next_seq()
            payout_id = store.ids.new("po")
            reservation = self._post(
                payout_id, ledger.id, (transit, source), spec.amount, now, pending=True
            )
            payout = Payout(
                id=payout_id,
                seq=seq,
                ledger_id=ledger.id,
                amount=spec.amount,
                currency=source.currency,
                status=PayoutStatus.PENDING,
                source_account_id=source.id,
                transit_account_id=transit.id,
                destination_account_id=destination.id,
                entries=PayoutEntries(transit=reservation),
                created_at=now,
                expected_arrival_at=now + ARRIVAL_AFTER,
                description=spec.description,
                metadata=dict(spec.metadata),
            )
            store.keep(self._by_id, payout, _index_keys(payout))
            store.own_entry(reservation, payout.id)
            self._due.push(now + IN_TRANSIT_AFTER, seq, payout.id)
            store.events.append(events.PAYOUT_CREATED, payout)
        return payout

    def _accounts(self, ledger_id: str, spec: PayoutSpec) -> list[Account]:
        store = self._store
        errors: list[FieldError] = []
        found: list[Account] = []
        for role, ref in zip(_ROLES, (spec.source, spec.transit, spec.destination), strict=True):
            account, wrong = named_account(
                store, ledger_id, ref.account_id, ref.account_code, f"/{role}_"
            )
            errors += wrong
            if account is None:
                continue
            if account.currency != spec.currency:
                errors.append(
                    FieldError(
                        "/currency",
                        "validation.currency_mismatch",
                        f"The {role} account {account.code} holds {account.currency}, "
                        f"not {spec.currency}.",
                    )
                )
            if any(other.id == account.id for other in found):
                errors.append(
                    FieldError(
                        f"/{role}_account_id",
                        "payout.same_account",
                        f"Account {account.code} cannot play two parts in one payout.",
                    )
                )
            found.append(account)
        if errors:
            raise InvalidRequest.collected(errors)
        return found

    def _post(
        self,
        payout_id: str,
        ledger_id: str,
        accounts: tuple[Account, Account],
        amount: int,
        at: datetime,
        pending: bool = False,
    ) -> str:
        """An entry of the payout: debit the first account, credit the second."""
        debit, credit = accounts
        spec = EntrySpec(
            ledger_id=ledger_id,
            lines=(
                LineSpec(Direction.DEBIT, amount, account_id=debit.id),
                LineSpec(Direction.CREDIT, amount, account_id=credit.id),
            ),
            status=EntryStatus.PENDING if pending else EntryStatus.POSTED,
            description=f"Payout {payout_id}: {credit.code} to {debit.code}",
            effective_at=at,
            source_type=SOURCE_TYPE,
            source_id=payout_id,
        )
        try:
            return create_entry(self._store, spec).id
        except LedgerError as error:
            raise error.renamed(_LINE_FIELDS) from None

    def cancel(self, payout_id: str, at: datetime | None = None) -> Payout:
        """Void the reservation of a payout still ``pending``; any later one is 409."""
        payout = self.get(payout_id)
        if payout.status is not PayoutStatus.PENDING:
            raise Conflict.at(
                "/status",
                "payout.not_cancelable",
                f"Payout {payout.id} is {payout.status.value}; only a pending payout "
                "can be canceled.",
            )
        now = at or self._store.clock.now()
        with self._store.uow.atomic():
            self._return_funds(payout, now)
            self._end(payout, PayoutStatus.CANCELED, "canceled_at", now)
        return payout

    def bank_return(self, payout_id: str, failure_code: str) -> Payout:
        """The bank sends a payout back (a simulation): it fails now, its funds returned."""
        payout = self.get(payout_id)
        if payout.status not in (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT):
            raise Conflict.at(
                "/payout_id",
                "payout.not_returnable",
                f"Payout {payout.id} is {payout.status.value}; only a pending or in-transit "
                "payout can come back from the bank.",
            )
        message = dict(FAILURES.values()).get(failure_code, "The bank returned the payout.")
        self._fail(payout, self._store.clock.now(), failure_code, message)
        return payout

    def _return_funds(self, payout: Payout, at: datetime) -> None:
        """Undo the transit entry: void it while pending, reverse it once posted."""
        store = self._store
        transit = store.entries[payout.entries.transit]
        if transit.status is EntryStatus.PENDING:
            void_entry(store, transit.id, owner=payout.id)
        else:
            returned = reverse_entry(
                store,
                transit.id,
                description=f"Payout {payout.id} returned: {payout.failure_code}",
                effective_at=at,
                owner=payout.id,
            )
            self._link(payout, returned=returned.id)

    def _link(self, payout: Payout, **entries: str) -> None:
        links = payout.entries
        self._store.uow.set(
            payout,
            "entries",
            PayoutEntries(
                transit=links.transit,
                arrival=entries.get("arrival", links.arrival),
                returned=entries.get("returned", links.returned),
            ),
        )

    def _end(self, payout: Payout, status: PayoutStatus, stamp: str, at: datetime) -> None:
        """Move the payout to ``status`` at ``at`` and emit its event; an end lets go of the
        transit entry (a paid payout's entries are then corrected like any other's)."""
        store = self._store
        store.uow.set(payout, stamp, at)
        store.set_status(payout, "payouts", status)
        if status is not PayoutStatus.IN_TRANSIT:
            store.release_entry(payout.entries.transit)
        store.events.append(_EVENTS[status], payout)

    # -- the clock (a DueSource of the schedule) -------------------------------------------

    def peek(self) -> DueKey | None:
        return self._due.peek(self._live)

    def _live(self, row: DueRow) -> bool:
        return _next_step_at(self._by_id[row.resource_id]) == row.when

    def run_next(self, work: DueWork) -> None:
        row = self._due.pop()
        payout = self._by_id[row.resource_id]
        with caused_by(row.cause):
            if payout.status is PayoutStatus.PENDING:
                self._send(payout, row.when)
            else:
                self._arrive(payout, row.when)
        work.payouts.append(Transition(payout.id, payout.status.value))

    def _send(self, payout: Payout, at: datetime) -> None:
        store = self._store
        # One unit of its own (nested units join the outer one): a refused posting is undone
        # whole before the payout fails.
        try:
            with store.uow.atomic():
                post_entry(store, payout.entries.transit, owner=payout.id)
                self._end(payout, PayoutStatus.IN_TRANSIT, "in_transit_at", at)
                self._due.push(payout.expected_arrival_at, payout.seq, payout.id)
        except LedgerError as error:
            self._fail(payout, at, "could_not_process", error.detail)

    def _arrive(self, payout: Payout, at: datetime) -> None:
        store = self._store
        failure = FAILURES.get(payout.amount)
        if failure is None:
            accounts = (
                store.accounts[payout.destination_account_id],
                store.accounts[payout.transit_account_id],
            )
            try:
                with store.uow.atomic():
                    arrival = self._post(payout.id, payout.ledger_id, accounts, payout.amount, at)
                    self._link(payout, arrival=arrival)
                    self._end(payout, PayoutStatus.PAID, "paid_at", at)
                    return
            except LedgerError as error:
                failure = ("could_not_process", error.detail)
        self._fail(payout, at, *failure)

    def _fail(self, payout: Payout, at: datetime, code: str, message: str) -> None:
        """Fail the payout with the funds returned, or parked in transit if the ledger refuses
        the return: a failure must end the payout either way, never leave it waiting."""
        store = self._store
        try:
            with store.uow.atomic():
                self._note_failure(payout, code, message)
                self._return_funds(payout, at)
                self._end(payout, PayoutStatus.FAILED, "failed_at", at)
        except LedgerError as refused:
            parked = store.accounts[payout.transit_account_id].code
            with store.uow.atomic():
                self._note_failure(
                    payout,
                    code,
                    f"{message} The return of the funds was refused ({refused.detail}): "
                    f"they stay in {parked}.",
                )
                self._end(payout, PayoutStatus.FAILED, "failed_at", at)

    def _note_failure(self, payout: Payout, code: str, message: str) -> None:
        self._store.uow.set(payout, "failure_code", code)
        self._store.uow.set(payout, "failure_message", message)

    # -- reads -----------------------------------------------------------------------------

    def get(self, payout_id: str) -> Payout:
        found = self._by_id.get(payout_id)
        if found is None:
            raise NotFound("payout", payout_id)
        return found

    def list(
        self,
        page: PageRequest,
        *,
        ledger_id: str | None = None,
        status: PayoutStatus | None = None,
    ) -> Page[Payout]:
        """Walk the smaller index of the filters; the other is checked row by row."""
        keys: list[tuple[Any, ...]] = [("payouts",)]
        if ledger_id is not None:
            keys.append(("payouts", "ledger", ledger_id))
        if status is not None:
            keys.append(("payouts", "status", status))
        seqs = self._store.narrowest(keys)

        def accept(p: Payout) -> bool:
            return (ledger_id is None or p.ledger_id == ledger_id) and (
                status is None or p.status is status
            )

        return paginate(seqs, self._store.fetch, page, accept)


def _next_step_at(payout: Payout) -> datetime | None:
    if payout.status is PayoutStatus.PENDING:
        return payout.created_at + IN_TRANSIT_AFTER
    if payout.status is PayoutStatus.IN_TRANSIT:
        return payout.expected_arrival_at
    return None


def _index_keys(payout: Payout) -> list[tuple[Any, ...]]:
    return [
        ("payouts",),
        ("payouts", "ledger", payout.ledger_id),
        ("payouts", "status", payout.status),
    ]
