"""The work a process does besides answering commands: poll, download, deliver, edit status messages, housekeep.

A VideoBot with PROCESS_ROLE=all hosts it beside its gateway connection; a worker (`python -m bot worker`) hosts it
alone, with a client logged in over REST only. Nothing in it needs the gateway's cache: every channel is reached as
a partial messageable, and a server's upload limit is asked of Discord when the cache does not have it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Final

import discord

from bot.domain import Job
from bot.engine import Engine
from bot.front.audit import AuditLog
from bot.front.creation import ORIGIN
from bot.front.delivery import Delivery
from bot.front.progress import StatusEditor
from bot.front.queue import QueueRunner
from bot.front.results import ResultFiles
from bot.services.housekeeping import Housekeeper

log = logging.getLogger(__name__)

# On shutdown, in-flight posts and edits get this long to finish; anything cut off resumes from the database.
SHUTDOWN_GRACE_SECONDS: Final = 5.0


class Background:
    """The poller with its delivery and status editor, the wait queue, and housekeeping, run as tracked tasks."""

    def __init__(self, engine: Engine, client: discord.Client, audit: AuditLog, queue: QueueRunner) -> None:
        settings = engine.settings
        self.editor = StatusEditor(client, store=engine.store)
        delivery = Delivery(
            client,
            engine.store,
            self.editor,
            audit,
            ResultFiles.of(engine),
            engine.metrics,
            lease_seconds=settings.job_lease_seconds,
        )
        self.queue = queue

        async def on_change(job: Job, became_slow: bool) -> None:
            await queue.on_change(job, became_slow)
            await self.editor.on_change(job, became_slow)

        self.poller = engine.poller(origin=ORIGIN, deliver=delivery, on_change=on_change, settle=delivery.settle)
        self._housekeeper = Housekeeper(
            engine.store,
            engine.metrics,
            engine.media,
            retention_seconds=settings.retention_days * 86400,
            max_bytes=int(settings.media_max_gb * 1024**3),
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start polling, delivering, editing, the wait queue and housekeeping."""
        services: tuple[tuple[str, Coroutine[Any, Any, None]], ...] = (
            ("poller", self.poller.run()),
            ("status editor", self.editor.run()),
            ("wait queue", self.queue.run()),
            ("housekeeping", self._housekeeper.run()),
        )
        for name, work in services:
            self._tasks.append(track(name, work))

    async def stop(self) -> None:
        """Let posts under way finish (briefly), then stop every service; unfinished work resumes from the store."""
        await self.poller.drain(SHUTDOWN_GRACE_SECONDS)
        await cancel(self._tasks)

    def stopped(self) -> list[str]:
        """The services that have ended (each one's traceback is in the log)."""
        return [task.get_name() for task in self._tasks if task.done()]


def track(name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run a background service as a named task whose end, if it fails, is logged."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_log_end)
    return task


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and give them a moment to wind down."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    tasks.clear()


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Background service %s stopped", task.get_name(), exc_info=task.exception())
