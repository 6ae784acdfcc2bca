"""Embeds for /video-admin: limits, access lists, blocked words and the usage report."""

from __future__ import annotations

from typing import Final

import discord

from bot.locales import Text, _, translate, translate_plural
from bot.services.periods import Periods
from bot.services.quotas import Limits
from bot.storage.guilds import GuildConfig, ListKind, Report

COLOUR: Final = discord.Colour.dark_teal()
ACCESS_LISTS: Final = (
    ListKind.ALLOWED_CHANNEL,
    ListKind.ALLOWED_ROLE,
    ListKind.BLOCKED_USER,
    ListKind.DISABLED_MODEL,
)
_MENTION: Final = {ListKind.ALLOWED_CHANNEL: "<#{}>", ListKind.ALLOWED_ROLE: "<@&{}>", ListKind.BLOCKED_USER: "<@{}>"}
_EMPTY: Final = {
    ListKind.ALLOWED_CHANNEL: _("none listed: any channel"),
    ListKind.ALLOWED_ROLE: _("none listed: every member"),
    ListKind.BLOCKED_USER: _("nobody"),
    ListKind.DISABLED_MODEL: _("none: every model is on"),
}
_TITLES: Final = {
    ListKind.ALLOWED_CHANNEL: _("Allowed channels"),
    ListKind.ALLOWED_ROLE: _("Allowed roles"),
    ListKind.BLOCKED_USER: _("Blocked members"),
    ListKind.DISABLED_MODEL: _("Disabled models"),
}


def limits_embed(
    defaults: Limits, config: GuildConfig, role_caps: dict[int, float], locale: str | None
) -> discord.Embed:
    """Each limit with where it comes from, and the role caps."""
    embed = discord.Embed(title=translate(locale, "Limits on this server"), colour=COLOUR)
    credits, seconds, count = _("{value} credits"), _("{value} seconds"), None
    rows = (
        (_("Per member per day"), config.user_daily_credits, defaults.user_daily, credits),
        (_("Server per day"), config.guild_daily_credits, defaults.guild_daily, credits),
        (_("Server per month"), config.guild_monthly_credits, defaults.guild_monthly, credits),
        (_("Videos in progress per member"), config.max_jobs_per_user, defaults.max_jobs_user, count),
        (_("Videos in progress on the server"), config.max_jobs_per_guild, defaults.max_jobs_guild, count),
        (_("Cooldown between videos"), config.cooldown_seconds, defaults.cooldown_seconds, seconds),
    )
    queue = (_("Videos that may wait for a slot (3 per member)"), config.queue_max, defaults.queue_max, count)
    for name, own, default, unit in (*rows, queue):
        value = own if own is not None else default
        if not value:
            unset = _("none: over a limit, a video is refused") if name is queue[0] else _("no limit")
            shown = unset.render(locale)
        else:
            shown = f"{value:g}" if unit is None else Text(unit.msgid, fields={"value": f"{value:g}"}).render(locale)
        where = translate(locale, "this server") if own is not None else translate(locale, "default")
        embed.add_field(name=name.render(locale), value=f"{shown} ({where})")
    caps = "\n".join(
        f"<@&{role}>: "
        + (translate(locale, "unlimited") if cap == 0 else translate(locale, "{value} a day", value=f"{cap:g}"))
        for role, cap in role_caps.items()
    )
    embed.add_field(
        name=translate(locale, "Role caps (the most generous applies)"),
        value=caps or translate(locale, "none"),
        inline=False,
    )
    if config.paused:
        embed.add_field(
            name=translate(locale, "Paused"), value=config.pause_reason or translate(locale, "yes"), inline=False
        )
    log_channel = f"<#{config.log_channel_id}>" if config.log_channel_id else translate(locale, "off")
    embed.add_field(name=translate(locale, "Audit log"), value=log_channel)
    private_videos = translate(locale, "allowed") if config.private_allowed else translate(locale, "denied")
    embed.add_field(name=translate(locale, "Private videos"), value=private_videos)
    return embed


