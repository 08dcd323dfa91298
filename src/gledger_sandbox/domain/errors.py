"""Domain errors: every refusal of the ledger, each with a machine-readable ``code``.

The tree (the HTTP status of each leaf lives in one table, ``api/problems.py``)::

    LedgerError                      code, detail, field errors (JSON pointers)
    ├── MalformedInput               a value cannot be read (a foreign cursor, a bad timestamp),
    │     or query parameters that cannot go together (a report's range or currency)
    │     validation.invalid_cursor, validation.invalid_value, events.cursor_out_of_range,
    │     validation.invalid_range, validation.range_too_long, validation.unknown_currency,
    │     validation.currency_required
    ├── InvalidRequest               the request breaks a rule of the ledger
    │     validation.unbalanced_entry, validation.currency_mismatch, validation.too_few_lines,
    │     validation.account_not_in_ledger, validation.unknown_currency, validation.invalid_value,
    │     validation.required_field_missing, settlement.nothing_to_settle,
    │     settlement.currency_mismatch, settlement.same_account, settlement.out_of_order,
    │     payout.same_account, sandbox.fault_limit_reached, simulation.chart_mismatch,
    │     simulation.invalid_split, simulation.not_refundable, simulation.refund_exceeds_charge,
    │     simulation.too_many_lines, simulation.too_few_lines
    ├── InsufficientFunds            insufficient_funds (an account flag would be broken, or a
    │                                payout exceeds its source's available balance)
    ├── AccountDisabled              account.disabled
    ├── NotFound                     not_found (unknown id, or another tenant's)
    ├── Conflict                     the request clashes with the current state
    │     duplicate_entry, duplicate_account_code, entry.immutable, entry.invalid_transition,
    │     entry.already_reversed, conflict.lock_version_mismatch, conflict.version_mismatch,
    │     payout.not_cancelable, entry.owned_by_payout, payout.not_returnable
    ├── CursorExpired                events.cursor_expired (the events after it are not retained)
    ├── IdempotencyError             idempotency.key_reused, idempotency.key_in_use
    └── AccessError                  unauthorized, tenant_limit_reached, tenant.evicted
          └── GrantRefused           the token endpoint refuses (RFC 6749 section 5.2):
                invalid_client, invalid_scope, unsupported_grant_type, invalid_request, and
                the validation.* codes of an unreadable or incomplete token form

A field error's pointer is relative to the request body (``/lines/1/amount``); callers that wrap a
body (a batch item) prefix it with :meth:`LedgerError.under`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: where it is (a JSON pointer), what is wrong, in words."""

    pointer: str
    code: str
    detail: str


class LedgerError(Exception):
    """Base of every refusal; ``code`` is the stable, machine-readable reason."""

    def __init__(self, code: str, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors

    def under(self, prefix: str) -> LedgerError:
        """The same error with every pointer moved under ``prefix`` (e.g. ``/entries/3``)."""
        moved = tuple(FieldError(prefix + e.pointer, e.code, e.detail) for e in self.errors)
        if not moved:
            moved = (FieldError(prefix, self.code, self.detail),)
        return self._with(moved)

    def renamed(self, pointers: dict[str, str]) -> LedgerError:
        """The same error with the pointers in ``pointers`` replaced (the lines of an entry a
        command built become the fields of the request that chose their accounts)."""
        return self._with(
            tuple(
                FieldError(pointers.get(e.pointer, e.pointer), e.code, e.detail)
                for e in self.errors
            )
        )

    def _with(self, errors: tuple[FieldError, ...]) -> LedgerError:
        """A copy of this error (same class, code and detail) with other field errors."""
        clone = type(self).__new__(type(self))
        LedgerError.__init__(clone, self.code, self.detail, errors)
        return clone

    @classmethod
    def collected(cls, errors: list[FieldError]) -> LedgerError:
        """Every offending field at once; the first one's code and detail are the error's."""
        return cls(errors[0].code, errors[0].detail, tuple(errors))

    @classmethod
    def at(cls, pointer: str, code: str, detail: str) -> LedgerError:
        """An error about one field, whose code is also the error's code."""
        return cls(code, detail, (FieldError(pointer, code, detail),))


class MalformedInput(LedgerError):
    """A value in the request cannot be read at all, or a query cannot be answered as asked:
    not a rule of the ledger broken, a request misread (400)."""


class InvalidRequest(LedgerError):
    """The request is well-formed but breaks a rule of the ledger."""


class BatchRefused(InvalidRequest):
    """An atomic batch refused as a whole because one item was; carries that item's code."""


class InsufficientFunds(LedgerError):
    """A posting would break an account's ``debits_must_not_exceed_credits`` (or mirror) flag."""


class AccountDisabled(LedgerError):
    """A posting touches a disabled account."""


class NotFound(LedgerError):
    """No such resource in this tenant."""

    def __init__(self, kind: str, resource_id: str, pointer: str = "") -> None:
        detail = f"No {kind} with id {resource_id!r}."
        errors = (FieldError(pointer, "not_found", detail),) if pointer else ()
        super().__init__("not_found", detail, errors)


class Conflict(LedgerError):
    """The request clashes with the current state of a resource."""


class CursorExpired(LedgerError):
    """An events cursor points before the oldest retained event: reading on would leave a gap."""


class IdempotencyError(LedgerError):
    """An ``Idempotency-Key`` was reused with another body, or is still in flight."""


class AccessError(LedgerError):
    """A credential, grant or tenant request is refused."""


class GrantRefused(AccessError):
    """The token endpoint refuses a request; answered as RFC 6749 section 5.2 describes.

    ``code`` is the RFC's ``error`` for the OAuth codes, or a ``validation.*`` code for a form
    that cannot be read (whose RFC ``error`` is ``invalid_request``).
    """
