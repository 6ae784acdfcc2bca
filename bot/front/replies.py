"""Private replies: the confirmation of a new job, and the one place errors are turned into words."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import UserFacingError
from bot.front import render
from bot.front.i18n import member_locale
from bot.locales import translate

if TYPE_CHECKING:
    from bot.front.creation import Created
    from bot.services.quotas import QuotaStatus

log = logging.getLogger(__name__)


def confirm_created(created: Created, locale: str | None) -> str:
    """What the member is told privately once their job is accepted."""
    job = created.job
    where = created.thread.mention if created.thread is not None else created.status_message.jump_url
    return translate(
        locale,
        "Your video is on its way ({job}). It costs {cost} credits; {balance}. Follow it here: {where}",
        job=render.job_marker(job.id),
        cost=f"{created.cost:g}",
        balance=credits_left(created.balance, locale),
        where=where,
    )


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
    """Tell the member what went wrong, privately; unexpected errors get an id and go to the log in full."""
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