def private_setting_text(allowed: bool) -> Text:
    """The answer to /video-admin server private."""
    if allowed:
        return _(
            "Private videos are allowed here: their status and video go to the member alone, by DM, and the audit "
            "log still records each one with its prompt."
        )
    return _(
        "Private videos are denied here: /video create with private: True, or a private default in /video settings, "
        "is refused, saying why."
    )


def access_embed(lists: dict[ListKind, list[tuple[str, str | None]]], locale: str | None) -> discord.Embed:
    """Allowed channels and roles, blocked members, disabled models."""
    embed = discord.Embed(title=translate(locale, "Who may generate where"), colour=COLOUR)
    for kind in ACCESS_LISTS:
        form = _MENTION.get(kind, "`{}`")
        entries = [form.format(value) + (f" ({note})" if note else "") for value, note in lists.get(kind, [])]
        embed.add_field(
            name=_TITLES[kind].render(locale),
            value=_clip(", ".join(entries)) or _EMPTY[kind].render(locale),
            inline=False,
        )
    return embed


def words_embed(words: list[str], patterns: list[tuple[str, str | None]], locale: str | None) -> discord.Embed:
    """The server's blocked words and patterns, and why inactive patterns are (the operator's default list applies
    as well)."""
    none = translate(locale, "none")
    embed = discord.Embed(title=translate(locale, "Blocked words"), colour=COLOUR)
    embed.add_field(
        name=translate(locale, "Words"), value=_clip(", ".join(f"`{w}`" for w in words)) or none, inline=False
    )
    inactive_mark = " (" + translate(locale, "inactive") + ")"
    shown = "\n".join(f"`{p}`" + (inactive_mark if problem else "") for p, problem in patterns)
    embed.add_field(name=translate(locale, "Patterns"), value=_clip(shown) or none, inline=False)
    inactive = "\n".join(f"`{p}`: {problem}" for p, problem in patterns if problem)
    if inactive:
        embed.add_field(
            name=translate(locale, "Inactive patterns are kept but not applied"), value=_clip(inactive), inline=False
        )
    embed.set_footer(
        text=translate(
            locale, "Matching ignores case, accents, leetspeak and hidden characters. A default list applies too."
        )
    )
    return embed


def report_embed(report: Report, periods: Periods, locale: str | None) -> discord.Embed:
    """Credits spent this period, top members, failures and refusals."""
    embed = discord.Embed(title=translate(locale, "Usage this month"), colour=COLOUR)
    embed.description = translate(
        locale,
        "Since {start}; the period resets {end}.",
        start=f"<t:{int(periods.month_start)}:D>",
        end=f"<t:{int(periods.month_end)}:R>",
    )
    spent = translate_plural(
        locale,
        "{credits} ({count} video)",
        "{credits} ({count} videos)",
        report.succeeded,
        credits=f"{report.committed:g}",
    )
    embed.add_field(name=translate(locale, "Credits spent"), value=spent)
    embed.add_field(name=translate(locale, "Held by running videos"), value=f"{report.held:g}")
    embed.add_field(name=translate(locale, "Refunded jobs"), value=str(report.refunded))
    top = "\n".join(
        f"<@{user}>: "
        + translate_plural(
            locale, "{credits} credits, {count} video", "{credits} credits, {count} videos", jobs, credits=f"{spent:g}"
        )
        for user, spent, jobs in report.top_users
    )
    embed.add_field(name=translate(locale, "Top members"), value=top or translate(locale, "nobody yet"), inline=False)
    failures = ", ".join(f"{kind.replace('_', ' ')}: {count}" for kind, count in report.failures)
    embed.add_field(name=translate(locale, "Failures"), value=failures or translate(locale, "none"), inline=False)
    embed.add_field(name=translate(locale, "Strikes (content refusals and blocked words)"), value=str(report.strikes))
    return embed


def _clip(text: str, limit: int = 1024) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
