"""Status message edits: the latest state of each job, at most one edit per job every few seconds.

Discord limits message edits per channel (about five per five seconds), and many jobs in one channel share that
budget. Only the newest wanted state of a job is kept, so intermediate progress is skipped instead of queued,
and a channel over budget simply waits its turn. The elapsed time needs no edits: Discord clients render the
start time relative to now.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

import discord

from bot.domain import Job
from bot.front import render

log = logging.getLogger(__name__)

JOB_EDIT_INTERVAL_SECONDS: Final = 5.0
CHANNEL_EDITS_PER_WINDOW: Final = 4
CHANNEL_WINDOW_SECONDS: Final = 5.0


class StatusEditor:
    """Coalesces and paces status message edits, always with the bot token."""

    def __init__(self, client: discord.Client, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._wanted: dict[str, Job] = {}
        self._last_edit: dict[str, float] = {}
        self._channel_edits: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._wake = asyncio.Event()

    async def on_change(self, job: Job, became_slow: bool) -> None:
        """The poller's progress listener: remember the job's newest state."""
        if job.status_message_id is None or job.channel_id is None or job.status.is_terminal:
            return  # terminal states are shown by the delivery, together with the result
        self._wanted[job.id] = job
        self._wake.set()

    def forget(self, job_id: str) -> None:
        """Drop a job's pending edit (its final state is about to be shown)."""
        self._wanted.pop(job_id, None)
        self._last_edit.pop(job_id, None)

    async def run(self) -> None:
        """Apply wanted edits as the budgets allow, until cancelled."""
        await self._client.wait_until_ready()
        while True:
            self._wake.clear()
            wait = await self.edit_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def edit_due(self) -> float | None:
        """Edit every job whose turn has come; return how long until the next one may go, or None."""
        next_wait: float | None = None
        for job_id, job in list(self._wanted.items()):
            now = self._clock()
            ready_at = max(self._last_edit.get(job_id, 0.0) + JOB_EDIT_INTERVAL_SECONDS, self._channel_free_at(job))
            if ready_at > now:
                delay = ready_at - now
                next_wait = delay if next_wait is None else min(next_wait, delay)
                continue
            if self._wanted.get(job_id) is not job:
                continue
            del self._wanted[job_id]
            self._last_edit[job_id] = now
            assert job.channel_id is not None and job.status_message_id is not None
            self._channel_edits[job.channel_id].append(now)
            await self._edit(job)
        return next_wait

    def _channel_free_at(self, job: Job) -> float:
        assert job.channel_id is not None
        edits = self._channel_edits[job.channel_id]
        horizon = self._clock() - CHANNEL_WINDOW_SECONDS
        while edits and edits[0] <= horizon:
            edits.popleft()
        if len(edits) < CHANNEL_EDITS_PER_WINDOW:
            return 0.0
        return edits[0] + CHANNEL_WINDOW_SECONDS

    async def _edit(self, job: Job) -> None:
        assert job.channel_id is not None and job.status_message_id is not None
        message = self._client.get_partial_messageable(job.channel_id).get_partial_message(job.status_message_id)
        try:
            await message.edit(embed=render.status_embed(job))
        except discord.NotFound:
            log.info("Job %s: its status message is gone; no more progress edits", job.id)
            self.forget(job.id)
        except Exception as exc:  # a dropped connection included: one failed edit must not stop the editor
            log.warning("Job %s: status edit failed (%s); the next change will try again", job.id, exc)
