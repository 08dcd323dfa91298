"""One socket write per answer: a response's head goes out with its body, not before it.

uvicorn writes an answer's status line and headers when the application sends
``http.response.start``, and its body in a second ``transport.write`` when it sends
``http.response.body``: two system calls (and two TCP segments to wake the client) for every
answer, the head's the dearer one (bench/README.md: a tenth of the server's CPU under the mixed
load). :class:`HeadWithBody` stands between one request's cycle and the connection and holds
the head back until the body's first bytes come, then hands both to the transport at once
(``writelines``: one ``writev``). The bytes on the wire are the same, in the same order.

A head is held only when the answer's length is known (``Content-Length``): a chunked answer
(a stream: SSE, a long download) is written as it comes, head first, as uvicorn does. A held
head is written in any case by the time the response completes (an answer with no body: HEAD,
204, 304) or the connection is closed (an application that failed after the head), so no answer
loses its head.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

_BEFORE_HEAD, _HEAD_HELD, _PASSED = 0, 1, 2


class HeadWithBody:
    """The connection as one request's cycle sees it: the head of its answer held for the body.

    Only the methods uvicorn's cycle calls on its transport (``write``, ``close``,
    ``is_closing``); flow control and everything else use the connection's own transport.

    The cycle holds this object (as its transport), so this one refers to the cycle and to
    its completion callback (a method of the connection's protocol, which holds the cycle)
    weakly: strong references both ways would make every request's cycle, scope and body a
    reference cycle, freed only by the garbage collector instead of when the request ends
    (measured: collections of about half a second under the mixed load, p99 at 32 connections
    390-565 ms in some rounds against 31-37; bench/README.md).
    """

    __slots__ = ("_completed", "_cycle", "_head", "_state", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = weakref.ref(cycle)
        self._head = b""
        self._state = _BEFORE_HEAD
        self._completed = _weakly(cycle.on_response)

    @classmethod
    def install(cls, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        """Put one between ``cycle`` and ``transport`` (before the cycle runs)."""
        held = cls(transport, cycle)
        cycle.transport = held  # type: ignore[assignment]
        cycle.on_response = held._response_complete

    def write(self, data: bytes) -> None:
        if self._state == _HEAD_HELD:
            self._state = _PASSED
            head, self._head = self._head, b""
            self._transport.writelines((head, data))
        elif self._state == _BEFORE_HEAD and (cycle := self._cycle()) and cycle.response_started:
            # The cycle writes the head right after it marks the response started (before
            # that, the only write is a "100 Continue", which must go at once).
            if cycle.chunked_encoding:
                self._state = _PASSED
                self._transport.write(data)
            else:
                self._state = _HEAD_HELD
                self._head = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write a head still held (the answer has no body, or ends here)."""
        if self._state == _HEAD_HELD:
            self._state = _PASSED
            head, self._head = self._head, b""
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def _response_complete(self) -> None:
        self.flush()
        completed = self._completed()
        if completed is not None:
            completed()


def _weakly(callback: Callable[[], None]) -> Callable[[], Callable[[], None] | None]:
    """A weak reference to ``callback`` when it is a bound method (it is: the protocol's
    ``on_response_complete``), else ``callback`` itself."""
    try:
        return weakref.WeakMethod(callback)
    except TypeError:  # a plain function: nothing of the request behind it
        return lambda: callback
