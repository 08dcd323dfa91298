"""The delivery worker: makes webhook attempts over HTTP and reports each outcome.

One ``httpx.AsyncClient`` for the whole server, a timeout per attempt, and fair shares of the
attempts in flight (``fair_share``: per endpoint, per tenant, server-wide), so a slow receiver
costs a waiting coroutine, never a thread, and never another tenant's turn. ``webhook-timestamp`` is
wall-clock time (receivers check it against their own clock to refuse replays); the sandbox time
of the change is in the payload's ``created_at``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from gledger_sandbox import __version__
from gledger_sandbox.domain.clock import wall_clock
from gledger_sandbox.domain.events import Event
from gledger_sandbox.domain.webhook_models import Attempt, Delivery
from gledger_sandbox.domain.webhooks import Webhooks
from gledger_sandbox.webhooks.fair_share import FairShare
from gledger_sandbox.webhooks.outbound import OutboundGuard, OutboundPolicy, TargetRefused, pin
from gledger_sandbox.webhooks.signing import signature_header

SEQUENCE_HEADER = "x-gledger-sequence"
"""The endpoint's delivery sequence number: order and dedupe across retries and replays."""


class DeliveryWorker:
    def __init__(
        self,
        render: Callable[[Event], bytes],
        *,
        timeout: float = 5.0,
        share: FairShare | None = None,
        wall: Callable[[], datetime] = wall_clock,
        guard: OutboundGuard | None = None,
    ) -> None:
        self._render = render
        self.guard = guard or OutboundGuard(OutboundPolicy())
        self.timeout = timeout
        self.share = share or FairShare()
        self._wall = wall
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            # Never a queue of its own: the fair share decides who waits.
            limits=httpx.Limits(max_connections=self.share.total),
            follow_redirects=False,
            headers={"user-agent": f"gledger-sandbox-webhooks/{__version__}"},
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
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

    async def attempt(self, tenant_id: str, webhooks: Webhooks, delivery: Delivery) -> Attempt:
        """Send one attempt of a delivery taken from ``webhooks`` and record its outcome there."""
        finished = False
        try:
            async with self.share.slot(tenant_id, delivery.endpoint_id):
                started_at = webhooks.now()
                began = time.perf_counter()
                status, error = await self._outcome(webhooks, delivery)
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
                return attempt
        finally:
            if not finished:  # cancelled (the server is stopping): try again later
                webhooks.abandon_attempt(delivery)

    async def _outcome(
        self, webhooks: Webhooks, delivery: Delivery
    ) -> tuple[int | None, str | None]:
        """The receiver's status, or why there is none; never raises for the receiver's sake."""
        endpoint = webhooks.endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            return None, "the endpoint was deleted"
        try:
            # One deadline for the whole attempt: a receiver trickling bytes cannot stretch it.
            async with asyncio.timeout(self.timeout):
                return await self._send(endpoint.url, webhooks, delivery), None
        except TargetRefused as refused:
            return None, f"refused: {refused}"
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as failure:
            return None, f"{type(failure).__name__}: {failure}".rstrip(": ")
        except Exception as failure:  # an URL httpx cannot use, a TLS library fault, ...
            return None, f"{type(failure).__name__}: {failure}".rstrip(": ")

    async def _send(self, url: str, webhooks: Webhooks, delivery: Delivery) -> int:
        if self._client is None:
            raise httpx.TransportError("the delivery worker is not running")
        body = self._render(delivery.event)
        request = self._client.build_request(
            "POST", url, content=body, headers=self.headers(webhooks, delivery, body)
        )
        # Checked at every attempt, after resolving the name again (it may point inside now),
        # and sent to the address checked, never resolved a second time.
        address = await self.guard.check(request.url)
        if address is not None:
            request = pin(request, address)
        # Only the status matters: the receiver's body is never read.
        response = await self._client.send(request, stream=True)
        await response.aclose()
        return response.status_code
