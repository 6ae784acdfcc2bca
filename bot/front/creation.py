"""Starting a job from Discord: check, prepare images, persist, post the status message (with Cancel), then submit
and open a thread, or, for a job that waits in the queue, open the thread at once and submit when the queue starts it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import discord

from bot.catalog import ModelSpec
from bot.domain import ErrorKind, GenerationRequest, ImageTransport, Job, JobStatus, NewJob, Orientation, PrivateReply
from bot.engine import Engine
from bot.errors import UserFacingError
from bot.front import private, references, render
from bot.front.audit import AuditLog
from bot.front.i18n import Locales
from bot.front.memory_budget import MemoryBudget
from bot.locales import _, _n
from bot.services.creation import Ask
from bot.services.moderation import ModerationRefusal, Requester
from bot.services.quotas import QuotaRefusal, QuotaStatus

log = logging.getLogger(__name__)

ORIGIN: Final = "discord"
THREAD_ARCHIVE_MINUTES: Final = 1440
THREAD_NAME_CHARS: Final = 100  # Discord's limit for a thread name
LAST_FRAME_STEM: Final = "last-frame"  # the last frame's file on the status message, beside reference-N.jpg

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
    last_frame: tuple[str, bytes] | None = None  # the picture the video ends on, for models that take one
    parent_job_id: str | None = None
    private: bool = False  # shown to the member alone: status and result by DM or private reply (bot.front.private)
    private_by_default: bool = False  # private because the member's /video settings say so


@dataclass(frozen=True, slots=True)
class Created:
    """A job that was accepted, and where it is shown."""

    job: Job
    status_message: discord.Message
    thread: discord.Thread | None
    cost: float
    balance: QuotaStatus | None
    """The member's and the server's credits once this job's are held; None when they could not be read."""


