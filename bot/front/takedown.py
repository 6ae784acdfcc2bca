"""Taking a video down (Delete, /video-purge): its post, its files, its links, and its prompt in public.

Never half done: the takedown is recorded first (``result_deleted_at``: the media server refuses the job's links
and every status shows it deleted), then the status message and thread are cleared, then the files deleted. Files
the store cannot delete now (the bucket not answering, or refusing) are left to housekeeping, which deletes the
files of every job taken down on each sweep, after a restart too; the moderator is told that they will follow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import discord

from bot.domain import Job
from bot.front import private, render
from bot.media.store import MediaStore, MediaStoreError
from bot.storage import JobStore
from bot.storage.guilds import GuildStore

log = logging.getLogger(__name__)

UNKNOWN_MESSAGE: Final = 10008


@dataclass(frozen=True, slots=True)
class Purged:
    """What /video-purge took down: how many videos, and of how many the stored files are still to be deleted."""

    deleted: int = 0
    files_left: int = 0


class Takedown:
    """Deletes what a job put out: the result post, the files (so its links stop working), the prompt shown."""

    def __init__(self, client: discord.Client, store: JobStore, guilds: GuildStore, media: MediaStore) -> None:
        self._client = client
        self._store = store
        self._guilds = guilds
        self._media = media

    async def take_down(self, job: Job, *, deleted_message_id: int | None = None) -> bool:
        """Once a post of the result is gone (``deleted_message_id``: the delivered post, or a copy /video show
        made): delete the delivered post and every copy too, record it, hide the prompt on the status and thread,
        delete the files.

        Returns whether the files are all gone; when the store failed, housekeeping deletes them later.
        """
        await self._delete_result_post(job, deleted_message_id)
        copies = await self._store.shown_copies(job.id)
        gone = await delete_posts(self._client, [post for post in copies if post[1] != deleted_message_id])
        # One Discord would not delete now stays on record: Delete pressed on it, or /video-purge, tries again.
        await self._store.drop_shown_copies([m for _, m in copies if m in gone or m == deleted_message_id])
        await self._store.mark_result_deleted(job.id)
        job = await self._store.get(job.id) or job
        await self._hide_status(job)
        await self._rename_thread(job)
        try:
            await self._media.remove_job(job.id)
        except MediaStoreError as exc:
            log.warning("Job %s: taken down, but its files are left for housekeeping to delete: %s", job.id, exc)
            return False
        log.info("Job %s: taken down", job.id)
        return True

    async def purge(self, guild_id: int, user_id: int) -> Purged:
        """Take down every posted result of a member on a server."""
        deleted = files_left = 0
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
            if job is not None and not await self.take_down(job, deleted_message_id=message_id):
                files_left += 1
            deleted += 1
        return Purged(deleted, files_left)

    async def _delete_result_post(self, job: Job, deleted_message_id: int | None) -> None:
        """Delete the delivered post unless it is the one already deleted (one gone already counts as deleted)."""
        where = job.result_channel_id or job.thread_id or job.channel_id
        if job.result_message_id is None or job.result_message_id == deleted_message_id or where is None:
            return
        try:
            await self._client.get_partial_messageable(where).get_partial_message(job.result_message_id).delete()
        except discord.NotFound:
            return
        except discord.HTTPException as exc:
            log.warning("Job %s: could not delete its delivered post (%s)", job.id, exc)

    async def _hide_status(self, job: Job) -> None:
        if job.status_message_id is None or job.channel_id is None:
            return
        try:
            edit = await private.status_edit(self._client, self._store, job)
            if edit is None:
                return  # a private reply past its 15 minutes: Discord has removed it from view anyway
            # No attachments: the reference images go too.
            await edit(embed=render.status_embed(job), attachments=[], view=None)
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


async def delete_posts(client: discord.Client, posts: list[tuple[int, int]]) -> set[int]:
    """Delete the bot's messages, given as (channel id, message id): its posts in a member's DMs, /video show copies.
    Returns the ids of those that are gone (one deleted already counts); one Discord will not delete now is logged,
    and the rest still go."""
    gone: set[int] = set()
    for channel_id, message_id in posts:
        try:
            await client.get_partial_messageable(channel_id).get_partial_message(message_id).delete()
        except discord.NotFound:
            pass  # deleted already (by the member, a moderator, or an earlier /video forget)
        except discord.HTTPException as exc:
            log.warning("Could not delete post %s: %s", message_id, exc)
            continue
        gone.add(message_id)
    return gone
