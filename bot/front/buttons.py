"""Persistent buttons under status messages, results and failures: the job id lives in the custom id, so they
survive restarts."""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.domain import Job, JobStatus
from bot.errors import UserFacingError
from bot.front import render
from bot.front.access import origin_for
from bot.front.creation import CreateInput, requester_of
from bot.front.host import host_of
from bot.front.i18n import locales_of, member_locale
from bot.front.private import reply_of
from bot.front.replies import confirm_created, report_error
from bot.locales import Text, _, translate
from bot.services.jobs import SentMeanwhile

log = logging.getLogger(__name__)

_JOB = r"(?P<job_id>[a-z0-9]{4,16})"


def result_view(job: Job) -> discord.ui.View:
    """Re-roll, Remix and Delete under a finished video, labelled in the job's server language."""
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(job.id, job.post_locale))
    view.add_item(RemixButton(job.id, job.post_locale))
    view.add_item(DeleteButton(job.id, job.post_locale))
    return view


def retry_view(job: Job) -> discord.ui.View:
    """A Retry button under a failure notice."""
    view = discord.ui.View(timeout=None)
    view.add_item(RetryButton(job.id, job.post_locale))
    return view


def cancel_view(job: Job) -> discord.ui.View:
    """A Cancel button under the status message of a job being made."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id, job.post_locale))
    return view


class _JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"reelbot:(?P<action>[a-z]+):{_JOB}"):
    """A button whose custom id is ``reelbot:<action>:<job id>``; only the subclasses are registered."""

    action = ""
    label: Text  # each button's own
    style = discord.ButtonStyle.secondary

    def __init__(self, job_id: str, locale: str | None = None) -> None:
        """The button for ``job_id``, labelled in ``locale``'s language (a pressed one is rebuilt unlabelled)."""
        label = self.label.render(locale)
        super().__init__(discord.ui.Button(label=label, style=self.style, custom_id=f"reelbot:{self.action}:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> _JobButton:
        """Rebuild the button from a pressed custom id."""
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Run the action; any refusal or failure is answered privately."""
        try:
            await self.act(interaction)
        except Exception as exc:
            await report_error(interaction, exc)

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """What pressing the button does."""
        raise NotImplementedError


class RerollButton(_JobButton, template=rf"reelbot:reroll:{_JOB}"):
    """Make another take with the same inputs; the presser becomes the requester."""

    action, label, style = "reroll", _("Re-roll"), discord.ButtonStyle.primary

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """Re-run the job for whoever pressed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await start_again(interaction, self.job_id, prompt=None)


class RetryButton(RerollButton, template=rf"reelbot:retry:{_JOB}"):
    """Try a failed job again with the same inputs."""

    action, label, style = "retry", _("Retry"), discord.ButtonStyle.primary


class RemixButton(_JobButton, template=rf"reelbot:remix:{_JOB}"):
    """Edit the prompt in a form, then make a new job."""

    action, label = "remix", _("Remix")

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """Open the remix form at once; the job is read when the form comes back."""
        await interaction.response.send_modal(RemixModal(self.job_id, member_locale(interaction)))


class DeleteButton(_JobButton, template=rf"reelbot:delete:{_JOB}"):
    """Remove a result: for the requester, and for members who may manage messages."""

    action, label, style = "delete", _("Delete"), discord.ButtonStyle.danger

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """Delete the result message and take the video down.

        A private reply (a private job's result with the member's DMs closed) cannot be deleted with the bot's token,
        only through an interaction's webhook: this press's own, answered as an update of the message it is on, so it
        works however old that message is; what the member is told (a refusal too) comes as a private follow-up.
        """
        pressed = interaction.message
        in_private_reply = _in_private_reply(interaction)
        if in_private_reply:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        bot = host_of(interaction)
        job = await bot.engine.store.get(self.job_id)
        allowed = job is not None and interaction.user.id == job.requester_id
        if not allowed and not interaction.permissions.manage_messages:
            raise UserFacingError(_("Only the person who asked for this video, or a moderator, can delete it."))
        if not allowed and job is not None and job.guild_id != interaction.guild_id:
            raise UserFacingError(_("That video was made on another server; a moderator there can delete it."))
        removed = True
        if in_private_reply:
            removed = await _remove_pressed(interaction)
        elif pressed is not None:
            await pressed.delete()
        # Pressed under a /video show copy, the delivered post goes too.
        files_deleted = job is None or await bot.takedown.take_down(
            job, deleted_message_id=pressed.id if pressed is not None else None
        )
        log.info("Job %s: result deleted by %s", self.job_id, interaction.user.id)
        locale = member_locale(interaction)
        said = render.deleted_text(files_deleted, locale)
        if not in_private_reply:
            await interaction.edit_original_response(content=said)
            return
        if not removed:
            said += "\n" + translate(
                locale,
                "Discord did not let me remove that private message. Only you can see it, and you can remove it "
                'yourself: "Dismiss message", under it.',
            )
        await interaction.followup.send(said, ephemeral=True)


def _in_private_reply(interaction: discord.Interaction[Any]) -> bool:
    """Whether a button was pressed on a private (ephemeral) message."""
    return interaction.message is not None and interaction.message.flags.ephemeral


async def _remove_pressed(interaction: discord.Interaction[Any]) -> bool:
    """Delete the private message a button was pressed on, through the press's webhook; False when Discord will not."""
    try:
        await interaction.delete_original_response()
    except discord.NotFound:
        return True  # dismissed or deleted already
    except discord.HTTPException as exc:
        log.info("Could not delete a private result (%s): the member can dismiss it", exc.status)
        return False
    return True


class CancelButton(_JobButton, template=rf"reelbot:cancel:{_JOB}"):
    """Stop a job being made: for the requester, and for members who may manage messages.

    A job not yet sent (waiting in the queue, or about to be sent) ends at once with its credits back; one the
    provider has started needs a confirmation, since its credits stay spent. That includes a job sent between the
    press and the cancel's write: it is not cancelled then, the member is asked.
    """

    action, label = "cancel", _("Cancel")

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """Cancel, or ask first when the provider has the job already."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await _cancellable(interaction, self.job_id)
        if not job.sent:
            try:
                await _cancel(interaction, job)
                return
            except SentMeanwhile as sent:
                job = sent.job
        view = discord.ui.View(timeout=None)
        locale = member_locale(interaction)
        view.add_item(ConfirmCancelButton(job.id, locale))
        await interaction.edit_original_response(content=render.cancel_sent_text(job, locale), view=view)


class ConfirmCancelButton(_JobButton, template=rf"reelbot:cancelsent:{_JOB}"):
    """Cancel a job the provider has started, knowing its credits stay spent."""

    action, label, style = "cancelsent", _("Cancel anyway"), discord.ButtonStyle.danger

    async def act(self, interaction: discord.Interaction[Any]) -> None:
        """Cancel the job."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await _cancel(interaction, await _cancellable(interaction, self.job_id), spend=True)


async def _cancellable(interaction: discord.Interaction[Any], job_id: str) -> Job:
    """The job, if it can still be cancelled and the presser may; otherwise a refusal saying why."""
    job = await host_of(interaction).engine.store.get(job_id)
    if job is None:
        raise UserFacingError(_("That job no longer exists, so there is nothing to cancel."))
    allowed = interaction.user.id == job.requester_id
    if not allowed and not (interaction.permissions.manage_messages and job.guild_id == interaction.guild_id):
        raise UserFacingError(_("Only the person who asked for this video, or a moderator, can cancel it."))
    if job.status.is_terminal:
        raise UserFacingError(_ended(job))
    return job


async def _cancel(interaction: discord.Interaction[Any], job: Job, *, spend: bool = False) -> None:
    """Cancel for the presser and say what became of the credits; a job that ended first is explained.

    ``spend``: the presser agreed that a job the provider started keeps its credits spent (else SentMeanwhile).
    """
    stored = await host_of(interaction).engine.jobs.cancel(job, interaction.user.id, spend=spend)
    if stored.status is not JobStatus.CANCELLED or stored.cancelled_by != interaction.user.id:
        raise UserFacingError(_ended(stored))
    if stored.sent:
        credits = _("The video provider had started it, so its credits stay spent; nothing will be posted.")
    else:
        credits = _("It was never sent to the video provider, so its credits are back.")
    said = translate(
        member_locale(interaction), "Cancelled job {job_id}. {credits}", job_id=f"`{job.id}`", credits=credits
    )
    await interaction.edit_original_response(content=said)


def _ended(job: Job) -> Text:
    """Why a job that already ended cannot be cancelled."""
    job_id = f"`{job.id}`"
    if job.status is JobStatus.CANCELLED:
        return _("Job {job_id} was already cancelled by {who}.", job_id=job_id, who=f"<@{job.cancelled_by}>")
    if job.status is JobStatus.SUCCEEDED:
        if job.private:
            return _(
                "Job {job_id} finished before it could be cancelled: its video is sent to you privately.",
                job_id=job_id,
            )
        return _(
            "Job {job_id} finished before it could be cancelled: its video is posted in its thread.", job_id=job_id
        )
    return _("Job {job_id} already ended, so there is nothing to cancel.", job_id=job_id)


class RemixModal(discord.ui.Modal):
    """The remix form: a new prompt. It opens before the database is read (Discord waits 3 seconds at most), so
    the old prompt is not in it; the status message above the video shows it."""

    def __init__(self, job_id: str, locale: str | None = None) -> None:
        # A dismissed form is forgotten after 15 minutes, like its interaction.
        super().__init__(title=translate(locale, "Remix this video"), timeout=900)
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=translate(locale, "New prompt"),
            style=discord.TextStyle.paragraph,
            placeholder=translate(locale, "What the new take should show (the old prompt is on the status message)"),
            max_length=2000,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Start the remixed job."""
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await start_again(interaction, self.job_id, prompt=self.prompt.value)
        except Exception as exc:
            await report_error(interaction, exc)


async def start_again(interaction: discord.Interaction[Any], job_id: str, *, prompt: str | None) -> None:
    """A new job from an old one's inputs (and images), posted where the old one started, if the presser may."""
    bot = host_of(interaction)
    job = await bot.engine.store.get(job_id)
    if job is None:
        raise UserFacingError(_("That job no longer exists. Start a new one with /video create."))
    origin = await origin_for(interaction, job)
    spec, note = bot.engine.models.stand_in(job.model)
    images, last_frame = await bot.reference_images(job)
    orientation = job.orientation if job.orientation in spec.sizes else spec.orientations[0]
    wanted = CreateInput(
        prompt=prompt if prompt is not None else job.prompt,
        model=spec.name,
        orientation=orientation,
        duration=job.duration if job.duration in spec.durations else spec.default_duration,
        hd=job.hd and orientation in spec.hd_orientations,
        images=images[: spec.max_images],
        last_frame=last_frame if spec.takes_last_frame else None,
        parent_job_id=job.id,
        private=job.private,  # a take of a private video stays private
    )
    created = await bot.creator.create(
        wanted,
        requester=origin.member,
        who=requester_of(origin.member, origin.channel, origin.guild.id),
        channel=origin.channel,
        permissions=origin.channel.permissions_for(origin.guild.me),
        reply=reply_of(interaction),
        locales=locales_of(interaction),
    )
    locale = member_locale(interaction)
    confirmation = confirm_created(created, locale)
    said = f"{note.render(locale)}\n{confirmation}" if note else confirmation
    await interaction.edit_original_response(content=said)
