"""Every operationId of the spec and the handler that serves it: the one routing table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gledger_sandbox.api.handlers import accounts, auth, batches, entries, health, ledgers, sandbox

HANDLERS: dict[str, Callable[..., Any]] = {
    "getHealth": health.get_health,
    "issueToken": auth.issue_token,
    "createTenant": sandbox.create_tenant,
    "getTenant": sandbox.get_tenant,
    "resetTenant": sandbox.reset_tenant,
    "deleteTenant": sandbox.delete_tenant,
    "createLedger": ledgers.create_ledger,
    "listLedgers": ledgers.list_ledgers,
    "getLedger": ledgers.get_ledger,
    "updateLedger": ledgers.update_ledger,
    "createAccount": accounts.create_account,
    "listAccounts": accounts.list_accounts,
    "getAccount": accounts.get_account,
    "updateAccount": accounts.update_account,
    "getAccountBalance": accounts.get_account_balance,
    "listAccountLines": accounts.list_account_lines,
    "listLedgerBalances": accounts.list_ledger_balances,
    "createEntry": entries.create_entry,
    "listEntries": entries.list_entries,
    "getEntry": entries.get_entry,
    "updateEntry": entries.update_entry,
    "postEntry": entries.post_entry,
    "voidEntry": entries.void_entry,
    "reverseEntry": entries.reverse_entry,
    "createEntryBatch": batches.create_entry_batch,
}


def resolve(operation_id: str) -> Callable[..., Any]:
    """Connexion's function resolver: an operation without a handler fails at start-up."""
    return HANDLERS[operation_id]
