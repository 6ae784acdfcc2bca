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

if TYPE_CHECKING:
    from bot.front.creation import Created
    from bot.services.quotas import QuotaStatus

log = logging.getLogger(__name__)


def confirm_created(created: Created, set_aside: Sequence[str] = ()) -> str:
    """What the member is told privately once their job is accepted, with the defaults it could not use."""
    job = created.job
    where = created.thread.mention if created.thread is not None else created.status_message.jump_url
    left = credits_left(created.balance) if created.balance is not None else CREDITS_UNREAD
    if job.private and job.dm_channel_id is not None:
        follow = f"It is private: its status and the video come to your DMs: {where}"
    elif job.private:
        follow = (
            "It is private, and your DMs are closed to me, so its status is right here and the video comes here too "
            "if it is ready within 15 minutes of your command; after that, /video status says where it is."
        )
    elif job.status is JobStatus.WAITING:
        follow = f"Its place in the queue is shown here: {where}"
    else:
        follow = f"Follow it here: {where}"
    if job.status is JobStatus.WAITING:
        accepted = (
            f"The videos in progress here (yours or the server's) are at their limit, so yours waits in the queue "
            f"({render.job_marker(job.id)}) and starts when a slot frees; Cancel on its status message takes it out, "
            f"with its credits back. It costs {created.cost:g} credits, held now; {left}. {follow}"
        )
    else:
        accepted = (
            f"Your video is on its way ({render.job_marker(job.id)}). It costs {created.cost:g} credits; "
            f"{left}. {follow}"
        )
    return "\n".join([accepted, *set_aside])


def forgotten_text() -> str:
    """What /video forget answers once the member's data on the server is erased."""
    return (
        "Your video history, prompts and defaults on this server are erased, and so are my DMs to you about them and "
        "the video files I kept. Videos posted in channels stay where they are; their Delete button still works. "
        "The credit ledger keeps amounts only."
    )


def default_model_set_aside(default: str, used: ModelSpec) -> str:
    """A member's default model that is not offered now."""
    return f"Your default model `{default}` is not available now, so this video uses {used.label} (`{used.name}`)."


def default_orientation_set_aside(default: str, spec: ModelSpec, used: Orientation) -> str:
    """A member's default orientation the model in use does not offer."""
    return f"{spec.label} does not make {default} videos, so this one is {used.value} (your default is kept)."


def default_duration_set_aside(default: int, spec: ModelSpec) -> str:
    """A member's default length the model in use does not offer."""
    return (
        f"{spec.label} does not make {default}-second videos, so this one is {spec.default_duration} seconds, "
        "its own length (your default is kept)."
    )


CREDITS_UNREAD: Final = "what you have left could not be read just now (/video quota shows it)"
SHOW_NOT_YOURS: Final = (
    "Only the person who asked for this video, or a member who may manage messages here (unless it is private), "
    "can show it again."
)
SHOW_CANNOT_POST: Final = "You can't post in this channel, so I can't show a video here for you. Try another channel."
SHOW_BOT_CANNOT_POST: Final = (
    "I can't post in this channel: I need the Send Messages, Attach Files and Embed Links permissions here. "
    "Ask a server admin to grant them, or try another channel."
)


def no_such_job(ref: str) -> str:
    """A job id (or task id) that names no job of this server."""
    return f"There is no job {ref!r} in this server. /video history lists yours."


def show_forgotten(job_id: str) -> str:
    """/video show of a job erased with /video forget."""
    return f"Job `{job_id}` was erased with /video forget, so it can't be shown again."


def show_deleted(job_id: str) -> str:
    """/video show of a job whose video was deleted."""
    return f"The video of job `{job_id}` was deleted, so it can't be shown again."


def show_unfinished(job: Job) -> str:
    """/video show of a job that has no video: still being made, failed or cancelled."""
    if job.status is JobStatus.FAILED:
        return f"Job `{job.id}` failed, so it has no video to show. Start a new one with /video create."
    if job.status is JobStatus.CANCELLED:
        return f"Job `{job.id}` was cancelled, so it has no video to show."
    return f"Job `{job.id}` is still being made; its video is posted in its thread when it is ready."


def show_being_posted(job_id: str) -> str:
    """/video show of a finished job whose first post is under way."""
    return f"The video of job `{job_id}` is being posted right now. Try /video show again in a minute."


def show_expired(job_id: str) -> str:
    """/video show of a job whose video neither the bot nor the video service has any longer."""
    return (
        f"The video of job `{job_id}` has expired: the bot no longer keeps it and the video service no longer has "
        "it. Start a new one with /video create."
    )


def show_unavailable(job_id: str) -> str:
    """/video show when the kept copy is gone and the video service did not answer for a fresh one."""
    return (
        f"The bot no longer keeps the video of job `{job_id}`, and the video service did not answer when I asked "
        "for it again. Try again in a few minutes."
    )


def show_downloading(job_id: str) -> str:
    """Progress of /video show while the video comes from the video service again."""
    return f"Downloading the video of job `{job_id}` again from the video service…"


def show_preparing(job_id: str) -> str:
    """Progress of /video show once the file is here: fitting it to the upload limit and posting."""
    return f"Preparing the video of job `{job_id}` for this channel…"


def show_posted(job_id: str, link: str) -> str:
    """The private answer once /video show has posted the video again."""
    return f"Job `{job_id}` is posted again here: {link}"


def credits_left(status: QuotaStatus) -> str:
    """What the member and their server have left, in a sentence (limits of 0 mean none)."""
    limits, usage = status.limits, status.usage
    bonus = f" and {usage.bonus_balance:g} bonus credits" if usage.bonus_balance else ""
    if limits.user_daily:
        you = f"you have {_left(limits.user_daily, usage.user_today)} of {limits.user_daily:g} left today{bonus}"
    else:
        you = f"you have no daily limit{bonus}"
    pools = [
        f"{_left(cap, used)} of {cap:g} {period}"
        for cap, used, period in (
            (limits.guild_daily, usage.guild_today, "today"),
            (limits.guild_monthly, usage.guild_month, "this month"),
        )
        if cap
    ]
    return f"{you}, the server {' and '.join(pools)}" if pools else you


def _left(cap: float, used: float) -> str:
    return f"{max(0.0, cap - used):g}"


async def report_error(interaction: discord.Interaction[Any], error: Exception) -> None:
    """Tell the member what went wrong, privately; unexpected errors get an id and go to the log in full."""
    if isinstance(error, UserFacingError):
        text = error.user_message
    else:
        error_id = secrets.token_hex(4)
        log.error("Unexpected error %s handling %s", error_id, _describe(interaction), exc_info=error)
        text = (
            f"Something went wrong on our side (error id `{error_id}`). A video is only charged if it is "
            "delivered. Try again; if it keeps happening, give a moderator that id."
        )
    try:
        if interaction.response.is_done():
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
