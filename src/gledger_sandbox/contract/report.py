"""What a contract run found: failures, passes and skips per phase, check and operation.

``Results`` collects them while the run goes (several failures of one check on one operation
are one finding, counted); ``ContractReport`` is the frozen outcome the API, the console, the
JUnit writer and the pytest plugin read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Failure:
    """One finding: which check, on which operation (or scenario), why, and how to reproduce it."""

    check: str
    operation: str
    message: str
    curl: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One test case of the run: a check applied to an operation or scenario, in a phase."""

    phase: str
    check: str
    name: str
    failure: Failure | None = None
    occurrences: int = 0
    """How many times the failure was seen (the first one is kept)."""
    skipped: str | None = None
    """Why the check could not run here; None when it ran."""


@dataclass(frozen=True, slots=True)
class ContractReport:
    """The outcome of ``run_contract``; ``ok`` is False when any check failed."""

    base_url: str
    seed: int
    seconds: float
    outcomes: tuple[Outcome, ...]
    cut_short: bool = False
    """The time budget ran out: what was left is in ``skipped``."""
    phase_seconds: tuple[tuple[str, float], ...] = ()
    """How long each phase that ran took."""

    @property
    def failures(self) -> list[Failure]:
        return [o.failure for o in self.outcomes if o.failure is not None]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(o.check, o.skipped) for o in self.outcomes if o.skipped is not None]

    @property
    def passed(self) -> int:
        return sum(1 for o in self.outcomes if o.failure is None and o.skipped is None)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(slots=True)
class Results:
    """Outcomes as they come in, keyed by (phase, check, name); safe to feed from threads."""

    on_failure: Callable[[str, Failure], None] | None = None
    _outcomes: dict[tuple[str, str, str], Outcome] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, phase: str, seconds: float) -> None:
        self._seconds[phase] = self._seconds.get(phase, 0.0) + seconds

    def _outcome(self, phase: str, check: str, name: str) -> Outcome:
        key = (phase, check, name)
        if key not in self._outcomes:
            self._outcomes[key] = Outcome(phase, check, name)
        return self._outcomes[key]

    def passed(self, phase: str, check: str, name: str) -> None:
        """The check ran on ``name`` (a failure recorded before or after still wins)."""
        with self._lock:
            self._outcome(phase, check, name)

    def failed(self, phase: str, failure: Failure, occurrences: int = 1) -> None:
        with self._lock:
            outcome = self._outcome(phase, failure.check, failure.operation)
            first = outcome.failure is None
            self._outcomes[(phase, failure.check, failure.operation)] = replace(
                outcome,
                failure=outcome.failure or failure,
                occurrences=outcome.occurrences + occurrences,
                skipped=None,
            )
        if first and self.on_failure is not None:
            self.on_failure(phase, failure)

    def skip(self, phase: str, check: str, name: str, reason: str) -> None:
        with self._lock:
            outcome = self._outcome(phase, check, name)
            if outcome.failure is None:
                self._outcomes[(phase, check, name)] = replace(outcome, skipped=reason)

    def absorb(self, outcomes: Iterable[Outcome]) -> None:
        """Outcomes recorded elsewhere (a fuzz worker process), filed as if recorded here."""
        for outcome in outcomes:
            if outcome.failure is not None:
                self.failed(outcome.phase, outcome.failure, outcome.occurrences)
            elif outcome.skipped is not None:
                self.skip(outcome.phase, outcome.check, outcome.name, outcome.skipped)
            else:
                self.passed(outcome.phase, outcome.check, outcome.name)

    def report(self, base_url: str, seed: int, seconds: float, cut_short: bool) -> ContractReport:
        with self._lock:
            outcomes = tuple(self._outcomes.values())
        return ContractReport(
            base_url, seed, seconds, outcomes, cut_short, tuple(self._seconds.items())
        )
