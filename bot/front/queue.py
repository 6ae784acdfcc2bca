"""The wait queue's Discord side: look at the queues when a slot frees (and every few seconds in case another
process freed one), send what starts, show each waiting job's place, and tell members whose jobs were dropped.

Every process with a Discord client runs one (over REST is enough); the queue itself is in the store, so it does
not matter which process starts a job, and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import discord

from bot.domain import Job
from bot.engine import Engine
from bot.front import render
from bot.front.audit import AuditLog
from bot.front.buttons import cancel_view
from bot.front.creation import Creator
from bot.services.queue import QUEUE_CHECK_SECONDS

log = logging.getLogger(__name__)

# Jobs started from the queue are sent this many at a time per process (each submit waits for the gateway).
STARTS_AT_ONCE: Final = 4


class QueueRunner:
    """Moves every server's wait queue along from this process."""

    def __init__(self, engine: Engine, client: discord.Client, creator: Creator, audit: AuditLog) -> None:
        self._engine = engine
        self._client = client
        self._creator = creator
        self._audit = audit
        self._wake = asyncio.Event()
        self._starts = asyncio.Semaphore(STARTS_AT_ONCE)
        self._sending: set[asyncio.Task[None]] = set()
        engine.jobs.on_queue_change = self.wake

    def wake(self) -> None:
        """Look at the queues now: a job ended, joined or left one in this process."""
        self._wake.set()

    async def on_change(self, job: Job, became_slow: bool) -> None:
        """The poller's progress listener: a job that ended freed a slot."""
        if job.status.is_terminal:
            self.wake()

    async def run(self) -> None:
        """Review the queues whenever woken, and every QUEUE_CHECK_SECONDS, until cancelled."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self.review()
                except Exception:
                    log.exception("Wait queue: could not review the queues; trying again shortly")
                with contextlib.suppress(TimeoutError):  # not wait_for, which can swallow a stop (see the poller)
                    async with asyncio.timeout(QUEUE_CHECK_SECONDS):
                        await self._wake.wait()
        finally:
            for task in self._sending:
                task.cancel()

    async def review(self) -> None:
        """One look at every server's queue: drop, start and place."""
        queue = self._engine.queue
        for guild_id in await queue.guilds():
            review = await queue.review(guild_id)
            for job in review.dropped:
                await self._tell_dropped(job)
            for job in review.started:
                task = asyncio.create_task(self._start(job))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            for job in review.moved:
                await self._edit(job, embed=render.status_embed(job), view=cancel_view(job))

    async def _start(self, job: Job) -> None:
        async with self._starts:
            try:
                started = await self._creator.start_waiting(job)
            except Exception:
                # Left SUBMITTING: the poller gives it up (its credits back) once its give-up time passes.
                log.exception("Job %s: could not send it from the wait queue", job.id)
                return
        log.info("Job %s: started from the wait queue (%s)", job.id, started.status)
        self.wake()  # the positions behind it moved

    async def _tell_dropped(self, job: Job) -> None:
        """Tell the member privately (by DM; where DMs are closed, in the job's thread), and show it ended."""
        assert job.guild_id is not None and job.requester_id is not None
        log.info("Job %s: dropped from the wait queue (%s)", job.id, job.error_message)
        self._audit.refused(
            job.guild_id, job.requester_id, f"dropped from the wait queue: {job.error_message}", job.prompt
        )
        await self._edit(job, embed=render.status_embed(job), view=None)
        text = render.dropped_text(job)
        try:
            member = self._client.get_user(job.requester_id) or await self._client.fetch_user(job.requester_id)
            await member.send(text)
            return
        except discord.HTTPException as exc:
            log.info("Job %s: could not DM the member about the drop (%s); telling them in its thread", job.id, exc)
        where = job.thread_id or job.channel_id
        if where is None:
            return
        try:
            await self._client.get_partial_messageable(where).send(
                f"<@{job.requester_id}> {text}", allowed_mentions=discord.AllowedMentions(users=True)
            )
        except discord.HTTPException as exc:
            log.warning("Job %s: could not tell the member about the drop: %s", job.id, exc)

    async def _edit(self, job: Job, *, embed: discord.Embed, view: discord.ui.View | None) -> None:
        if job.channel_id is None or job.status_message_id is None:
            return
        message = self._client.get_partial_messageable(job.channel_id).get_partial_message(job.status_message_id)
        try:
            await message.edit(embed=embed, view=view)
        except discord.HTTPException as exc:
            log.warning("Job %s: could not update its status message: %s", job.id, exc)
