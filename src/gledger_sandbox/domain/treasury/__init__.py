"""Money movement on top of the ledger: settlements, payouts, reconciliation (matcher and runs)."""
