"""Starting a job from Discord: check, prepare images, persist, post the status message, submit, open a thread."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import discord

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest, Job, JobStatus, NewJob, Orientation
from bot.engine import Engine
from bot.errors import UserFacingError
from bot.front import references, render
from bot.services.jobs import check_image_count

log = logging.getLogger(__name__)

ORIGIN: Final = "discord"
THREAD_ARCHIVE_MINUTES: Final = 1440
THREAD_NAME_CHARS: Final = 90
# How long a delivery waits for this process to finish setting up a job's status message and thread.
SETUP_WAIT_SECONDS: Final = 60.0

_REQUIRED = {
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "read_message_history": "Read Message History",
}


@dataclass(frozen=True, slots=True)
class CreateInput:
    """What a member asked for, from the command, a button or the remix modal."""

    prompt: str
    model: str | None
    orientation: Orientation
    duration: int | None
    hd: bool
    images: Sequence[tuple[str, bytes]]  # (filename, bytes), already downloaded
    parent_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    """A job that was accepted, and where it is shown."""

    job: Job
    status_message: discord.Message
    thread: discord.Thread | None


class Creator:
    """Runs the creation flow; the delivery side asks it whether a job's set-up is still under way here."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._setting_up: dict[str, asyncio.Event] = {}

    async def wait_for_setup(self, job_id: str) -> None:
        """Return once this process is no longer setting up the job's status message and thread."""
        event = self._setting_up.get(job_id)
        if event is not None:
            await asyncio.wait_for(event.wait(), timeout=SETUP_WAIT_SECONDS)

    async def create(
        self,
        wanted: CreateInput,
        *,
        requester: discord.abc.User,
        channel: discord.abc.Messageable,
        guild_id: int,
        permissions: discord.Permissions,
    ) -> Created:
        """Run the whole flow; every refusal is a UserFacingError and leaves nothing behind."""
        jobs = self._engine.jobs
        spec = jobs.model(wanted.model)
        request = jobs.build_request(
            prompt=wanted.prompt,
            model=spec.name,
            orientation=wanted.orientation,
            duration=wanted.duration,
            hd=wanted.hd,
        )
        check_image_count(spec, len(wanted.images))
        _check_permissions(permissions)
        prepared = await references.prepare(wanted.images, spec, wanted.orientation)
        # Stored with the job for its image count; the images themselves are not kept in the database.
        inline = references.as_request_images(prepared, spec, urls=[image.filename for image in prepared])
        channel_id = getattr(channel, "id", None)
        job = await jobs.add(
            NewJob(
                request=dataclasses.replace(request, images=inline),
                origin=ORIGIN,
                requester_id=requester.id,
                guild_id=guild_id,
                channel_id=channel_id,
                parent_job_id=wanted.parent_job_id,
            )
        )
        self._setting_up[job.id] = asyncio.Event()
        try:
            return await self._post_and_send(job, request, spec, prepared, channel=channel, permissions=permissions)
        finally:
            self._setting_up.pop(job.id).set()

    async def _post_and_send(
        self,
        job: Job,
        request: GenerationRequest,
        spec: ModelSpec,
        prepared: list[references.ReferenceImage],
        *,
        channel: discord.abc.Messageable,
        permissions: discord.Permissions,
    ) -> Created:
        store = self._engine.store
        files = [discord.File(io.BytesIO(image.data), filename=image.filename) for image in prepared]
        status_message = await channel.send(
            embed=render.status_embed(job), files=files, allowed_mentions=discord.AllowedMentions.none()
        )
        await store.set_discord_refs(job.id, status_message_id=status_message.id)
        # URL models fetch the images themselves: give them the fresh links of the copies just posted.
        urls = [attachment.url for attachment in status_message.attachments]
        images = references.as_request_images(prepared, spec, urls)
        job = await self._engine.jobs.send(job, dataclasses.replace(request, images=images))
        if job.status is JobStatus.FAILED:
            # Refused at submit: the member is told privately, and the public message goes away.
            await store.mark_delivered(job.id)
            await _delete_quietly(status_message)
            raise UserFacingError(job.error_message or "The video service refused this request.")
        thread = await self._open_thread(status_message, job, permissions)
        if thread is not None:
            await store.set_discord_refs(job.id, thread_id=thread.id)
        refreshed = await store.get(job.id)
        job = refreshed or job
        await _edit_quietly(status_message, render.status_embed(job))
        return Created(job=job, status_message=status_message, thread=thread)

    async def _open_thread(
        self, message: discord.Message, job: Job, permissions: discord.Permissions
    ) -> discord.Thread | None:
        if not isinstance(message.channel, discord.TextChannel):
            return None  # already in a thread, a voice channel's chat or similar: post right there
        if not (permissions.create_public_threads and permissions.send_messages_in_threads):
            return None
        name = f"{job.prompt[:THREAD_NAME_CHARS]} · {job.id}"
        try:
            return await message.create_thread(name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES)
        except discord.HTTPException as exc:
            # A full active-thread cap or a permission overwrite: the job still arrives in the channel.
            log.warning("Job %s: could not open a thread (%s); posting in the channel", job.id, exc)
            return None


def _check_permissions(permissions: discord.Permissions) -> None:
    missing = [label for flag, label in _REQUIRED.items() if not getattr(permissions, flag)]
    if missing:
        raise UserFacingError(
            "I can't post videos in this channel: I am missing the "
            f"{', '.join(missing)} permission{'s' if len(missing) > 1 else ''}. "
            "Ask a server admin to grant them here, or use another channel."
        )


async def _delete_quietly(message: discord.Message) -> None:
    try:
        await message.delete()
    except discord.HTTPException:
        log.warning("Could not delete status message %s", message.id)


async def _edit_quietly(message: discord.Message, embed: discord.Embed) -> None:
    try:
        await message.edit(embed=embed)
    except discord.HTTPException:
        log.warning("Could not update status message %s", message.id)
