"""The sandbox around a tenant's ledger: tenants and credentials, idempotency, letting go of state,
allowed client networks, and the sandbox controls (faults, simulations, snapshots).
"""
