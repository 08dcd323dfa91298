"""The order in which the requests read in one turn of the event loop start: oldest wait first.

The loop reads every readable connection in one poll, in the kernel's order, and uvicorn starts
each request's task as it is read; the tasks then run in that order in the next turn. That order
is not the order the requests came in. epoll keeps a connection that is still readable where it
was in its list of ready ones, and puts one that became readable since the last poll at the
end. Under load, the connection answered last in a turn often sends its next request just after
the loop's next poll (the loop polls as soon as that answer is out): it is read one turn later,
and then at the end of the list, so it is answered last of the turn after, about two turns after
its previous answer where every other connection waits one (bench/README.md, "p99 at 32
connections: where it comes from"). With 32 connections in a closed loop that was 0.3-3% of
the requests (the mix; a bare app), at twice the median latency: enough to make the p99.

:class:`StartOrder` holds the requests read in one poll and starts them together, in the order
of their connection's previous answer (or its opening): a client cannot send its next request
before it has read the previous answer, so that answer's place is the best lower bound of when
its request came that the server has, and the request that waited longest starts first.

The tasks are created one turn of the loop later than uvicorn creates them (the held requests
start from a callback of the next turn, and a task's first step runs in the turn after it is
created). The server does not wait for it: the loop polls without a timeout while callbacks are
ready. Under load the requests then run in two interleaved halves (those read in even polls,
those read in odd ones), each turn running about half of them: the same work, a poll more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import count
from operator import itemgetter

_PLACE = itemgetter(0)


class StartOrder:
    """Requests read in one poll, started together, the longest-waiting connection's first."""

    __slots__ = ("_answers", "_held", "_scheduled")

    def __init__(self) -> None:
        self._answers = count()
        self._held: list[tuple[int, Callable[[], None]]] = []
        self._scheduled = False

    def answered(self) -> int:
        """A connection's place, taken when it opens and whenever one of its answers is out."""
        return next(self._answers)

    def hold(self, loop: asyncio.AbstractEventLoop, place: int, start: Callable[[], None]) -> None:
        """Start ``start`` in the loop's next turn, after those with an earlier ``place``."""
        self._held.append((place, start))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start_held)

    def _start_held(self) -> None:
        held, self._held, self._scheduled = self._held, [], False
        held.sort(key=_PLACE)  # stable: equal places (none today) keep the order they came in
        for _, start in held:
            start()
