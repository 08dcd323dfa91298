"""The sandbox clock of a tenant: wall time by default, frozen on request, always advanceable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def wall_clock() -> datetime:
    """The machine's time, in UTC: the default source of every sandbox clock."""
    return datetime.now(UTC)


class SandboxClock:
    """Now, for one tenant: wall time plus an offset, or a frozen instant plus an offset.

    Advancing moves the offset, never the source, so a real-time clock keeps ticking afterwards.
    Readings never go backwards, even if the machine's clock does.
    """

    __slots__ = ("_frozen_at", "_last", "_offset", "_source")

    def __init__(
        self,
        source: Callable[[], datetime] = wall_clock,
        frozen_at: datetime | None = None,
    ) -> None:
        self._source = source
        self._frozen_at = frozen_at
        self._offset = timedelta(0)
        self._last = datetime.min.replace(tzinfo=UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> datetime:
        base = self._frozen_at if self._frozen_at is not None else self._source()
        reading = max(base + self._offset, self._last)
        self._last = reading
        return reading

    def advance_to(self, moment: datetime) -> datetime:
        """Move the clock forward to ``moment`` (no change if it is already past it)."""
        gap = moment - self.now()
        if gap > timedelta(0):
            self._offset += gap
        return self.now()

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; returns the new now."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += timedelta(seconds=seconds)
        return self.now()
