"""Every operationId of the spec and the handler that serves it: the one routing table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gledger_sandbox.api.faults import UNFAULTED, with_faults
from gledger_sandbox.api.handlers import (
    accounts,
    auth,
    batches,
    entries,
    events,
    faults,
    health,
    ledgers,
    networks,
    payouts,
    reconciliations,
    reports,
    sandbox,
    settlements,
    simulations,
    snapshots,
    webhooks,
)

HANDLERS: dict[str, Callable[..., Any]] = {
    "getHealth": health.get_health,
    "issueToken": auth.issue_token,
    "createTenant": sandbox.create_tenant,
    "getTenant": sandbox.get_tenant,
    "resetTenant": sandbox.reset_tenant,
    "deleteTenant": sandbox.delete_tenant,
    "getAllowedNetworks": networks.get_allowed_networks,
    "setAllowedNetworks": networks.set_allowed_networks,
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
    "createSettlement": settlements.create_settlement,
    "listSettlements": settlements.list_settlements,
    "getSettlement": settlements.get_settlement,
    "createPayout": payouts.create_payout,
    "listPayouts": payouts.list_payouts,
    "getPayout": payouts.get_payout,
    "cancelPayout": payouts.cancel_payout,
    "getProfitAndLoss": reports.get_profit_and_loss,
    "getCashFlow": reports.get_cash_flow,
    "getTrialBalance": reports.get_trial_balance,
    "getClock": sandbox.get_clock,
    "advanceClock": sandbox.advance_clock,
    "createSnapshot": snapshots.create_snapshot,
    "listSnapshots": snapshots.list_snapshots,
    "getSnapshot": snapshots.get_snapshot,
    "deleteSnapshot": snapshots.delete_snapshot,
    "restoreSnapshot": snapshots.restore_snapshot,
    "exportSnapshot": snapshots.export_snapshot,
    "importTenant": snapshots.import_tenant,
    "listEvents": events.list_events,
    "getEvent": events.get_event,
    "streamEvents": events.stream_events,
    "createWebhookEndpoint": webhooks.create_webhook_endpoint,
    "listWebhookEndpoints": webhooks.list_webhook_endpoints,
    "getWebhookEndpoint": webhooks.get_webhook_endpoint,
    "updateWebhookEndpoint": webhooks.update_webhook_endpoint,
    "deleteWebhookEndpoint": webhooks.delete_webhook_endpoint,
    "rotateWebhookSecret": webhooks.rotate_webhook_secret,
    "testWebhookEndpoint": webhooks.test_webhook_endpoint,
    "listWebhookDeliveries": webhooks.list_webhook_deliveries,
    "retryWebhookDelivery": webhooks.retry_webhook_delivery,
    "replayWebhookDeliveries": webhooks.replay_webhook_deliveries,
    "createReconciliation": reconciliations.create_reconciliation,
    "getReconciliation": reconciliations.get_reconciliation,
    "listReconciliationMatches": reconciliations.list_reconciliation_matches,
    # sandbox fault rules
    "createFault": faults.create_fault,
    "listFaults": faults.list_faults,
    "getFault": faults.get_fault,
    "deleteFault": faults.delete_fault,
    "listFaultInjections": faults.list_fault_injections,
    # sandbox simulations
    "simulateCharge": simulations.simulate_charge,
    "simulateRefund": simulations.simulate_refund,
    "simulatePayoutReturn": simulations.simulate_payout_return,
    "simulateBankStatement": simulations.simulate_bank_statement,
}


def resolve(operation_id: str) -> Callable[..., Any]:
    """Connexion's function resolver: an operation without a handler fails at start-up."""
    handler = HANDLERS[operation_id]
    # Every operation but the fault rules' own answers to the caller's fault rules.
    return handler if operation_id in UNFAULTED else with_faults(operation_id, handler)
