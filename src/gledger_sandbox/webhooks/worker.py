"""The delivery worker: makes webhook attempts over HTTP and reports each outcome.

One lean HTTP/1.1 client for the whole server (``http1``: an attempt writes its request in the
loop turn it starts, idle connections are kept per receiver), a timeout per attempt, and fair
shares of the attempts in flight (``fair_share``: per endpoint, per tenant, server-wide), so a
slow receiver costs a waiting coroutine, never a thread, and never another tenant's turn.
``webhook-timestamp`` is wall-clock time (receivers check it against their own clock to refuse
replays); the sandbox time of the change is in the payload's ``created_at``.

A fault rule of the tenant (``domain.faults``) may change one attempt: dropped (never sent, a
failed attempt retried as any other), delayed, sent several times (the same ``webhook-id``),
or held back until the endpoint's next attempt has been sent (so it arrives out of order).

A deployment may give the worker an ``ssl.SSLContext`` (a client certificate to present to
receivers that require mutual TLS, a private CA to trust), and a ``watch`` that sees each
attempt begin and end (the api's metrics and trace spans; it may add headers, such as a
``traceparent``, to the request).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import httpx

from gledger_sandbox import __version__
from gledger_sandbox.domain.clock import wall_clock
from gledger_sandbox.domain.ledger.events import Event
from gledger_sandbox.domain.live.webhook_models import Attempt, Delivery
from gledger_sandbox.domain.live.webhooks import Webhooks
from gledger_sandbox.domain.sandbox.faults import DeliveryFault, Effect
from gledger_sandbox.webhooks.fair_share import FairShare
from gledger_sandbox.webhooks.http1 import Origin, WebhookClient
from gledger_sandbox.webhooks.outbound import OutboundGuard, OutboundPolicy, TargetRefused
from gledger_sandbox.webhooks.signing import signature_header

SEQUENCE_HEADER = "x-gledger-sequence"
"""The endpoint's delivery sequence number: order and dedupe across retries and replays."""


class AttemptWatch(Protocol):
    """One attempt as an observer sees it: headers to add to it, and its outcome."""

    headers: dict[str, str]

    def ended(self, attempt: Attempt) -> None: ...


AttemptWatcher = Callable[[str, Delivery], AbstractContextManager[AttemptWatch]]
"""Called with the tenant id and the delivery as an attempt begins (once it has its slot)."""


class _Unwatched:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}

    def ended(self, attempt: Attempt) -> None:
        return None


def _always() -> bool:
    return True


@contextlib.contextmanager
def _unwatched(_tenant_id: str, _delivery: Delivery) -> Iterator[AttemptWatch]:
    yield _Unwatched()


