"""Webhook endpoints and their deliveries: who wants which events, and what became of each.

The values (endpoint, delivery, attempt, retry policy) are in ``webhook_models``.

A delivery is one event for one endpoint. It is created when its event is committed (for every
enabled endpoint that wants the type), attempted at once, and retried on the sandbox clock after
each failure, following the retry policy, until a 2xx answer or the policy gives up. A 410 answer
disables the endpoint. Nothing here does I/O: the webhook worker makes the attempts and reports
each outcome back with :meth:`Webhooks.finish_attempt`.

Each endpoint numbers its deliveries (``sequence``) in event order, so a receiver that gets them
out of order, or twice, can put them back in order and drop repeats.

Under ``serve --state-dir`` the hot path records its changes in the tenant's journal
(``domain.journal``): deliveries made for new events, attempts taken, their outcomes, finished
deliveries forgotten. Every other change (endpoints created, changed, deleted; secrets rotated;
pings, retries, replays) is not recorded and taints the journal: a full document is written.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sortedcontainers import SortedList

from gledger_sandbox.domain.clock import SandboxClock
from gledger_sandbox.domain.errors import Conflict, InvalidRequest, NotFound
from gledger_sandbox.domain.ids import IdGenerator
from gledger_sandbox.domain.journal import Journal, note, unrecorded
from gledger_sandbox.domain.ledger.events import NO_CAUSE, Event, EventLog
from gledger_sandbox.domain.ledger.pages import EMPTY, Page, PageRequest, paginate
from gledger_sandbox.domain.live.webhook_models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    EndpointSpec,
    EndpointStatus,
    RetryPolicy,
    SigningSecret,
    WebhookEndpoint,
)
from gledger_sandbox.domain.quotas import QuotaExceeded, TenantQuotas

TEST_EVENT = "webhook.test"
MAX_REPLAY = 10_000
MAX_ENDPOINTS = 16
"""Endpoints per tenant (every commit visits each one)."""


class Webhooks:
    """A tenant's endpoints and deliveries, and the order their next attempts fall due in."""

    journal: Journal | None = None
    """The tenant's journal under ``serve --state-dir`` (never part of its document)."""

    def __init__(
        self,
        ids: IdGenerator,
        clock: SandboxClock,
        log: EventLog,
        policy: RetryPolicy,
        *,
        quotas: TenantQuotas = TenantQuotas(),
    ) -> None:
        self._ids = ids
        self.quotas = quotas
        self._clock = clock
        self.log = log
        self.policy = policy
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.deliveries: dict[str, Delivery] = {}
        self._by_seq: dict[int, Any] = {}
        self._endpoint_index: SortedList = SortedList()
        self._deliveries_of: dict[str, SortedList] = {}
        self._finished: deque[tuple[datetime, Delivery]] = deque()
        """Deliveries in the order they finished (succeeded or gave up), for forgetting."""
        self._due: list[tuple[datetime, int, str]] = []
        self._seq = 0

    def now(self) -> datetime:
        return self._clock.now()

    def _next_seq(self) -> int:
        self._seq += 1
        note(self.journal, "set", self, "_seq", self._seq)
        return self._seq

    def _unrecorded(self) -> None:
        unrecorded(self.journal)

    # -- endpoints -------------------------------------------------------------------------

    def create_endpoint(self, spec: EndpointSpec, secret: str) -> WebhookEndpoint:
        """A new endpoint; it receives the events committed from now on."""
        limit = min(MAX_ENDPOINTS, self.quotas.webhook_endpoints)
        if len(self.endpoints) >= limit:
            raise QuotaExceeded(
                "webhook_endpoints",
                limit,
                f"A tenant has at most {limit} webhook endpoints; delete one first.",
                code="webhook.endpoint_limit_reached",
            )
        self._unrecorded()
        now = self._clock.now()
        endpoint = WebhookEndpoint(
            id=self._ids.new("we"),
            seq=self._next_seq(),
            url=spec.url,
            description=spec.description,
            event_types=tuple(dict.fromkeys(spec.event_types)),
            status=EndpointStatus.ENABLED,
            secrets=(SigningSecret(secret),),
            metadata=dict(spec.metadata),
            created_at=now,
            updated_at=now,
            cursor=self.log.last_seq,
        )
        self.endpoints[endpoint.id] = endpoint
        self._by_seq[endpoint.seq] = endpoint
        self._endpoint_index.add(endpoint.seq)
        self._deliveries_of[endpoint.id] = SortedList()
        return endpoint

    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        found = self.endpoints.get(endpoint_id)
        if found is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return self._forget_expired_secrets(found)

    def list_endpoints(self, page: PageRequest) -> Page[WebhookEndpoint]:
        def fetch(seq: int) -> WebhookEndpoint:
            return self._forget_expired_secrets(self._by_seq[seq])

        return paginate(self._endpoint_index, fetch, page)

    def _forget_expired_secrets(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        """Drop rotated-out secrets past their grace period, so reads show what signs."""
        now = self._clock.now()
        current, *older = endpoint.secrets
        kept = tuple(s for s in older if s.expires_at is not None and s.expires_at > now)
        if len(kept) != len(older):
            self._unrecorded()
            endpoint.secrets = (current, *kept)
        return endpoint

    def update_endpoint(self, endpoint_id: str, changes: dict[str, Any]) -> WebhookEndpoint:
        """Change an endpoint; enabling it again resumes its pending deliveries.

        Events committed while it was disabled are not delivered (replay a range for them).
        """
        endpoint = self.endpoint(endpoint_id)
        self._unrecorded()
        for name in ("url", "description", "metadata"):
            if name in changes:
                setattr(endpoint, name, changes[name])
        if "event_types" in changes:
            endpoint.event_types = tuple(dict.fromkeys(changes["event_types"]))
        status = changes.get("status")
        if status is not None and status is not endpoint.status:
            endpoint.status = status
            if status is EndpointStatus.ENABLED:
                endpoint.disabled_reason = None
                endpoint.cursor = self.log.last_seq
                self._requeue_pending(endpoint)
            else:
                endpoint.disabled_reason = "disabled by request"
        endpoint.updated_at = self._clock.now()
        return endpoint

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Forget an endpoint and its delivery log; pending attempts are dropped."""
        endpoint = self.endpoint(endpoint_id)
        self._unrecorded()
        del self.endpoints[endpoint.id]
        del self._by_seq[endpoint.seq]
        self._endpoint_index.discard(endpoint.seq)
        for seq in self._deliveries_of.pop(endpoint.id):
            delivery = self._by_seq.pop(seq)
            del self.deliveries[delivery.id]

    def rotate_secret(self, endpoint_id: str, secret: str, grace: timedelta) -> WebhookEndpoint:
        """A new current secret; the old one keeps signing alongside it for ``grace``."""
        endpoint = self.endpoint(endpoint_id)
        self._unrecorded()
        now = self._clock.now()
        current, *older = endpoint.secrets
        kept = [s for s in older if s.expires_at is not None and s.expires_at > now]
        retired = [SigningSecret(current.value, now + grace)] if grace > timedelta(0) else []
        endpoint.secrets = (SigningSecret(secret), *retired, *kept)
        endpoint.updated_at = now
        return endpoint

    # -- deliveries ------------------------------------------------------------------------

    def forget_old_deliveries(self) -> None:
        """Drop deliveries finished longer ago than the event log's retention, oldest first.

        Nothing unfinished is forgotten. Pending deliveries stay bounded all the same: only
        enabled endpoints get new ones, and those are attempted until they finish.
        """
        retention = self.log.retention
        oldest_kept = retention.oldest_kept(self._clock.now())
        while self._finished:
            finished_at, delivery = self._finished[0]
            kept = self.quotas.deliveries_kept
            too_many = len(self.deliveries) > min(retention.max_count, kept or retention.max_count)
            if finished_at >= oldest_kept and not too_many:
                return
            self._finished.popleft()
            journal = self.journal
            note(journal, "discard", self._finished, (finished_at, delivery))
            if delivery.status is DeliveryStatus.PENDING or delivery.in_flight:
                continue  # retried since: it goes back in when it finishes again
            if self.deliveries.get(delivery.id) is delivery:
                del self.deliveries[delivery.id]
                del self._by_seq[delivery.seq]
                of = self._deliveries_of[delivery.endpoint_id]
                of.discard(delivery.seq)
                note(journal, "pop", self.deliveries, delivery.id)
                note(journal, "pop", self._by_seq, delivery.seq)
                note(journal, "discard", of, delivery.seq)

    def collect(self) -> int:
        """Make deliveries for the events committed since each endpoint last looked."""
        self.forget_old_deliveries()
        made = 0
        head = self.log.last_seq
        for endpoint in self.endpoints.values():
            if endpoint.status is not EndpointStatus.ENABLED or endpoint.cursor >= head:
                continue
            types = frozenset(endpoint.event_types) if endpoint.event_types else None
            # Retention only drops events far older than any delivery lag; start at what is held.
            after = max(endpoint.cursor, self.log.dropped_through)
            for event in self.log.after(after, types, head - after):
                self._new_delivery(endpoint, event)
                made += 1
            endpoint.cursor = head
            note(self.journal, "set", endpoint, "cursor", head)
        return made

    def _new_delivery(
        self, endpoint: WebhookEndpoint, event: Event, retries: bool = True
    ) -> Delivery:
        now = self._clock.now()
        endpoint.sequence += 1
        note(self.journal, "set", endpoint, "sequence", endpoint.sequence)
        delivery = Delivery(
            id=self._ids.new("whd"),
            seq=self._next_seq(),
            endpoint_id=endpoint.id,
            event=event,
            sequence=endpoint.sequence,
            created_at=now,
            retries=retries,
        )
        self.deliveries[delivery.id] = delivery
        self._by_seq[delivery.seq] = delivery
        of = self._deliveries_of[endpoint.id]
        of.add(delivery.seq)
        journal = self.journal
        note(journal, "put", self.deliveries, delivery.id, delivery)
        note(journal, "put", self._by_seq, delivery.seq, delivery)
        note(journal, "add", of, delivery.seq)
        self._schedule(delivery, now)
        return delivery

    def ping(self, endpoint_id: str) -> Delivery:
        """A ``webhook.test`` delivery to one endpoint: one attempt, not an event of the log."""
        endpoint = self.endpoint(endpoint_id)
        self._require_enabled(endpoint)
        self._unrecorded()
        event = Event(
            id=self._ids.new("evt"),
            seq=0,
            type=TEST_EVENT,
            created_at=self._clock.now(),
            data=endpoint,
            cause=NO_CAUSE,
        )
        return self._new_delivery(endpoint, event, retries=False)

    def delivery(self, delivery_id: str) -> Delivery:
        found = self.deliveries.get(delivery_id)
        if found is None:
            raise NotFound("webhook delivery", delivery_id)
        return found

    def list_deliveries(
        self,
        endpoint_id: str,
        page: PageRequest,
        status: DeliveryStatus | None = None,
        event_type: str | None = None,
    ) -> Page[Delivery]:
        self.endpoint(endpoint_id)

        def accept(delivery: Delivery) -> bool:
            return (status is None or delivery.status is status) and (
                event_type is None or delivery.event.type == event_type
            )

        seqs = self._deliveries_of.get(endpoint_id, EMPTY)
        return paginate(seqs, self._by_seq.__getitem__, page, accept)

    def retry(self, delivery_id: str) -> Delivery:
        """Attempt one delivery again now, whatever became of it (the attempt count goes on)."""
        delivery = self.delivery(delivery_id)
        self._require_enabled(self.endpoint(delivery.endpoint_id))
        if delivery.in_flight:
            raise Conflict.at(
                "/status",
                "webhook.delivery_in_flight",
                f"Delivery {delivery.id} is being attempted right now; retry after it ends.",
            )
        self._unrecorded()
        delivery.status = DeliveryStatus.PENDING
        self._schedule(delivery, self._clock.now())
        return delivery

    def replay(
        self,
        endpoint_id: str,
        since: datetime | None,
        until: datetime | None,
        failed_only: bool,
    ) -> list[Delivery]:
        """Deliver a range of events again: new deliveries, or new attempts of the failed ones."""
        endpoint = self.endpoint(endpoint_id)
        self._require_enabled(endpoint)
        self._unrecorded()
        if since is not None and until is not None and since >= until:
            raise InvalidRequest.at(
                "/until", "validation.invalid_range", "until must be later than since."
            )
        if failed_only:
            chosen = [
                self._by_seq[seq]
                for seq in self._deliveries_of[endpoint.id]
                if self._by_seq[seq].status is DeliveryStatus.FAILED
                and _within(self._by_seq[seq].event.created_at, since, until)
            ]
            self._check_replay_size(len(chosen))
            for delivery in chosen:
                delivery.status = DeliveryStatus.PENDING
                self._schedule(delivery, self._clock.now())
            return chosen
        types = frozenset(endpoint.event_types) if endpoint.event_types else None
        events = list(islice(self._events_between(since, until, types), MAX_REPLAY + 1))
        self._check_replay_size(len(events))
        return [self._new_delivery(endpoint, event) for event in events]

    def _events_between(
        self, since: datetime | None, until: datetime | None, types: frozenset[str] | None
    ) -> Iterable[Event]:
        after = self.log.seq_before(since) if since is not None else self.log.dropped_through
        while True:
            batch = self.log.after(after, types, 1000)
            for event in batch:
                if until is not None and event.created_at >= until:
                    return
                yield event
            if len(batch) < 1000:
                return
            after = batch[-1].seq

    @staticmethod
    def _check_replay_size(count: int) -> None:
        if count > MAX_REPLAY:
            raise InvalidRequest.at(
                "/since",
                "webhook.replay_too_large",
                f"The range holds more than {MAX_REPLAY} deliveries; replay a narrower one.",
            )

    @staticmethod
    def _require_enabled(endpoint: WebhookEndpoint) -> None:
        if endpoint.status is not EndpointStatus.ENABLED:
            raise Conflict.at(
                "/status",
                "webhook.endpoint_disabled",
                f"Endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); "
                "enable it first.",
            )

    # -- attempts --------------------------------------------------------------------------

    def _schedule(self, delivery: Delivery, when: datetime) -> None:
        delivery.next_attempt_at = when
        heapq.heappush(self._due, (when, delivery.seq, delivery.id))
        journal = self.journal
        note(journal, "set", delivery, "next_attempt_at", when)
        note(journal, "touch", self._due)  # a heap: written whole (it holds due rows only)

    def _set(self, delivery: Delivery, name: str, value: Any) -> None:
        setattr(delivery, name, value)
        note(self.journal, "set", delivery, name, value)

    def _requeue_pending(self, endpoint: WebhookEndpoint) -> None:
        for seq in self._deliveries_of[endpoint.id]:
            delivery = self._by_seq[seq]
            if delivery.status is DeliveryStatus.PENDING and not delivery.in_flight:
                now = self._clock.now()
                self._schedule(delivery, max(delivery.next_attempt_at or now, now))

    def next_due(self) -> datetime | None:
        while self._due and self._stale(self._due[0]):
            heapq.heappop(self._due)
            note(self.journal, "touch", self._due)
        return self._due[0][0] if self._due else None

    def _stale(self, row: tuple[datetime, int, str]) -> bool:
        when, _, delivery_id = row
        delivery = self.deliveries.get(delivery_id)
        if delivery is None or delivery.in_flight or delivery.next_attempt_at != when:
            return True
        if delivery.status is not DeliveryStatus.PENDING:
            return True
        endpoint = self.endpoints.get(delivery.endpoint_id)
        return endpoint is None or endpoint.status is not EndpointStatus.ENABLED

    def take_due(self) -> list[Delivery]:
        """The deliveries whose attempt is due now, marked in flight, in due order."""
        now = self._clock.now()
        taken = []
        while (due := self.next_due()) is not None and due <= now:
            _, _, delivery_id = heapq.heappop(self._due)
            note(self.journal, "touch", self._due)
            delivery = self.deliveries[delivery_id]
            self._set(delivery, "in_flight", True)
            taken.append(delivery)
        return taken

    def abandon_attempt(self, delivery: Delivery) -> None:
        """An attempt that never ended (the server stopped): due again at once, uncounted."""
        if delivery.in_flight:
            self._set(delivery, "in_flight", False)
            self._schedule(delivery, self._clock.now())

    def finish_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        """Record an attempt's outcome: done, retried later, or given up."""
        self._set(delivery, "in_flight", False)
        delivery.attempts.append(attempt)
        note(self.journal, "add", delivery.attempts, attempt)
        self._set(delivery, "next_attempt_at", None)
        if attempt.succeeded:
            self._finish(delivery, DeliveryStatus.SUCCEEDED)
            return
        endpoint = self.endpoints.get(delivery.endpoint_id)
        if attempt.response_status == 410 and endpoint is not None:
            endpoint.status = EndpointStatus.DISABLED
            endpoint.disabled_reason = "the receiver answered 410 Gone"
            endpoint.updated_at = self._clock.now()
            journal = self.journal
            note(journal, "set", endpoint, "status", endpoint.status)
            note(journal, "set", endpoint, "disabled_reason", endpoint.disabled_reason)
            note(journal, "set", endpoint, "updated_at", endpoint.updated_at)
            self._finish(delivery, DeliveryStatus.FAILED)
            return
        wait = self.policy.delay(delivery, self._clock.frozen)
        if wait is None:
            self._finish(delivery, DeliveryStatus.FAILED)
            return
        self._set(delivery, "status", DeliveryStatus.PENDING)
        # From the end of the failed attempt: a receiver that timed out after 5 s is not
        # asked again at once by a "5 s" retry.
        self._schedule(delivery, attempt.ended + wait)

    def _finish(self, delivery: Delivery, status: DeliveryStatus) -> None:
        self._set(delivery, "status", status)
        finished = (self._clock.now(), delivery)
        self._finished.append(finished)
        note(self.journal, "add", self._finished, finished)


def _within(moment: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment < until)
