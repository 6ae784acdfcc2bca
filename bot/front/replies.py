"""Private replies: the confirmation of a new job, and the one place errors are turned into words."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import UserFacingError
from bot.front import render

if TYPE_CHECKING:
    from bot.front.creation import Created
    from bot.services.quotas import QuotaStatus

log = logging.getLogger(__name__)


def confirm_created(created: Created) -> str:
    """What the member is told privately once their job is accepted."""
    job = created.job
    where = created.thread.mention if created.thread is not None else created.status_message.jump_url
    follow = f"Follow it here: {where}"
    if job.private and job.dm_channel_id is not None:
        follow = f"It is private: its status and the video come to your DMs: {where}"
    elif job.private:
        follow = (
            "It is private, and your DMs are closed to me, so its status is right here and the video comes here too "
            "if it is ready within 15 minutes of your command; after that, /video status says where it is."
        )
    return (
        f"Your video is on its way ({render.job_marker(job.id)}). It costs {created.cost:g} credits; "
        f"{credits_left(created.balance)}. {follow}"
    )


def forgotten_text() -> str:
    """What /video forget answers once the member's data on the server is erased."""
    return (
        "Your video history, prompts and defaults on this server are erased, and so are my DMs to you about them and "
        "the video files I kept. Videos posted in channels stay where they are; their Delete button still works. "
        "The credit ledger keeps amounts only."
    )


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
