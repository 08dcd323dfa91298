"""Progress of a long operation, as one status line on a terminal; silent anywhere else.

``serve`` seeding its default tenant and building the app, and ``spec bundle``, take seconds
on a slow machine; a person at a terminal should see that something is happening. The line goes
to standard error and is rewritten in place (carriage return, erase line), at most ten times a
second; when the operation ends it is replaced by one closing line (``seeded ... in 0.4 s``).
When standard error is not a terminal (a pipe, a CI log, a file) or with ``--quiet``, nothing
is written at all, so logs and parsed output never hold progress noise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ERASE = "\r\x1b[K"
INTERVAL = 0.1


class Progress:
    """A status line on ``stream`` (standard error by default) when it is a terminal."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = not quiet and _is_terminal(self.stream)
        self._clock = clock
        self._shown_at = float("-inf")
        self._started = clock()
        self._label = ""

    def start(self, label: str) -> None:
        """A new operation: its label shows at once."""
        self._label = label
        self._started = self._clock()
        self._write(f"{label}...")

    def update(self, detail: str) -> None:
        """What the current operation has done so far (shown at most ten times a second)."""
        now = self._clock()
        if now - self._shown_at >= INTERVAL:
            self._write(f"{self._label}: {detail}")

    def finish(self, summary: str) -> None:
        """The closing line of the operation, with how long it took."""
        if self.live:
            took = self._clock() - self._started
            self.stream.write(f"{ERASE}{summary} in {took:.1f} s\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self.live:
            self._shown_at = self._clock()
            self.stream.write(ERASE + text)
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False


QUIET = Progress(quiet=True)
"""Progress that shows nothing (the default of the functions that take one)."""
