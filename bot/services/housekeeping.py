"""Housekeeping every few minutes: delete old results (by age, then by disk use), finish takedowns, refresh the gauges.

A takedown deletes a job's files at once; where the store did not answer then, the job's ``result_deleted_at``
stays the record that they must go, and every sweep deletes the files of jobs taken down within the retention
period (older files are gone by age already) until none are left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from bot.media.retention import SweepReport
from bot.media.store import MediaStore
from bot.metrics import Metrics
from bot.storage import JobStore

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS: Final = 600.0


class Housekeeper:
    """Keeps the media store (RESULTS_DIR or the bucket) within RETENTION_DAYS and MEDIA_MAX_GB and rid of taken-down
    videos, never touching jobs still in progress."""

    def __init__(
        self,
        store: JobStore,
        metrics: Metrics,
        media: MediaStore,
        *,
        retention_seconds: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._media = media
        self._retention_seconds = retention_seconds
        self._max_bytes = max_bytes
        self._clock = clock

    async def run_once(self) -> SweepReport:
        """One sweep and one refresh of the job gauges."""
        counts = await self._store.count_by_status()
        self._metrics.set_job_states({(status.value, model): n for (status, model), n in counts.items()})
        self._metrics.queue_depth.set(sum(n for (status, _), n in counts.items() if not status.is_terminal))
        now = self._clock()
        return await self._media.sweep(
            max_age_seconds=self._retention_seconds,
            max_bytes=self._max_bytes,
            now=now,
            protected=await self._store.ids_in_progress(),
            taken_down=await self._store.taken_down_since(max(0.0, now - self._retention_seconds)),
        )

    async def run(self) -> None:
        """Housekeep now and every HOUSEKEEPING_SECONDS until cancelled; a failed round is logged and retried."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("Housekeeping failed; trying again in %.0f s", HOUSEKEEPING_SECONDS)
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
