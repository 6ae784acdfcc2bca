"""Private replies: the confirmation of a new job, and the one place errors are turned into words."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import discord

from bot.catalog import ModelSpec
from bot.domain import Job, JobStatus, Orientation
from bot.errors import UserFacingError
from bot.front import render
from bot.front.i18n import member_locale
from bot.locales import Text, _, translate

if TYPE_CHECKING:
    from bot.front.creation import Created
    from bot.services.quotas import QuotaStatus

log = logging.getLogger(__name__)


def confirm_created(created: Created, locale: str | None, set_aside: Sequence[Text] = ()) -> str:
    """What the member is told privately once their job is accepted, with the defaults it could not use."""
    job = created.job
    where = created.thread.mention if created.thread is not None else created.status_message.jump_url
    left = credits_left(created.balance, locale) if created.balance is not None else CREDITS_UNREAD.render(locale)
    if job.private and job.dm_channel_id is not None:
        follow = _("It is private: its status and the video come to your DMs: {where}", where=where)
    elif job.private:
        follow = _(
            "It is private, and your DMs are closed to me, so its status is right here and the video comes here too "
            "if it is ready within 15 minutes of your command; after that, /video status says where it is."
        )
    elif job.status is JobStatus.WAITING:
        follow = _("Its place in the queue is shown here: {where}", where=where)
    else:
        follow = _("Follow it here: {where}", where=where)
    fields = {"job": render.job_marker(job.id), "cost": f"{created.cost:g}", "balance": left, "follow": follow}
    if job.status is JobStatus.WAITING:
        accepted = translate(
            locale,
            "The videos in progress here (yours or the server's) are at their limit, so yours waits in the queue "
            "({job}) and starts when a slot frees; Cancel on its status message takes it out, with its credits back. "
            "It costs {cost} credits, held now; {balance}. {follow}",
            **fields,
        )
    else:
        accepted = translate(
            locale, "Your video is on its way ({job}). It costs {cost} credits; {balance}. {follow}", **fields
        )
    return "\n".join([accepted, *(note.render(locale) for note in set_aside)])


def forgotten_text(locale: str | None) -> str:
    """What /video forget answers once the member's data on the server is erased."""
    return translate(
        locale,
        "Your video history, prompts and defaults on this server are erased, and so are my DMs to you about them and "
        "the video files I kept. Videos posted in channels stay where they are; their Delete button still works. "
        "The credit ledger keeps amounts only.",
    )


def default_model_set_aside(default: str, used: ModelSpec) -> Text:
    """A member's default model that is not offered now."""
    return _(
        "Your default model {default} is not available now, so this video uses {label} ({name}).",
        default=f"`{default}`",
        label=used.label,
        name=f"`{used.name}`",
    )


def default_orientation_set_aside(default: str, spec: ModelSpec, used: Orientation) -> Text:
    """A member's default orientation the model in use does not offer."""
    return _(
        "{label} does not make {default} videos, so this one is {used} (your default is kept).",
        label=spec.label,
        default=render.orientation_name(default),
        used=render.orientation_name(used.value),
    )


def default_duration_set_aside(default: int, spec: ModelSpec) -> Text:
    """A member's default length the model in use does not offer."""
    return _(
        "{label} does not make {default}-second videos, so this one is {length} seconds, its own length (your "
        "default is kept).",
        label=spec.label,
        default=default,
        length=spec.default_duration,
    )


CREDITS_UNREAD: Final = _("what you have left could not be read just now (/video quota shows it)")
SHOW_NOT_YOURS: Final = _(
    "Only the person who asked for this video, or a member who may manage messages here (unless it is private), "
    "can show it again."
)
SHOW_CANNOT_POST: Final = _(
    "You can't post in this channel, so I can't show a video here for you. Try another channel."
)
SHOW_BOT_CANNOT_POST: Final = _(
    "I can't post in this channel: I need the Send Messages, Attach Files and Embed Links permissions here. "
    "Ask a server admin to grant them, or try another channel."
)


def no_such_job(ref: str) -> Text:
    """A job id (or task id) that names no job of this server."""
    return _("There is no job {job} in this server. /video history lists yours.", job=repr(ref))


def show_forgotten(job_id: str) -> Text:
    """/video show of a job erased with /video forget."""
    return _("Job {job_id} was erased with /video forget, so it can't be shown again.", job_id=f"`{job_id}`")


def show_deleted(job_id: str) -> Text:
    """/video show of a job whose video was deleted."""
    return _("The video of job {job_id} was deleted, so it can't be shown again.", job_id=f"`{job_id}`")


def show_unfinished(job: Job) -> Text:
    """/video show of a job that has no video: still being made, failed or cancelled."""
    job_id = f"`{job.id}`"
    if job.status is JobStatus.FAILED:
        return _("Job {job_id} failed, so it has no video to show. Start a new one with /video create.", job_id=job_id)
    if job.status is JobStatus.CANCELLED:
        return _("Job {job_id} was cancelled, so it has no video to show.", job_id=job_id)
    return _("Job {job_id} is still being made; its video is posted in its thread when it is ready.", job_id=job_id)


