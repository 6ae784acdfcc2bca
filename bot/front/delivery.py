"""Delivering a finished job on Discord, exactly once: the video (or the failure) in its thread."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

import discord

from bot.domain import Job, JobStatus
from bot.front import render
from bot.front.audit import AuditLog
from bot.front.buttons import result_view, retry_view
from bot.front.creation import Creator
from bot.front.progress import StatusEditor
from bot.storage import JobStore

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT_BYTES: Final = 10 * 1024 * 1024
# How far back a restarted bot looks in a thread for a post it may already have made.
MARKER_SEARCH_MESSAGES: Final = 50


class Delivery:
    """The poller's delivery callback for Discord jobs."""

    def __init__(
        self, client: discord.Client, store: JobStore, creator: Creator, editor: StatusEditor, audit: AuditLog
    ) -> None:
        self._client = client
        self._store = store
        self._creator = creator
        self._editor = editor
        self._audit = audit

    async def __call__(self, job: Job) -> int | None:
        """Post the result or the failure; return the posted message's id. Raising means 'try again later'."""
        await self._client.wait_until_ready()
        await self._creator.wait_for_setup(job.id)
        job = await self._store.get(job.id) or job  # the set-up may have recorded the thread meanwhile
        self._editor.forget(job.id)
        if job.task_id is None and job.status_message_id is None:
            return None  # refused before anything was public: the member was told privately
        target = await self._target(job)
        posted = await self._already_posted(target, job) if job.maybe_delivered else None
        if posted is None:
            posted = await self._post(target, job)
            self._audit.outcome(job, posted.jump_url)
        await self._finish_status(job, posted)
        return posted.id

    async def _target(self, job: Job) -> discord.abc.Messageable:
        """The job's thread, or its channel when there is no thread (or the thread is gone)."""
        if job.thread_id is not None:
            try:
                thread = self._client.get_channel(job.thread_id) or await self._client.fetch_channel(job.thread_id)
            except discord.NotFound:
                log.warning("Job %s: its thread is gone; delivering in the channel", job.id)
            else:
                if isinstance(thread, discord.abc.Messageable):
                    return thread
        assert job.channel_id is not None
        return self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def _already_posted(self, target: discord.abc.Messageable, job: Job) -> discord.Message | None:
        """After a crash mid-delivery: the post, if it went out before the crash."""
        marker = render.job_marker(job.id)
        me = self._client.user
        async for message in target.history(limit=MARKER_SEARCH_MESSAGES):
            if me is not None and message.author.id == me.id and marker in message.content:
                log.info("Job %s: found its earlier post %s; not posting again", job.id, message.id)
                return message
        return None

    async def _post(self, target: discord.abc.Messageable, job: Job) -> discord.Message:
        mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.requester_id or 0)])
        # The nonce lets Discord drop a duplicate if the same post is retried within a few minutes.
        nonce = _nonce(job)
        if job.status is JobStatus.FAILED:
            return await target.send(
                render.failure_text(job), view=retry_view(job.id), allowed_mentions=mention, nonce=nonce
            )
        limit = self._upload_limit(job)
        if job.result_path is None or (job.result_bytes or 0) > limit:
            return await target.send(render.too_large_text(job, limit), allowed_mentions=mention, nonce=nonce)
        file = discord.File(Path(job.result_path), filename=f"reelbot-{job.id}.mp4")
        return await target.send(
            render.result_text(job), file=file, view=result_view(job.id), allowed_mentions=mention, nonce=nonce
        )

    def _upload_limit(self, job: Job) -> int:
        # A bot-token post gets the guild's limit: the requester's Nitro does not apply to it.
        guild = self._client.get_guild(job.guild_id) if job.guild_id is not None else None
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT_BYTES

    async def _finish_status(self, job: Job, posted: discord.Message) -> None:
        if job.status_message_id is None or job.channel_id is None:
            return
        message = self._client.get_partial_messageable(job.channel_id).get_partial_message(job.status_message_id)
        view = retry_view(job.id) if job.status is JobStatus.FAILED else None
        try:
            await message.edit(embed=render.status_embed(job, result_link=posted.jump_url), view=view)
        except discord.HTTPException as exc:
            # The result is out; a stale status message is not worth posting it again.
            log.warning("Job %s: could not mark the status message done (%s)", job.id, exc)


def _nonce(job: Job) -> str:
    return f"reelbot-{job.id}"
