"""Fault rules as plain objects: matching, order, counts, seeds, expiry, the bounded record."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import InvalidRequest, NotFound
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger.pages import Order, PageRequest
from gledger_sandbox.domain.sandbox.faults import (
    KEPT_INJECTIONS,
    MAX_RULES,
    Distribution,
    Effect,
    FaultMatch,
    Faults,
    FaultSpec,
    Injected,
    Latency,
    RuleStatus,
)

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
CALL = ("createEntry", "POST", "/v1/entries", "/v1/entries")


def faults() -> Faults:
    return Faults(SandboxClock(frozen_at=START), IdGenerator(1, b"faults"))


def error(**match: str) -> FaultSpec:
    return FaultSpec(FaultMatch(**match), Effect.ERROR, status=503)


def test_rules_match_by_operation_method_and_path_or_template() -> None:
    made = faults()
    by_template = made.create(error(path="/v1/entries/{entry_id}"))
    assert made.for_call("getEntry", "GET", "/v1/entries/ent_1", "/v1/entries/{entry_id}") == [
        by_template
    ]
    assert made.for_call(*CALL) == []
    by_path = made.create(error(method="POST", path="/v1/entries"))
    assert made.for_call(*CALL) == [by_path]
    assert made.for_call("createEntry", "GET", "/v1/entries", "/v1/entries") == []


def test_latencies_add_up_and_the_first_ending_rule_decides() -> None:
    made = faults()
    slow = made.create(
        FaultSpec(FaultMatch(operation_id="createEntry"), Effect.LATENCY, latency=Latency(5))
    )
    first = made.create(error(operation_id="createEntry"))
    second = made.create(error(operation_id="createEntry"))
    assert made.for_call(*CALL) == [slow, first]
    assert second.matched == 0  # never asked: the call was decided before it


def test_times_and_expiry_end_a_rule() -> None:
    made = faults()
    once = made.create(FaultSpec(FaultMatch(operation_id="createEntry"), Effect.DROP, times=1))
    assert made.for_call(*CALL) == [once] and made.for_call(*CALL) == []
    assert once.status(START) is RuleStatus.EXHAUSTED
    later = START + timedelta(seconds=60)
    spec = FaultSpec(FaultMatch(operation_id="createEntry"), Effect.DROP, expires_at=later)
    timed = made.create(spec)
    assert made.for_call(*CALL) == [timed]
    made.clock.advance(60)
    assert made.for_call(*CALL) == [] and timed.status(made.clock.now()) is RuleStatus.EXPIRED


def _fired(seed: int) -> list[bool]:
    made = faults()
    spec = FaultSpec(
        FaultMatch(operation_id="createEntry"), Effect.ERROR, probability=0.3, seed=seed
    )
    made.create(spec)
    return [bool(made.for_call(*CALL)) for _ in range(200)]


def test_the_same_seed_fires_on_the_same_calls() -> None:
    assert _fired(4) == _fired(4) != _fired(5)
    assert 30 < sum(_fired(4)) < 90  # about 30% of 200


def test_seeded_latencies_stay_in_their_bounds() -> None:
    rng = random.Random(1)
    uniform = [Latency(10, Distribution.UNIFORM, 20).sample(rng) for _ in range(100)]
    assert all(10 <= ms <= 20 for ms in uniform) and len(set(uniform)) > 50
    capped = [Latency(50, Distribution.EXPONENTIAL, 80).sample(rng) for _ in range(100)]
    assert max(capped) == 80 and min(capped) >= 0


def test_webhook_rules_never_match_calls_and_call_rules_never_deliveries() -> None:
    made = faults()
    made.create(FaultSpec(FaultMatch(), Effect.WEBHOOK_DROP))
    assert made.for_call(*CALL) == []
    made.create(error(operation_id="createEntry"))
    found = made.for_delivery("we_1", "entry.posted")
    assert found is not None and found.spec.effect is Effect.WEBHOOK_DROP


def test_rules_are_bounded_and_deleted_by_id() -> None:
    made = faults()
    rules = [made.create(error(operation_id="listLedgers")) for _ in range(MAX_RULES)]
    with pytest.raises(InvalidRequest) as refused:
        made.create(error(operation_id="listLedgers"))
    assert refused.value.code == "sandbox.fault_limit_reached"
    made.delete(rules[0].id)
    with pytest.raises(NotFound):
        made.get(rules[0].id)
    assert len(made.page(PageRequest(limit=500)).items) == MAX_RULES - 1


def test_the_record_keeps_the_latest_injections() -> None:
    made = faults()
    for _ in range(KEPT_INJECTIONS + 5):
        made.record(Injected(None, Effect.DROP))
    page = made.list_injections(PageRequest(limit=10, order=Order.ASC))
    assert page.items[0].seq == 6 and len(made.injections) == KEPT_INJECTIONS
