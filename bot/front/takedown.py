"""Taking a video down (Delete, /video-purge): its post, its files, its links, and its prompt in public."""

from __future__ import annotations

import logging
from typing import Final

import discord

from bot.domain import Job
from bot.front import render
from bot.media.store import MediaStore
from bot.storage import JobStore
from bot.storage.guilds import GuildStore

log = logging.getLogger(__name__)

UNKNOWN_MESSAGE: Final = 10008


class Takedown:
    """Deletes what a job put out: the result post, the files (so its links stop working), the prompt shown."""

    def __init__(self, client: discord.Client, store: JobStore, guilds: GuildStore, media: MediaStore) -> None:
        self._client = client
        self._store = store
        self._guilds = guilds
        self._media = media

    async def take_down(self, job: Job) -> None:
        """Once the result post is gone: record it, delete the files, hide the prompt on the status and thread."""
        await self._store.mark_result_deleted(job.id)
        await self._media.remove_job(job.id)
        job = await self._store.get(job.id) or job
        await self._hide_status(job)
        await self._rename_thread(job)
        log.info("Job %s: taken down", job.id)

    async def purge(self, guild_id: int, user_id: int) -> int:
        """Take down every posted result of a member on a server; returns how many were taken down."""
        deleted = 0
        for job_id, where, message_id in await self._guilds.results_of(guild_id, user_id):
            if where is None:
                continue
            try:
                await self._client.get_partial_messageable(where).get_partial_message(message_id).delete()
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE:
                    log.warning("Job %s: its result's channel is gone: %s", job_id, exc)
                    continue  # the message may live on elsewhere; do not count it as deleted
            except discord.HTTPException as exc:
                log.warning("Job %s: could not delete its result: %s", job_id, exc)
                continue
            job = await self._store.get(job_id)
            if job is not None:
                await self.take_down(job)
            deleted += 1
        return deleted

    async def _hide_status(self, job: Job) -> None:
        if job.status_message_id is None or job.channel_id is None:
            return
        status = self._client.get_partial_messageable(job.channel_id).get_partial_message(job.status_message_id)
        try:
            # No attachments: the reference images go too.
            await status.edit(embed=render.status_embed(job), attachments=[], view=None)
        except discord.HTTPException as exc:
            log.warning("Job %s: could not mark the status message deleted (%s)", job.id, exc)

    async def _rename_thread(self, job: Job) -> None:
        if job.thread_id is None:
            return
        try:
            thread = self._client.get_channel(job.thread_id) or await self._client.fetch_channel(job.thread_id)
            if not isinstance(thread, discord.Thread):
                return
            was_archived = thread.archived
            # An archived thread can only be renamed while it is reopened; it is closed again after.
            await thread.edit(name=render.deleted_thread_name(job), archived=False)
            if was_archived:
                await thread.edit(archived=True)
        except discord.HTTPException as exc:
            log.warning("Job %s: could not rename its thread (%s)", job.id, exc)
