"""Injectable time sources for the simulator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class ManualClock:
    """A clock that only moves when told to, for deterministic tests."""

    def __init__(self, start: float = 1000.0) -> None:
        """Start the clock at `start` seconds."""
        self._now = start

    def __call__(self) -> float:
        """Return the current time in seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to an absolute time that is not earlier than now."""
        if when < self._now:
            raise ValueError("a clock cannot go backwards")
        self._now = when


async def real_sleep(seconds: float) -> None:
    """Sleep on the event loop; the default for slow-answer faults."""
    await asyncio.sleep(seconds)
