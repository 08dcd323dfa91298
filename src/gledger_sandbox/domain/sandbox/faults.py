"""Fault rules of a tenant, and the record of every fault they (or a request header) injected.

A rule matches API calls (by ``operation_id`` and/or ``method`` + ``path``) or webhook
deliveries (by endpoint and event type), and has one effect: added latency, a forced error
status, a dropped connection, or, for deliveries, a dropped, delayed, duplicated or reordered
attempt. It fires on the next ``times`` matching calls (or on every one), each time with
``probability``, drawn from a generator seeded by the rule's ``seed`` (the same seed and the
same calls give the same faults), until ``expires_at`` on the tenant's clock.

The rules are the tenant's test set-up, not ledger data: they live beside the store, take no
part in its units of work, and a reset starts without them. A snapshot holds them, each with
where its generator stands, and the injection log: a restore brings back both as they were.

Under ``serve --state-dir`` what a matching call changes is recorded in the tenant's journal
(``domain.journal``): the rule it counted (written whole: its counters and generator) and the
injection put on the record. Creating or deleting a rule is not recorded: it taints the journal.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sortedcontainers import SortedList

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import InvalidRequest, NotFound
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.journal import Journal, note, unrecorded
from gledger_sandbox.domain.ledger.pages import Page, PageRequest, paginate
from gledger_sandbox.domain.live.webhook_models import Delivery

MAX_RULES = 100
"""Rules a tenant holds at once (ended ones count until deleted)."""
KEPT_INJECTIONS = 1000
"""Injections kept for listing; older ones are forgotten first."""
MAX_LATENCY_MS = 30_000.0


WEBHOOKS = "#webhooks"
"""The key of delivery rules among the rules by target (no operationId looks like it)."""


def _target(spec: FaultSpec) -> str | None:
    return WEBHOOKS if spec.effect.on_webhooks else spec.match.operation_id


class Effect(StrEnum):
    LATENCY = "latency"
    ERROR = "error"
    DROP = "drop"
    WEBHOOK_DROP = "webhook_drop"
    WEBHOOK_DELAY = "webhook_delay"
    WEBHOOK_DUPLICATE = "webhook_duplicate"
    WEBHOOK_REORDER = "webhook_reorder"

    @property
    def on_webhooks(self) -> bool:
        return self.value.startswith("webhook_")

    @property
    def ends_call(self) -> bool:
        """The effect decides the answer (latency only delays it)."""
        return self in (Effect.ERROR, Effect.DROP)


class Distribution(StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True)
class Latency:
    """``ms`` exactly, uniform in ``[ms, max_ms]``, or exponential of mean ``ms`` (capped)."""

    ms: float
    distribution: Distribution = Distribution.FIXED
    max_ms: float | None = None

    def sample(self, rng: random.Random) -> float:
        ceiling = self.max_ms if self.max_ms is not None else MAX_LATENCY_MS
        if self.distribution is Distribution.UNIFORM:
            return rng.uniform(self.ms, ceiling)
        if self.distribution is Distribution.EXPONENTIAL:
            return min(rng.expovariate(1 / self.ms) if self.ms > 0 else 0.0, ceiling)
        return self.ms


@dataclass(frozen=True, slots=True)
class FaultMatch:
    operation_id: str | None = None
    method: str | None = None
    path: str | None = None
    """A concrete path (``/v1/entries/ent_1``) or the spec's (``/v1/entries/{entry_id}``)."""
    webhook_endpoint_id: str | None = None
    event_types: tuple[str, ...] = ()

    def call(self, operation_id: str, method: str, path: str, template: str) -> bool:
        return (
            (self.operation_id is None or self.operation_id == operation_id)
            and (self.method is None or self.method == method)
            and (self.path is None or self.path in (path, template))
        )

    def delivery(self, endpoint_id: str, event_type: str) -> bool:
        return (self.webhook_endpoint_id is None or self.webhook_endpoint_id == endpoint_id) and (
            not self.event_types or event_type in self.event_types
        )


@dataclass(frozen=True, slots=True)
class FaultSpec:
    match: FaultMatch
    effect: Effect
    status: int | None = None
    code: str | None = None
    retry_after_seconds: int | None = None
    latency: Latency | None = None
    after_commit: bool = False
    copies: int = 2
    """Deliveries of each attempt, for ``webhook_duplicate``."""
    times: int | None = None
    probability: float = 1.0
    seed: int = 0
    expires_at: datetime | None = None
    description: str | None = None


