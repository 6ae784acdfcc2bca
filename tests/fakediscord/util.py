"""Small shared helpers: snowflakes, Discord timestamps and a predicate waiter."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeGenerator:
    """Generates Discord-style snowflakes: ms since the Discord epoch, worker, process and increment."""

    def __init__(self, worker_id: int = 1) -> None:
        self._worker_id = worker_id & 0x1F
        self._process_id = os.getpid() & 0x1F
        self._increment = itertools.count()
        self._last = 0

    def next(self) -> int:
        """Return a new snowflake, strictly greater than every earlier one from this generator."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (self._worker_id << 17) | (self._process_id << 12) | (next(self._increment) & 0xFFF)
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value

    def next_in_shard(self, shard_id: int, shard_count: int) -> int:
        """A new snowflake that Discord's rule ``(id >> 22) % shard_count`` places in shard ``shard_id``."""
        value = self.next()
        ms = value >> 22
        wanted = ms + (shard_id - ms) % shard_count  # a few milliseconds later at most
        if wanted != ms:
            value = (wanted << 22) | (self._worker_id << 17) | (self._process_id << 12)
            self._last = value
        return value


def shard_of(snowflake: int | None, shard_count: int) -> int:
    """The shard a guild's events go to (Discord's rule); DMs (no guild) go to shard 0."""
    return 0 if snowflake is None else (snowflake >> 22) % shard_count


def snowflake_time(snowflake: int) -> datetime.datetime:
    """Return the UTC creation time encoded in a snowflake."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def iso(dt: datetime.datetime | None = None) -> str:
    """Format a time the way Discord does (ISO 8601 with microseconds and +00:00)."""
    dt = dt or datetime.datetime.now(tz=datetime.UTC)
    return dt.astimezone(datetime.UTC).isoformat(timespec="microseconds")


class Notifier:
    """Wakes waiters whenever something changed; waiters re-check their own predicate.

    ``notify`` is synchronous so that state mutations anywhere (also outside coroutines) can call it.
    """

    def __init__(self) -> None:
        self._futures: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake every waiter."""
        for fut in self._futures:
            if not fut.done():
                fut.set_result(None)
        self._futures.clear()

    async def wait_for(self, probe: Callable[[], T | None], timeout: float, what: str = "condition") -> T:  # noqa: ASYNC109
        """Wait until ``probe()`` returns something other than None (or False) and return it.

        Raises TimeoutError (with ``what`` in the message) after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = probe()
            if value is not None and value is not False:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.2f}s waiting for {what}")
            fut: asyncio.Future[None] = loop.create_future()
            self._futures.add(fut)
            try:
                await asyncio.wait_for(asyncio.shield(fut), remaining)
            except TimeoutError:
                continue
            finally:
                self._futures.discard(fut)


def str_ids(values: Any) -> list[str]:
    """Render an iterable of ids as the list of strings Discord uses."""
    return [str(v) for v in values]
