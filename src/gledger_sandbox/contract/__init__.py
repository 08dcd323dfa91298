"""The contract kit: proves that a deployment (this sandbox or a real one) honours the contract.

``run_contract(ContractOptions(base_url=..., api_key=...))`` runs three phases against a base
URL and returns a ``ContractReport``: schemathesis over every operation of the spec (``fuzz``:
positive and negative data; ``stateful``: sequences through the OpenAPI links), then the
``ledger`` scenarios no generic tool knows (balanced entries, balances equal to their lines,
idempotent replays, complete pages, event sequences, auth, signed webhooks). ``CHECKS`` names
every check. Importing this package is cheap: schemathesis loads when a run starts, and the
runner (its HTTP client, console and reports) when ``run_contract`` is first looked up, as the
command line builds the contract's arguments at every start, ``serve``'s included.
"""

from typing import TYPE_CHECKING, Any

from gledger_sandbox.contract.options import (
    CHECKS,
    PHASES,
    ContractOptions,
    ContractUsageError,
    TargetUnreachable,
)
from gledger_sandbox.contract.report import ContractReport, Failure, Outcome

if TYPE_CHECKING:
    from gledger_sandbox.contract.runner import run_contract


def __getattr__(name: str) -> Any:
    if name == "run_contract":
        from gledger_sandbox.contract.runner import run_contract

        return run_contract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKS",
    "PHASES",
    "ContractOptions",
    "ContractReport",
    "ContractUsageError",
    "Failure",
    "Outcome",
    "TargetUnreachable",
    "run_contract",
]