class RuleStatus(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"


@dataclass(slots=True)
class FaultRule:
    id: str
    seq: int
    spec: FaultSpec
    created_at: datetime
    rng: random.Random
    remaining: int | None
    matched: int = 0
    injected: int = 0

    def status(self, now: datetime) -> RuleStatus:
        if self.remaining == 0:
            return RuleStatus.EXHAUSTED
        if self.spec.expires_at is not None and now >= self.spec.expires_at:
            return RuleStatus.EXPIRED
        return RuleStatus.ACTIVE

    def fires(self, now: datetime) -> bool:
        """One matching call: does the rule fire on it? Counts it either way."""
        if self.status(now) is not RuleStatus.ACTIVE:
            return False
        self.matched += 1
        # Drawn on every match, even at probability 1, so a rule's pattern depends only on
        # its seed and the calls it saw.
        if self.rng.random() >= self.spec.probability:
            return False
        self.injected += 1
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass(frozen=True, slots=True)
class Injected:
    """What one injected fault did, and to what: a call, or an attempt of a delivery."""

    fault_id: str | None
    """The rule's id; None for the one-off request header."""
    effect: Effect
    status: int | None = None
    code: str | None = None
    latency_ms: float | None = None
    after_commit: bool = False
    request_id: str | None = None
    operation_id: str | None = None
    method: str | None = None
    path: str | None = None
    webhook_endpoint_id: str | None = None
    delivery_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Injection:
    id: str
    seq: int
    at: datetime
    what: Injected


@dataclass(slots=True)
class Faults:
    """A tenant's fault rules and its log of injected faults."""

    clock: SandboxClock
    ids: IdGenerator
    rules: dict[str, FaultRule] = field(default_factory=dict)
    _rule_seqs: SortedList = field(default_factory=SortedList)
    _by_seq: dict[int, FaultRule] = field(default_factory=dict)
    _by_target: dict[str | None, list[FaultRule]] = field(default_factory=dict)
    """Rules in creation order by what they may match: an operationId, ``None`` for call
    rules by path only, ``WEBHOOKS`` for delivery rules; a call asks only its candidates."""
    injections: dict[int, Injection] = field(default_factory=dict)
    _injection_seqs: SortedList = field(default_factory=SortedList)
    _seq: int = 0
    journal: Journal | None = field(default=None, compare=False, repr=False)
    """The tenant's journal under ``serve --state-dir`` (never part of its document)."""

    def _next_seq(self) -> int:
        self._seq += 1
        note(self.journal, "set", self, "_seq", self._seq)
        return self._seq

    def _fires(self, rule: FaultRule, now: datetime) -> bool:
        """``rule.fires``, its counters and generator recorded (written whole)."""
        fired = rule.fires(now)
        note(self.journal, "touch", rule)
        return fired

    @property
    def last_seq(self) -> int:
        """The sequence of the last rule or injection (it moves with each of them)."""
        return self._seq

    # -- rules -----------------------------------------------------------------------------

    def create(self, spec: FaultSpec) -> FaultRule:
        if len(self.rules) >= MAX_RULES:
            raise InvalidRequest.at(
                "",
                "sandbox.fault_limit_reached",
                f"The tenant already has {MAX_RULES} fault rules: delete one first.",
            )
        unrecorded(self.journal)
        seq = self._next_seq()
        rule = FaultRule(
            id=self.ids.new("flt"),
            seq=seq,
            spec=spec,
            created_at=self.clock.now(),
            rng=random.Random(spec.seed),
            remaining=spec.times,
        )
        self.rules[rule.id] = rule
        self._by_seq[seq] = rule
        self._rule_seqs.add(seq)
        self._by_target.setdefault(_target(spec), []).append(rule)
        return rule

    def get(self, fault_id: str) -> FaultRule:
        rule = self.rules.get(fault_id)
        if rule is None:
            raise NotFound("fault rule", fault_id)
        return rule

    def delete(self, fault_id: str) -> None:
        rule = self.get(fault_id)
        unrecorded(self.journal)
        del self.rules[fault_id], self._by_seq[rule.seq]
        self._rule_seqs.remove(rule.seq)
        self._by_target[_target(rule.spec)].remove(rule)

    def page(self, page: PageRequest) -> Page[FaultRule]:
        return paginate(self._rule_seqs, self._by_seq.__getitem__, page)

    # -- matching --------------------------------------------------------------------------

    def _candidates(self, *targets: str | None) -> Iterable[FaultRule]:
        """The rules that may match, in creation order (merged from their targets' lists)."""
        lists = [self._by_target.get(target, []) for target in targets]
        return heapq.merge(*lists, key=lambda rule: rule.seq)

    def for_call(self, operation_id: str, method: str, path: str, template: str) -> list[FaultRule]:
        """The rules that fire on one API call: every latency, then at most one that ends it.

        A rule after the first ending one is not asked (it neither fires nor counts the call).
        """
        if not self.rules:
            return []
        now = self.clock.now()
        fired = []
        for rule in self._candidates(operation_id, None):
            effect = rule.spec.effect
            if effect.on_webhooks or not rule.spec.match.call(operation_id, method, path, template):
                continue
            if self._fires(rule, now):
                fired.append(rule)
                if effect.ends_call:
                    break
        return fired

    def for_delivery(self, endpoint_id: str, event_type: str) -> FaultRule | None:
        """The first webhook rule that fires on one attempt of a delivery, if any."""
        if not self.rules:
            return None
        now = self.clock.now()
        for rule in self._candidates(WEBHOOKS):
            spec = rule.spec
            # Asked only when it matches: a rule's draws follow the attempts it matched.
            if (
                spec.effect.on_webhooks
                and spec.match.delivery(endpoint_id, event_type)
                and self._fires(rule, now)
            ):
                return rule
        return None

    # -- the record ------------------------------------------------------------------------

    def record(self, what: Injected) -> Injection:
        """Keep one injected fault on the record, forgetting the oldest past the bound."""
        seq = self._next_seq()
        kept = Injection(self.ids.new("inj"), seq, self.clock.now(), what)
        self.injections[seq] = kept
        self._injection_seqs.add(seq)
        journal = self.journal
        note(journal, "set", self.ids, "_count", self.ids.state())
        note(journal, "put", self.injections, seq, kept)
        note(journal, "add", self._injection_seqs, seq)
        while len(self._injection_seqs) > KEPT_INJECTIONS:
            oldest = self._injection_seqs.pop(0)
            del self.injections[oldest]
            note(journal, "pop", self.injections, oldest)
            note(journal, "discard", self._injection_seqs, oldest)
        return kept

    def list_injections(self, page: PageRequest, fault_id: str | None = None) -> Page[Injection]:
        def accept(injection: Injection) -> bool:
            return fault_id is None or injection.what.fault_id == fault_id

        return paginate(self._injection_seqs, self.injections.__getitem__, page, accept)


@dataclass(frozen=True, slots=True)
class DeliveryFault:
    """What a webhook rule does to one attempt, for the delivery worker to carry out."""

    fault_id: str
    effect: Effect
    seconds: float = 0.0
    """The delay (``webhook_delay``) or the longest hold (``webhook_reorder``)."""
    copies: int = 1


REORDER_HOLD_MS = 1000.0
"""How long ``webhook_reorder`` holds an attempt at most, unless the rule says."""


def delivery_fault(faults: Faults, delivery: Delivery) -> DeliveryFault | None:
    """The fault (if any) a rule puts on the next attempt of ``delivery``, put on the record."""
    rule = faults.for_delivery(delivery.endpoint_id, delivery.event.type)
    if rule is None:
        return None
    spec = rule.spec
    ms = spec.latency.sample(rule.rng) if spec.latency is not None else None
    if ms is None and spec.effect is Effect.WEBHOOK_REORDER:
        ms = REORDER_HOLD_MS
    copies = spec.copies if spec.effect is Effect.WEBHOOK_DUPLICATE else 1
    faults.record(
        Injected(
            rule.id,
            spec.effect,
            latency_ms=ms,
            webhook_endpoint_id=delivery.endpoint_id,
            delivery_id=delivery.id,
            event_id=delivery.event.id,
        )
    )
    return DeliveryFault(rule.id, spec.effect, (ms or 0.0) / 1000, copies)