def show_being_posted(job_id: str) -> Text:
    """/video show of a finished job whose first post is under way."""
    return _(
        "The video of job {job_id} is being posted right now. Try /video show again in a minute.", job_id=f"`{job_id}`"
    )


def show_expired(job_id: str) -> Text:
    """/video show of a job whose video neither the bot nor the video service has any longer."""
    return _(
        "The video of job {job_id} has expired: the bot no longer keeps it and the video service no longer has "
        "it. Start a new one with /video create.",
        job_id=f"`{job_id}`",
    )


def show_unavailable(job_id: str) -> Text:
    """/video show when the kept copy is gone and the video service did not answer for a fresh one."""
    return _(
        "The bot no longer keeps the video of job {job_id}, and the video service did not answer when I asked "
        "for it again. Try again in a few minutes.",
        job_id=f"`{job_id}`",
    )


def show_downloading(job_id: str) -> Text:
    """Progress of /video show while the video comes from the video service again."""
    return _("Downloading the video of job {job_id} again from the video service…", job_id=f"`{job_id}`")


def show_preparing(job_id: str) -> Text:
    """Progress of /video show once the file is here: fitting it to the upload limit and posting."""
    return _("Preparing the video of job {job_id} for this channel…", job_id=f"`{job_id}`")


def show_posted(job_id: str, link: str) -> Text:
    """The private answer once /video show has posted the video again."""
    return _("Job {job_id} is posted again here: {link}", job_id=f"`{job_id}`", link=link)


def credits_left(status: QuotaStatus, locale: str | None) -> str:
    """What the member and their server have left, in a sentence (limits of 0 mean none)."""
    limits, usage = status.limits, status.usage
    if limits.user_daily:
        left = _left(limits.user_daily, usage.user_today)
        cap = f"{limits.user_daily:g}"
        if usage.bonus_balance:
            you = translate(
                locale,
                "you have {left} of {cap} left today and {bonus} bonus credits",
                left=left,
                cap=cap,
                bonus=f"{usage.bonus_balance:g}",
            )
        else:
            you = translate(locale, "you have {left} of {cap} left today", left=left, cap=cap)
    elif usage.bonus_balance:
        you = translate(locale, "you have no daily limit and {bonus} bonus credits", bonus=f"{usage.bonus_balance:g}")
    else:
        you = translate(locale, "you have no daily limit")
    today, month = limits.guild_daily, limits.guild_monthly
    if today and month:
        server = translate(
            locale,
            "the server {today_left} of {today_cap} today and {month_left} of {month_cap} this month",
            today_left=_left(today, usage.guild_today),
            today_cap=f"{today:g}",
            month_left=_left(month, usage.guild_month),
            month_cap=f"{month:g}",
        )
    elif today:
        server = translate(
            locale, "the server {left} of {cap} today", left=_left(today, usage.guild_today), cap=f"{today:g}"
        )
    elif month:
        server = translate(
            locale, "the server {left} of {cap} this month", left=_left(month, usage.guild_month), cap=f"{month:g}"
        )
    else:
        return you
    return f"{you}, {server}"


def _left(cap: float, used: float) -> str:
    return f"{max(0.0, cap - used):g}"


async def report_error(interaction: discord.Interaction[Any], error: Exception) -> None:
    """Tell the member what went wrong, privately; unexpected errors get an id and go to the log in full.

    A press answered as an update of the message it is on (a menu, a button in a private reply) leaves that message
    as it is: what went wrong comes beside it, as a private follow-up.
    """
    locale = member_locale(interaction)
    if isinstance(error, UserFacingError):
        text = error.text.render(locale)
    else:
        error_id = secrets.token_hex(4)
        log.error("Unexpected error %s handling %s", error_id, _describe(interaction), exc_info=error)
        text = translate(
            locale,
            "Something went wrong on our side (error id {error_id}). A video is only charged if it is delivered. "
            "Try again; if it keeps happening, give a moderator that id.",
            error_id=f"`{error_id}`",
        )
    try:
        if interaction.response.type is discord.InteractionResponseType.deferred_message_update:
            await interaction.followup.send(text, ephemeral=True)
        elif interaction.response.is_done():
            await interaction.edit_original_response(content=text, embed=None, view=None)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as exc:
        # The interaction may have expired (15 minutes) or been answered elsewhere; the log keeps the story.
        log.warning("Could not tell %s about an error: %s", _describe(interaction), exc)


def _describe(interaction: discord.Interaction[Any]) -> str:
    name = interaction.command.qualified_name if interaction.command is not None else "a component"
    return (
        f"/{name} for user {interaction.user.id}"
        if interaction.command is not None
        else f"{name} for {interaction.user.id}"
    )
