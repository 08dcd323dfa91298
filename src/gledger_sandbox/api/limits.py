"""Limits on the doors that stay open: event streams per credential.

An SSE stream or a WebSocket feed costs a coroutine and a socket for as long as it is open, so
a public backend caps how many one credential holds at once (``--max-streams``): one more is
refused with 429 ``streams.limit_reached`` (an HTTP problem for SSE; for the WebSocket an
``error`` message, then close code 4429). The WebSocket also counts against the rate limit
(``ratelimit.py``), as the SSE request does as any request.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from gledger_sandbox.domain.quotas import QuotaExceeded


def bearer_token(authorization: str | None) -> str:
    """The credential of an ``Authorization: Bearer`` header ("" for none)."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def credential_key(token: str) -> bytes:
    """Who a bearer credential is, for counting (hashed: the secret itself is never kept)."""
    return hashlib.blake2b(token.encode("latin-1", "replace"), digest_size=16).digest()


class StreamSlots:
    """Open feeds per credential, at most ``limit`` each (None: unbounded)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._open: dict[bytes, int] = {}

    def open_for(self, token: str) -> int:
        return self._open.get(credential_key(token), 0)

    def claim(self, token: str) -> None:
        """Take a slot for ``token``'s credential, or refuse (429 ``streams.limit_reached``)."""
        if self.limit is None:
            return
        key = credential_key(token)
        held = self._open.get(key, 0)
        if held >= self.limit:
            raise QuotaExceeded(
                "streams",
                self.limit,
                f"This credential already holds its limit of {self.limit} open event streams "
                "(SSE and WebSocket together); close one first.",
                code="streams.limit_reached",
            )
        self._open[key] = held + 1

    def release(self, token: str) -> None:
        if self.limit is None:
            return
        key = credential_key(token)
        held = self._open.get(key, 0) - 1
        if held > 0:
            self._open[key] = held
        else:
            self._open.pop(key, None)

    @contextlib.contextmanager
    def held(self, token: str) -> Iterator[None]:
        """A slot for the life of the block (claimed on entry: may refuse)."""
        self.claim(token)
        try:
            yield
        finally:
            self.release(token)
