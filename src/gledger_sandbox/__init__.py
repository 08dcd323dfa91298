"""GLedger Sandbox: a stateful, ledger-correct mock of the GLedger Live API, and a contract kit."""

__version__ = "0.1.0"