class DeliveryWorker:
    def __init__(
        self,
        render: Callable[[Event], bytes],
        *,
        timeout: float = 5.0,
        share: FairShare | None = None,
        wall: Callable[[], datetime] = wall_clock,
        guard: OutboundGuard | None = None,
        tls: ssl.SSLContext | None = None,
        watch: AttemptWatcher = _unwatched,
    ) -> None:
        self._render = render
        self.guard = guard or OutboundGuard(OutboundPolicy())
        self.timeout = timeout
        self.share = share or FairShare()
        self._wall = wall
        self._tls = tls
        self._watch = watch
        self._client: WebhookClient | None = None
        self._next_sent: dict[str, asyncio.Event] = {}
        """Per endpoint, set when its next attempt has been sent: what a reordered one awaits."""

    async def start(self) -> None:
        # Never a queue of its own: the fair share decides who waits (and so how many
        # connections an endpoint holds: per_endpoint). Redirects are never followed.
        self._client = WebhookClient(
            self._tls,
            user_agent=f"gledger-sandbox-webhooks/{__version__}",
            per_origin=self.share.per_endpoint,
        )

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def headers(self, webhooks: Webhooks, delivery: Delivery, body: bytes) -> dict[str, str]:
        """The signed headers of one attempt (the id stays the event's across attempts)."""
        endpoint = webhooks.endpoints[delivery.endpoint_id]
        stamp = int(self._wall().timestamp())
        signing = endpoint.signing_secrets(webhooks.now())
        return {
            "content-type": "application/json",
            "webhook-id": delivery.event.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(signing, delivery.event.id, stamp, body),
            SEQUENCE_HEADER: str(delivery.sequence),
            "x-gledger-delivery-id": delivery.id,
            "x-gledger-attempt": str(len(delivery.attempts) + 1),
        }

    async def attempt(
        self,
        tenant_id: str,
        webhooks: Webhooks,
        delivery: Delivery,
        fault: DeliveryFault | None = None,
        current: Callable[[], bool] = _always,
    ) -> Attempt:
        """Send one attempt of a delivery taken from ``webhooks`` and record its outcome there.

        ``current``: whether the delivery is still its tenant's, asked once the attempt may go
        (after a fault's delay, and its turn among the tenant's attempts): an attempt of a
        tenant deleted, reset or restored meanwhile is not sent, and nothing is recorded.
        """
        finished = False
        try:
            await self._held_back(delivery.endpoint_id, fault)
            async with self.share.slot(tenant_id, delivery.endpoint_id):
                if not current():
                    finished = True  # nothing to take back: the delivery is no one's now
                    return Attempt(
                        number=len(delivery.attempts) + 1,
                        started_at=webhooks.now(),
                        duration_ms=0.0,
                        response_status=None,
                        error="not sent: the tenant was deleted, reset or restored",
                    )
                with self._watch(tenant_id, delivery) as watch:
                    started_at = webhooks.now()
                    began = time.perf_counter()
                    status, error = await self._faulted_outcome(
                        webhooks, delivery, fault, watch.headers
                    )
                    attempt = Attempt(
                        number=len(delivery.attempts) + 1,
                        started_at=started_at,
                        duration_ms=round((time.perf_counter() - began) * 1000, 3),
                        response_status=status,
                        error=error,
                        ended_at=webhooks.now(),
                    )
                    webhooks.finish_attempt(delivery, attempt)
                    finished = True
                    watch.ended(attempt)
                    return attempt
        finally:
            if not finished:  # cancelled (the server is stopping): try again later
                webhooks.abandon_attempt(delivery)

    async def _held_back(self, endpoint_id: str, fault: DeliveryFault | None) -> None:
        """A delayed attempt waits its delay; a reordered one, the endpoint's next attempt."""
        if fault is None or not fault.seconds:
            return
        if fault.effect is Effect.WEBHOOK_DELAY:
            await asyncio.sleep(fault.seconds)
        elif fault.effect is Effect.WEBHOOK_REORDER:
            overtaken = self._next_sent.setdefault(endpoint_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(fault.seconds):
                    await overtaken.wait()

    async def _faulted_outcome(
        self,
        webhooks: Webhooks,
        delivery: Delivery,
        fault: DeliveryFault | None,
        extra: dict[str, str],
    ) -> tuple[int | None, str | None]:
        if fault is not None and fault.effect is Effect.WEBHOOK_DROP:
            return None, f"dropped by fault rule {fault.fault_id} (injected, not sent)"
        copies = fault.copies if fault is not None else 1
        for _ in range(copies):
            outcome = await self._outcome(webhooks, delivery, extra)
        held = fault is not None and fault.effect is Effect.WEBHOOK_REORDER
        if not held and (sent := self._next_sent.pop(delivery.endpoint_id, None)) is not None:
            sent.set()  # the attempts held back for this one go now
        return outcome

    async def _outcome(
        self, webhooks: Webhooks, delivery: Delivery, extra: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """The receiver's status, or why there is none; never raises for the receiver's sake."""
        endpoint = webhooks.endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            return None, "the endpoint was deleted"
        try:
            # One deadline for the whole attempt: a receiver trickling bytes cannot stretch it.
            async with asyncio.timeout(self.timeout):
                return await self._send(endpoint.url, webhooks, delivery, extra), None
        except TargetRefused as refused:
            return None, f"refused: {refused}"
        except TimeoutError:
            return None, f"no answer within {self.timeout:g} s"
        except Exception as failure:  # refused, closed, an URL that cannot be used, TLS, ...
            return None, f"{type(failure).__name__}: {failure}".rstrip(": ")

    async def _send(
        self, url: str, webhooks: Webhooks, delivery: Delivery, extra: dict[str, str]
    ) -> int:
        if self._client is None:
            raise RuntimeError("the delivery worker is not running")
        body = self._render(delivery.event)
        target = _parsed(url)
        if target.scheme not in ("http", "https"):
            raise ValueError(f"not an http or https URL: {url}")
        # Checked at every attempt, after resolving the name again (it may point inside now),
        # and sent to the address checked, never resolved a second time; the URL's host name
        # stays the Host header, the TLS server name and what its certificate must name.
        address = await self.guard.check(target)
        origin = Origin(
            target.scheme,
            str(address) if address is not None else target.host,
            target.port or (443 if target.scheme == "https" else 80),
            target.host if target.scheme == "https" else None,
        )
        headers = {**extra, **self.headers(webhooks, delivery, body)}
        host = target.netloc.decode("ascii")
        # Only the status matters: the receiver's body is never read.
        return await self._client.post(origin, target.raw_path.decode("ascii"), host, headers, body)


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    """An endpoint's URL, parsed once (endpoints are few, attempts many)."""
    return httpx.URL(url)
