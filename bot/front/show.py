"""/video show: a finished job's result posted again, with its buttons, in the channel the command is used in.

The file is the kept result (the media store: RESULTS_DIR or the bucket) or, once retention has removed it, a fresh
download from the gateway while it still has the task; either way it is prepared for the server's upload limit as a
delivery is (bot.front.results), and the fresh copy is kept again.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import discord

from bot.domain import DeliveryState, Job, JobStatus
from bot.engine import Engine
from bot.errors import GatewayError, GatewayTaskLostError, UserFacingError
from bot.front import render, replies
from bot.front.delivery import DEFAULT_UPLOAD_LIMIT_BYTES
from bot.front.i18n import member_locale
from bot.front.results import ResultFiles
from bot.gateway.download import download_result
from bot.locales import Text
from bot.media.store import MediaStoreError

log = logging.getLogger(__name__)

# Gateway answers meaning the task or its video is gone for good (an expired link answers 403 or 502), not that
# the gateway is down for now.
GONE_STATUSES: Final = frozenset({403, 404, 410, 502})


def may_show(job: Job, *, user_id: int, guild_id: int | None, manage_messages: bool) -> bool:
    """Whether a member may post a job's result again: their own job, or any job of this server that is not private
    for members who may manage messages."""
    return job.guild_id == guild_id and (job.requester_id == user_id or (manage_messages and not job.private))


def refusal(job: Job) -> Text | None:
    """Why a job that may be shown has no result to show (deleted, forgotten, not finished), or None."""
    if job.forgotten_at is not None:
        return replies.show_forgotten(job.id)
    if job.result_deleted_at is not None:
        return replies.show_deleted(job.id)
    if job.status is not JobStatus.SUCCEEDED:
        return replies.show_unfinished(job)
    if job.delivery_state in (DeliveryState.PENDING, DeliveryState.DELIVERING):
        return replies.show_being_posted(job.id)
    return None


class Reshow:
    """Posts finished jobs again for /video show."""

    def __init__(self, engine: Engine, results: ResultFiles) -> None:
        self._engine = engine
        self._results = results

    async def show(self, interaction: discord.Interaction[Any], job_ref: str) -> None:
        """Check, fetch (saying so in the deferred private reply), post in the channel, and link the post."""
        job = await self._engine.store.find(job_ref)
        if job is None or job.guild_id != interaction.guild_id:
            raise UserFacingError(replies.no_such_job(job_ref))
        manage = interaction.permissions.manage_messages
        if not may_show(job, user_id=interaction.user.id, guild_id=interaction.guild_id, manage_messages=manage):
            raise UserFacingError(replies.SHOW_NOT_YOURS)
        reason = refusal(job)
        if reason is not None:
            raise UserFacingError(reason)
        channel = interaction.channel
        permissions = interaction.permissions
        may_post = (
            permissions.send_messages_in_threads if isinstance(channel, discord.Thread) else permissions.send_messages
        )
        if not isinstance(channel, discord.abc.Messageable) or not may_post:
            raise UserFacingError(replies.SHOW_CANNOT_POST)
        await self._kept_or_fetched(interaction, job)
        await interaction.edit_original_response(
            content=replies.show_preparing(job.id).render(member_locale(interaction))
        )
        guild = interaction.guild
        prepared = await self._results.prepare(job, guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT_BYTES)
        post = prepared.post(job)
        post["content"] = f"{render.shown_again_line(job, interaction.user.id)}\n{post['content']}"
        try:
            message = await channel.send(**post, allowed_mentions=discord.AllowedMentions.none())
        except discord.Forbidden as exc:
            raise UserFacingError(replies.SHOW_BOT_CANNOT_POST) from exc
        # Delete on the original or on any copy, /video-purge and /video forget delete this copy too.
        await self._engine.store.add_shown_copy(job.id, message.channel.id, message.id)
        log.info("Job %s: shown again in %s by %s", job.id, message.channel.id, interaction.user.id)
        await interaction.edit_original_response(
            content=replies.show_posted(job.id, message.jump_url).render(member_locale(interaction))
        )

    async def choices(self, guild_id: int, user_id: int, typed: str, limit: int) -> list[tuple[str, str]]:
        """(name, job id) of the member's recent finished jobs that can be shown, matching what was typed."""
        typed = typed.strip().lower()
        jobs = await self._engine.store.list_by_requester(guild_id, user_id, limit)
        return [
            (render.show_choice(job), job.id)
            for job in jobs
            if refusal(job) is None and (typed in job.id or typed in job.prompt.lower())
        ]

    async def _kept_or_fetched(self, interaction: discord.Interaction[Any], job: Job) -> None:
        """Make sure the original is in the working folder: from the store, else downloaded from the gateway again."""
        media = self._engine.media
        try:
            if await media.fetch(job.id, ".mp4") is not None:
                return
        except MediaStoreError as exc:
            log.warning("Job %s: %s; asking the gateway instead", job.id, exc)
        if job.task_id is None:
            raise UserFacingError(replies.show_expired(job.id))
        await interaction.edit_original_response(
            content=replies.show_downloading(job.id).render(member_locale(interaction))
        )
        path = media.working_dir / f"{job.id}.mp4"
        engine = self._engine
        try:
            size = await download_result(
                engine.client, engine.session, job.task_id, job.wire_format, None, path, engine.result_rules
            )
        except GatewayError as exc:
            log.info("Job %s: could not download its result again: %s", job.id, exc)
            if isinstance(exc, GatewayTaskLostError) or exc.status in GONE_STATUSES:
                raise UserFacingError(replies.show_expired(job.id)) from exc
            raise UserFacingError(replies.show_unavailable(job.id)) from exc
        log.info("Job %s: result downloaded again for /video show (%d bytes)", job.id, size)
        try:
            await media.publish(job.id, path)
        except MediaStoreError as exc:
            log.warning("Job %s: %s; the fresh copy stays on this machine only", job.id, exc)
