"""``gledger-sandbox listen``: the tenant's events, forwarded to a local URL as signed webhooks.

Like ``stripe listen --forward-to``: no public URL, no endpoint to register on the sandbox.
Each event of the feed (:mod:`devtools.feed`) is POSTed to the local URL with the same body
and the same Standard Webhooks headers the sandbox's own deliveries carry (``webhook-id`` is
the event id, signed by ``webhooks.signing`` with a secret of the listener's own, printed once
at start). A forward that fails (no answer, or a status outside 2xx) is tried again with
backoff, up to ``retries`` more times; the feed waits meanwhile, so events arrive in order, and
an event given up on is reported and skipped. One line per attempt on standard output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from gledger_sandbox import __version__
from gledger_sandbox.devtools.feed import EventFeed, FeedEvent
from gledger_sandbox.webhooks.signing import new_secret, signature_header

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True, slots=True)
class ForwardOptions:
    forward_to: str
    secret: str
    retries: int = len(RETRY_DELAYS)
    timeout: float = 10.0
    retry_delays: tuple[float, ...] = RETRY_DELAYS


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: the receiver's status (None: no answer) and how long it took."""

    status: int | None
    error: str | None
    latency_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signing_secret(given: str | None) -> str:
    """The secret the listener signs with: the one given, else a new ``whsec_`` secret."""
    return given or new_secret()


def signed_headers(secret: str, event: FeedEvent, now: Callable[[], float]) -> dict[str, str]:
    stamp = int(now())
    return {
        "content-type": "application/json",
        "user-agent": f"gledger-sandbox-listen/{__version__}",
        "webhook-id": event.id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header([secret], event.id, stamp, event.raw),
    }


def delivery_line(event: FeedEvent, attempt: int, outcome: Outcome, retry_in: float | None) -> str:
    """``2026-06-01 09:00:00  entry.created  evt_...  -> 204  (12 ms)`` and what comes next."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    answer = f"[{outcome.status}]" if outcome.status is not None else f"[{outcome.error}]"
    line = f"{stamp}  --> {event.type:<28} {event.id}  {answer}  {outcome.latency_ms:.0f} ms"
    if attempt > 1:
        line += f"  (attempt {attempt})"
    if not outcome.ok:
        line += f"; retrying in {retry_in:g} s" if retry_in is not None else "; giving up"
    return line


class Forwarder:
    """Sends each event to the local URL, signed, with retries; prints a line per attempt."""

    def __init__(
        self,
        options: ForwardOptions,
        print_line: Callable[[str], None],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self._print = print_line
        self._wall = wall

    async def run(self, feed: EventFeed) -> None:
        timeout = httpx.Timeout(self.options.timeout)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            async for event in feed.events():
                await self.forward(client, event)

    async def forward(self, client: httpx.AsyncClient, event: FeedEvent) -> bool:
        """Deliver one event, retrying with backoff; True when the receiver took it."""
        delays = self.options.retry_delays
        for attempt in range(1, self.options.retries + 2):
            outcome = await self._attempt(client, event)
            last = attempt > self.options.retries
            retry_in = None if last else delays[min(attempt - 1, len(delays) - 1)]
            self._print(delivery_line(event, attempt, outcome, retry_in))
            if outcome.ok:
                return True
            if retry_in is None:
                return False
            await asyncio.sleep(retry_in)
        return False

    async def _attempt(self, client: httpx.AsyncClient, event: FeedEvent) -> Outcome:
        # Signed afresh per attempt: the timestamp is the attempt's, the id stays the event's.
        headers = signed_headers(self.options.secret, event, self._wall)
        began = time.perf_counter()
        try:
            answer = await client.post(self.options.forward_to, content=event.raw, headers=headers)
            status, error = answer.status_code, None
        except httpx.ConnectError:
            status, error = None, "connection refused"
        except httpx.TimeoutException:
            status, error = None, f"no answer within {self.options.timeout:g} s"
        except httpx.HTTPError as failure:
            status, error = None, type(failure).__name__
        return Outcome(status, error, (time.perf_counter() - began) * 1000)
