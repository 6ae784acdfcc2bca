"""MemoryBudget: an asyncio semaphore counted in bytes, so large image decodes cannot pile up and exhaust memory."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


class MemoryBudget:
    """Grants holds of some bytes while their total stays within the capacity, first come first served.

    A hold larger than the whole capacity runs alone, once nothing else is held, so no decode waits forever.
    """

    def __init__(self, capacity_bytes: int) -> None:
        self._capacity = capacity_bytes
        self._in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        """Bytes held right now."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Holds waiting for their turn."""
        return sum(1 for _, future in self._waiters if not future.done())

    @asynccontextmanager
    async def hold(self, nbytes: int) -> AsyncIterator[None]:
        """Hold ``nbytes`` of the budget for the block, waiting until they fit."""
        await self._acquire(nbytes)
        try:
            yield
        finally:
            self._release(nbytes)

    async def _acquire(self, nbytes: int) -> None:
        if not self._waiters and self._fits(nbytes):
            self._in_use += nbytes
            return
        log.debug("A decode of %d bytes waits: %d of %d bytes are in use", nbytes, self._in_use, self._capacity)
        entry = (nbytes, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        except BaseException:
            if entry[1].done() and not entry[1].cancelled():
                self._release(nbytes)  # granted just as it was cancelled: give it back
            else:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                self._wake()  # whoever was behind it may fit now
            raise

    def _release(self, nbytes: int) -> None:
        self._in_use -= nbytes
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            nbytes, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if not self._fits(nbytes):
                return
            self._waiters.popleft()
            self._in_use += nbytes
            future.set_result(None)

    def _fits(self, nbytes: int) -> bool:
        return self._in_use == 0 or self._in_use + nbytes <= self._capacity