class Creator:
    """Runs the creation flow, and stores when a job is shown (status message, thread) for the process delivering it."""

    def __init__(
        self,
        engine: Engine,
        client: discord.Client,
        audit: AuditLog,
        running_view: Callable[[Job], discord.ui.View],
    ) -> None:
        self._engine = engine
        self._client = client
        self._audit = audit
        self._running_view = running_view  # the buttons under an unfinished job's status message (Cancel)
        self._decodes = MemoryBudget(engine.settings.image_decode_memory_mb * 1024 * 1024)

    async def create(
        self,
        wanted: CreateInput,
        *,
        requester: discord.abc.User,
        who: Requester,
        channel: discord.abc.Messageable,
        permissions: discord.Permissions,
        locales: Locales,
        reply: PrivateReply | None = None,
    ) -> Created:
        """Run the whole flow; every refusal is a UserFacingError and leaves nothing behind.

        ``reply`` is the member's interaction, where a private job's status and result go if their DMs are closed.
        The job keeps ``locales``: its public posts are in the server's language, its private notes in the member's.
        """
        if wanted.private:
            private.check_allowed(await self._engine.guilds.config(who.guild_id), by_default=wanted.private_by_default)
        else:
            _check_permissions(permissions)  # a private job posts nothing in the channel
        creation = self._engine.creation
        ask = Ask(
            prompt=wanted.prompt,
            model=wanted.model,
            orientation=wanted.orientation,
            duration=wanted.duration,
            hd=wanted.hd,
            attached_images=len(wanted.images),
            attached_last_frame=wanted.last_frame is not None,
        )
        try:
            checked = await creation.check(ask, who)
        except ModerationRefusal as refusal:
            self._audit.refused(who.guild_id, who.user_id, refusal.reason, wanted.prompt.strip())
            raise
        spec, request = checked.spec, checked.request
        prepared = await references.prepare(wanted.images, spec, wanted.orientation, self._decodes)
        last = wanted.last_frame
        ending = (
            await references.prepare([last], spec, wanted.orientation, self._decodes, stem=LAST_FRAME_STEM)
            if last
            else []
        )
        # Stored with the job for its image count; the images themselves are not kept in the database.
        inline = references.as_request_images(prepared, spec, urls=[image.filename for image in prepared])
        stored = dataclasses.replace(request, images=inline, last_frame=ending[0].filename if ending else None)
        new = NewJob(
            request=stored,
            origin=ORIGIN,
            requester_id=requester.id,
            guild_id=who.guild_id,
            channel_id=getattr(channel, "id", None),
            parent_job_id=wanted.parent_job_id,
            private=wanted.private,
            locale=locales.server,
            member_locale=locales.member,
        )
        try:
            job = await creation.reserve(checked, new)
        except QuotaRefusal as refusal:
            self._audit.refused(who.guild_id, who.user_id, refusal.reason, request.prompt)
            raise
        try:
            if job.private and reply is not None:
                await self._engine.store.save_private_reply(job.id, reply)  # for whichever process delivers it
            job, status_message, thread = await self._post_and_send(
                job, request, spec, prepared, ending, channel=channel, permissions=permissions, reply=reply
            )
        finally:
            # Any process may deliver the job (or start it from the queue); until this is stored, a delivery (and the
            # queue) waits, at most SETUP_WAIT_SECONDS.
            await self._engine.store.mark_set_up(job.id)
        if job.status is JobStatus.WAITING:
            self._engine.jobs.queue_changed()  # its place in the queue is shown at once
        try:
            balance: QuotaStatus | None = await self._engine.quotas.status(who.guild_id, who.user_id, who.role_ids)
        except Exception:  # the job is accepted and under way: that is what the member must hear
            log.warning("Job %s: accepted; the credits left could not be read for the member", job.id, exc_info=True)
            balance = None
        return Created(job=job, status_message=status_message, thread=thread, cost=checked.cost, balance=balance)

    async def _post_and_send(
        self,
        job: Job,
        request: GenerationRequest,
        spec: ModelSpec,
        prepared: list[references.ReferenceImage],
        ending: list[references.ReferenceImage],
        *,
        channel: discord.abc.Messageable,
        permissions: discord.Permissions,
        reply: PrivateReply | None,
    ) -> tuple[Job, discord.Message, discord.Thread | None]:
        store = self._engine.store
        files = [discord.File(io.BytesIO(image.data), filename=image.filename) for image in [*prepared, *ending]]
        fields: dict[str, Any] = {
            "embed": render.status_embed(job),
            "files": files,
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        try:
            # Cancel is there from the start: a job can be cancelled while it waits or is being sent.
            fields["view"] = self._running_view(job)
            if job.private:  # where the status message goes: the member's DMs or private reply, or the channel
                status_message = await private.post_status(self._client, store, job, reply, **fields)
            else:
                status_message = await channel.send(**fields)
        except discord.HTTPException as exc:
            # Nothing was sent to the gateway: end the job (its credits are refunded) and say so.
            log.warning("Job %s: could not post its status message: %s", job.id, exc)
            await self._engine.creation.abandon(job, _("Discord did not accept the status message."))
            if exc.status == 413 or exc.code == 40005:
                raise UserFacingError(
                    _(
                        "Your images are too large for this server's upload limit, so nothing was started and "
                        "nothing was charged. Use smaller images."
                    )
                ) from exc
            if job.private:
                raise UserFacingError(render.private_unreachable_text()) from exc
            raise UserFacingError(
                _(
                    "I could not post in this channel, so nothing was started and nothing was charged. Check my "
                    "permissions here, or try another channel."
                )
            ) from exc
        await store.set_discord_refs(job.id, status_message_id=status_message.id)
        if job.status is JobStatus.WAITING:
            self._audit.submitted(job, status_message.jump_url)
            return job, status_message, await self._open_thread_of(status_message, job, permissions)
        # URL models fetch the images themselves: give them the fresh links of the copies just posted, in order.
        urls = [attachment.url for attachment in status_message.attachments]
        request = _with_images(request, spec, prepared, ending, urls)
        started = await self._engine.creation.start(job, request, refusal_told=True)
        job = started.job
        if started.refused:
            # Refused at submit: the member is told privately, and the public message goes away.
            await _delete_quietly(status_message)
            kind = job.error_kind or ErrorKind.GENERATION_FAILED
            assert job.guild_id is not None and job.requester_id is not None
            self._audit.refused(job.guild_id, job.requester_id, f"the video service refused it ({kind})", job.prompt)
            if started.pause_notice is not None:
                await self._announce(started.pause_notice)
            raise UserFacingError(job.error_text or _("The video service refused this request."))
        thread = await self._open_thread_of(status_message, job, permissions)
        refreshed = await store.get(job.id)
        job = refreshed or job
        await _edit_quietly(status_message, render.status_embed(job), self._running_view(job))
        self._audit.submitted(job, status_message.jump_url)
        return job, status_message, thread

    async def start_waiting(self, job: Job) -> Job:
        """Send a job the wait queue just started (it is SUBMITTING, claimed by this process), and show it running.

        Its images are the copies on its status message (fresh links, or their bytes for models that take them
        inline). A refusal ends it with its credits back, and its delivery tells the member in its thread.
        """
        spec = self._engine.models.named(job.model)
        message = await self._status_message(job)
        files = reference_files(message) if message is not None else []
        if len(files) != job.image_count + int(job.has_last_frame):
            log.warning("Job %s: its status message (with its images) is gone; not starting it", job.id)
            return await self._engine.creation.abandon(job, _("Its status message, which held its images, is gone."))
        blobs = (
            await references.read_attachments(files)
            if spec.image_transport is ImageTransport.DATA_URI
            else [b""] * len(files)
        )
        copies = [references.ReferenceImage(a.filename, blob) for a, blob in zip(files, blobs, strict=True)]
        images = [copy for copy in copies if not copy.filename.startswith(LAST_FRAME_STEM)]
        ending = [copy for copy in copies if copy.filename.startswith(LAST_FRAME_STEM)]
        request = GenerationRequest(
            prompt=job.prompt, model=job.model, orientation=job.orientation, duration=job.duration, hd=job.hd
        )
        urls = [a.url for a in files if not a.filename.startswith(LAST_FRAME_STEM)]
        urls += [a.url for a in files if a.filename.startswith(LAST_FRAME_STEM)]
        started = await self._engine.creation.start(job, _with_images(request, spec, images, ending, urls))
        if started.pause_notice is not None:
            await self._announce(started.pause_notice)
        if not started.refused and message is not None:
            shown = await self._engine.store.get(job.id) or started.job
            await _edit_quietly(message, render.status_embed(shown), self._running_view(job))
        return started.job

    async def _status_message(self, job: Job) -> discord.Message | None:
        if job.channel_id is None or job.status_message_id is None:
            return None
        try:
            return await self._client.get_partial_messageable(job.channel_id).fetch_message(job.status_message_id)
        except discord.HTTPException as exc:
            log.warning("Job %s: could not read its status message: %s", job.id, exc)
            return None

    async def _open_thread_of(
        self, message: discord.Message, job: Job, permissions: discord.Permissions
    ) -> discord.Thread | None:
        """Open the job's thread under its status message, and remember it (a private job has none)."""
        thread = None if job.private else await self._open_thread(message, job, permissions)
        if thread is not None:
            await self._engine.store.set_discord_refs(job.id, thread_id=thread.id)
        return thread

    async def _announce(self, text: str) -> None:
        """Tell the owners (by DM) and every audit log, once."""
        log.error("%s", text)
        for owner_id in self._engine.settings.owner_ids:
            try:
                owner = self._client.get_user(owner_id) or await self._client.fetch_user(owner_id)
                await owner.send(text)
            except discord.HTTPException as exc:
                log.warning("Could not tell owner %s: %s", owner_id, exc)
        await self._audit.notice_everywhere(text)

    async def _open_thread(
        self, message: discord.Message, job: Job, permissions: discord.Permissions
    ) -> discord.Thread | None:
        if not isinstance(message.channel, discord.TextChannel):
            return None  # already in a thread, a voice channel's chat or similar: post right there
        if not (permissions.create_public_threads and permissions.send_messages_in_threads):
            return None
        suffix = f" · {job.id}"  # the prompt's own words: the name needs no translation
        name = " ".join(job.prompt.split())[: THREAD_NAME_CHARS - len(suffix)] + suffix
        try:
            return await message.create_thread(name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES)
        except discord.HTTPException as exc:
            # A full active-thread cap or a permission overwrite: the job still arrives in the channel.
            log.warning("Job %s: could not open a thread (%s); posting in the channel", job.id, exc)
            return None


def reference_files(message: discord.Message) -> list[discord.Attachment]:
    """The copies of a job's reference images and last frame on its status message, in order."""
    return [a for a in message.attachments if a.filename.startswith(("reference-", LAST_FRAME_STEM))]


def _with_images(
    request: GenerationRequest,
    spec: ModelSpec,
    prepared: Sequence[references.ReferenceImage],
    ending: Sequence[references.ReferenceImage],
    urls: Sequence[str],
) -> GenerationRequest:
    """The request as sent: its images (then its last frame) as the model takes them, inline or by the links of
    the copies on the status message (``urls``, in the same order)."""
    sent = references.as_request_images([*prepared, *ending], spec, urls)
    images, last_frame = sent[: len(prepared)], sent[len(prepared) :]
    return dataclasses.replace(request, images=images, last_frame=last_frame[0] if last_frame else None)


def _check_permissions(permissions: discord.Permissions) -> None:
    missing = [label for flag, label in _REQUIRED.items() if not getattr(permissions, flag)]
    if missing:
        raise UserFacingError(
            _n(
                "I can't post videos in this channel: I am missing the {missing} permission. Ask a server admin to "
                "grant it here, or use another channel.",
                "I can't post videos in this channel: I am missing the {missing} permissions. Ask a server admin to "
                "grant them here, or use another channel.",
                len(missing),
                missing=", ".join(missing),
            )
        )


async def _delete_quietly(message: discord.Message) -> None:
    try:
        await message.delete()
    except discord.HTTPException:
        log.warning("Could not delete status message %s", message.id)


async def _edit_quietly(message: discord.Message, embed: discord.Embed, view: discord.ui.View) -> None:
    try:
        await message.edit(embed=embed, view=view)
    except discord.HTTPException:
        log.warning("Could not update status message %s", message.id)


def requester_of(member: discord.abc.User, channel: object, guild_id: int) -> Requester:
    """The moderation view of a member in a channel (a thread counts as its parent channel)."""
    parent: int | None = getattr(channel, "parent_id", None)
    roles = frozenset(role.id for role in getattr(member, "roles", ()))
    permissions = getattr(member, "guild_permissions", None)
    channel_id = int(parent or getattr(channel, "id", None) or 0)
    return Requester(
        guild_id=guild_id,
        user_id=member.id,
        channel_id=channel_id,
        role_ids=roles,
        is_admin=bool(permissions and permissions.manage_guild),
    )
