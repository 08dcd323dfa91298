"""GLedger Sandbox: a stateful, ledger-correct mock of the GLedger Live API, and its contract kit."""

__version__ = "0.1.0"
