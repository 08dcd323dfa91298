"""Webhook deliveries as state: made per committed event, retried on the sandbox clock, given up."""

from __future__ import annotations

from datetime import timedelta

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.ledger.events import Retention
from gledger_sandbox.domain.ledger.pages import PageRequest
from gledger_sandbox.domain.ledger.store import LedgerStore
from gledger_sandbox.domain.live.webhook_models import (
    Attempt,
    DeliveryStatus,
    EndpointSpec,
    EndpointStatus,
    RetryPolicy,
)
from gledger_sandbox.domain.live.webhooks import Webhooks
from tests.domain.helpers import START, new_store


def setup(policy: RetryPolicy = RetryPolicy(schedule=(5, 60))) -> tuple[Webhooks, LedgerStore]:
    store = new_store()
    hooks = Webhooks(IdGenerator(7, b"webhooks"), store.clock, store.events, policy)
    return hooks, store


def answer(hooks: Webhooks, status: int | None, number: int) -> Attempt:
    return Attempt(number, hooks.now(), 1.0, status, None if status else "refused")


def test_deliveries_follow_committed_events_of_the_wanted_types_in_order() -> None:
    hooks, store = setup()
    store.create_ledger("before", None, {})
    endpoint = hooks.create_endpoint(
        EndpointSpec("http://x.test/", ("ledger.created",)), "whsec_AA"
    )
    store.create_ledger("one", None, {})
    store.create_ledger("two", None, {})
    assert hooks.collect() == 2
    due = hooks.take_due()
    assert [d.event.data.name for d in due] == ["one", "two"]
    assert [d.sequence for d in due] == [1, 2]
    assert all(d.endpoint_id == endpoint.id for d in due)
    assert hooks.collect() == 0  # nothing new: no delivery is made twice


def test_a_failed_attempt_is_retried_on_schedule_then_given_up() -> None:
    hooks, store = setup()
    hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_AA")
    store.create_ledger("one", None, {})
    hooks.collect()
    (delivery,) = hooks.take_due()
    hooks.finish_attempt(delivery, answer(hooks, 503, 1))
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at == hooks.now() + timedelta(seconds=5)
    assert hooks.take_due() == []  # the frozen clock has not reached the retry
    store.clock.advance(5)
    (again,) = hooks.take_due()
    hooks.finish_attempt(again, answer(hooks, None, 2))
    store.clock.advance(60)
    (last,) = hooks.take_due()
    hooks.finish_attempt(last, answer(hooks, 500, 3))
    assert delivery.status is DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert [a.response_status for a in delivery.attempts] == [503, None, 500]
    assert hooks.next_due() is None


def test_a_410_disables_the_endpoint_and_holds_its_other_deliveries() -> None:
    hooks, store = setup()
    endpoint = hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_AA")
    store.create_ledger("one", None, {})
    store.create_ledger("two", None, {})
    hooks.collect()
    first, second = hooks.take_due()
    hooks.finish_attempt(first, answer(hooks, 410, 1))
    hooks.finish_attempt(second, answer(hooks, 500, 1))
    assert endpoint.status is EndpointStatus.DISABLED
    assert first.status is DeliveryStatus.FAILED and second.status is DeliveryStatus.PENDING
    store.clock.advance(3600)
    assert hooks.take_due() == []
    hooks.update_endpoint(endpoint.id, {"status": EndpointStatus.ENABLED})
    assert [d.id for d in hooks.take_due()] == [second.id]


def test_jitter_is_deterministic_and_off_on_a_frozen_clock() -> None:
    hooks, store = setup(RetryPolicy(schedule=(100,), jitter=0.1))
    hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_AA")
    store.create_ledger("one", None, {})
    hooks.collect()
    (delivery,) = hooks.take_due()
    delivery.attempts.append(answer(hooks, 500, 1))
    policy = hooks.policy
    assert policy.delay(delivery, frozen=True) == timedelta(seconds=100)
    live = policy.delay(delivery, frozen=False)
    assert live is not None and timedelta(seconds=100) <= live <= timedelta(seconds=110)
    assert policy.delay(delivery, frozen=False) == live


def test_rotation_keeps_the_old_secret_signing_for_its_grace_period() -> None:
    hooks, store = setup()
    endpoint = hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_OLD")
    hooks.rotate_secret(endpoint.id, "whsec_NEW", timedelta(hours=1))
    assert endpoint.signing_secrets(hooks.now()) == ["whsec_NEW", "whsec_OLD"]
    store.clock.advance(3600)
    assert endpoint.signing_secrets(hooks.now()) == ["whsec_NEW"]
    hooks.rotate_secret(endpoint.id, "whsec_NOW", timedelta(0))
    assert [s.value for s in endpoint.secrets] == ["whsec_NOW"]


def test_finished_deliveries_are_forgotten_with_the_events_retention() -> None:
    hooks, store = setup()
    hooks.log.retention = Retention(max_age=timedelta(days=1))
    endpoint = hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_AA")
    store.create_ledger("one", None, {})
    store.create_ledger("two", None, {})
    hooks.collect()
    done, waiting = hooks.take_due()
    hooks.finish_attempt(done, answer(hooks, 200, 1))
    hooks.finish_attempt(waiting, answer(hooks, 500, 1))
    store.clock.advance(2 * 86400)
    hooks.collect()
    assert set(hooks.deliveries) == {waiting.id}  # a pending one is never forgotten
    (retried,) = hooks.take_due()
    hooks.finish_attempt(retried, answer(hooks, 204, 2))
    hooks.collect()
    assert set(hooks.deliveries) == {waiting.id}  # finished just now: kept for a day
    store.clock.advance(86401)
    hooks.collect()
    assert hooks.deliveries == {}
    assert hooks.list_deliveries(endpoint.id, PageRequest()).items == []


def test_count_retention_never_costs_a_delivery() -> None:
    made: list[int] = []
    store = LedgerStore(
        IdGenerator(7),
        SandboxClock(frozen_at=START),
        retention=Retention(max_count=5),
        on_events=lambda: made.append(hooks.collect()),
    )
    hooks = Webhooks(IdGenerator(7, b"webhooks"), store.clock, store.events, RetryPolicy())
    hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_AA")
    with store.uow.atomic():
        for n in range(10):
            store.create_ledger(f"L{n}", None, {})
    assert made == [10] and len(store.events) == 5


def test_a_retry_is_timed_from_the_end_of_the_failed_attempt_not_its_start() -> None:
    hooks, store = setup()
    hooks.create_endpoint(EndpointSpec("http://x.test/"), "whsec_AA")
    store.create_ledger("one", None, {})
    hooks.collect()
    (delivery,) = hooks.take_due()
    started = hooks.now()
    store.clock.advance(5)  # the receiver held the attempt until its 5 s timeout
    timed_out = Attempt(1, started, 5000.0, None, "no answer within 5 s", ended_at=hooks.now())
    hooks.finish_attempt(delivery, timed_out)
    assert delivery.next_attempt_at == started + timedelta(seconds=10)
    assert hooks.take_due() == []  # not due at once when the attempt ends
    store.clock.advance(5)
    assert hooks.take_due() == [delivery]
