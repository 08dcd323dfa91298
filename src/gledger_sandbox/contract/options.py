"""What a contract run is asked to do: the target, its credentials, and which checks to run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUILTIN_CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
)
"""Schemathesis' own checks, run on every fuzzed and stateful response."""

RESPONSE_CHECKS = ("request_id", "problem_json", "entries_balance")
"""The kit's checks of a single response: run on every response of every phase."""

SCENARIO_CHECKS = (
    "balance_matches_lines",
    "idempotent_replay",
    "pages_complete",
    "event_sequence",
    "auth_enforced",
    "webhook_signature",
    # The promises of DESIGN.md checked one by one (scenarios/promises.py lists their modules).
    "entry_state_machine",
    "balances_in_time",
    "report_arithmetic",
    "events_truthful",
    "tenant_isolation",
    "operational_headers",
    "hostile_inputs",
    "webhook_delivery",
)
"""The kit's scripted scenarios (the ledger phase), one per check."""

CHECKS: tuple[str, ...] = BUILTIN_CHECKS + RESPONSE_CHECKS + SCENARIO_CHECKS
"""Every check name, as ``--checks`` and reports spell them."""

PHASES: tuple[str, ...] = ("fuzz", "stateful", "ledger")

TENANT_WIDE = frozenset({"advanceClock", "createFault"})
"""Operations that change the credential's whole tenant (its clock, for every resource in it;
a fault rule, for every call it matches): left out unless the tenant is the run's own
(``own_tenant``) or ``operations`` names them."""

DEFAULT_EXAMPLES = 25

IN_PROCESS_WORKERS = 2
"""Fuzz processes against the in-process sandbox: it allows parallel calls, and the kit's
drawing and checking then run beside the sandbox's own work instead of taking turns with it."""


class ContractUsageError(ValueError):
    """Options that cannot run: unknown names, a missing target or credential (exit status 2)."""


class TargetUnreachable(RuntimeError):
    """The target could not be reached, or refused the kit's credential outright (exit status 2)."""


@dataclass(frozen=True, slots=True)
class ContractOptions:
    """One contract run; without ``base_url``, ``bootstrap.contract_against_sandbox`` runs it."""

    base_url: str | None = None
    api_key: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    """OAuth2 token endpoint; default: the spec's ``tokenUrl`` on the base URL."""
    scope: str | None = None
    other_api_key: str | None = None
    """A second tenant's credential, for the cross-tenant part of ``auth_enforced``."""
    spec: str | None = None
    """A path or URL of the OpenAPI document; default: the spec shipped in the package."""
    operations: frozenset[str] | None = None
    """operationIds to fuzz and page (None: all)."""
    exclude_operations: frozenset[str] = frozenset()
    checks: frozenset[str] = frozenset(CHECKS)
    phases: tuple[str, ...] = PHASES
    examples: int = DEFAULT_EXAMPLES
    seed: int | None = None
    """Hypothesis seed; None picks one and reports it, so any run can be repeated."""
    time_budget: float | None = None
    """Seconds for the whole run; what is left when it runs out is reported as skipped."""
    junit_xml: str | Path | None = None
    webhook_host: str = "127.0.0.1"
    """Where the kit's webhook receiver listens."""
    webhook_public_url: str | None = None
    """The receiver's URL as the target reaches it (default: ``http://HOST:PORT/``)."""
    webhooks: bool = True
    quiet: bool = False
    own_tenant: bool = False
    """The credential's tenant exists for this run only (the in-process sandbox, a test's fresh
    tenant): the ``TENANT_WIDE`` operations are fuzzed too."""
    workers: int | None = None
    """Processes the fuzz phase deals operations to (None: one against a base URL,
    ``IN_PROCESS_WORKERS`` against the in-process sandbox); the cases are the same for any."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.checks) - set(CHECKS))
        if unknown:
            raise ContractUsageError(f"unknown check(s) {', '.join(unknown)}; known: {CHECKS}")
        wrong = [phase for phase in self.phases if phase not in PHASES]
        if wrong:
            raise ContractUsageError(f"unknown phase(s) {', '.join(wrong)}; known: {PHASES}")
        if self.workers is not None and self.workers < 1:
            raise ContractUsageError("workers must be at least 1")
        if self.examples < 1:
            raise ContractUsageError("examples must be at least 1")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ContractUsageError("the time budget must be positive seconds")
        if bool(self.client_id) != bool(self.client_secret):
            raise ContractUsageError("give both --client-id and --client-secret")
        if self.api_key and self.client_id:
            raise ContractUsageError("give an API key or an OAuth client, not both")

    def wants(self, check: str) -> bool:
        return check in self.checks

    def selects(self, operation_id: str) -> bool:
        """Whether the operation is among those chosen to fuzz and page."""
        if operation_id in self.exclude_operations:
            return False
        if self.operations is not None:
            return operation_id in self.operations
        return not self.spares(operation_id)

    def spares(self, operation_id: str) -> bool:
        """Whether the operation is left out by default, to keep a partner's tenant as it was."""
        return operation_id in TENANT_WIDE and not self.own_tenant and self.operations is None
