"""Embeds for /video-admin: limits, access lists, blocked words and the usage report."""

from __future__ import annotations

from typing import Final

import discord

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
    ListKind.ALLOWED_CHANNEL: "none listed: any channel",
    ListKind.ALLOWED_ROLE: "none listed: every member",
    ListKind.BLOCKED_USER: "nobody",
    ListKind.DISABLED_MODEL: "none: every model is on",
}
_TITLES: Final = {
    ListKind.ALLOWED_CHANNEL: "Allowed channels",
    ListKind.ALLOWED_ROLE: "Allowed roles",
    ListKind.BLOCKED_USER: "Blocked members",
    ListKind.DISABLED_MODEL: "Disabled models",
}


def limits_embed(defaults: Limits, config: GuildConfig, role_caps: dict[int, float]) -> discord.Embed:
    """Each limit with where it comes from, and the role caps."""
    embed = discord.Embed(title="Limits on this server", colour=COLOUR)
    rows = (
        ("Per member per day", config.user_daily_credits, defaults.user_daily, "credits"),
        ("Server per day", config.guild_daily_credits, defaults.guild_daily, "credits"),
        ("Server per month", config.guild_monthly_credits, defaults.guild_monthly, "credits"),
        ("Videos in progress per member", config.max_jobs_per_user, defaults.max_jobs_user, ""),
        ("Videos in progress on the server", config.max_jobs_per_guild, defaults.max_jobs_guild, ""),
        ("Cooldown between videos", config.cooldown_seconds, defaults.cooldown_seconds, "seconds"),
    )
    queue = ("Videos that may wait for a slot (3 per member)", config.queue_max, defaults.queue_max, "")
    for name, own, default, unit in (*rows, queue):
        value = own if own is not None else default
        unset = "none: over a limit, a video is refused" if name == queue[0] else "no limit"
        shown = unset if not value else f"{value:g} {unit}".strip()
        embed.add_field(name=name, value=f"{shown} ({'this server' if own is not None else 'default'})")
    caps = "\n".join(f"<@&{role}>: {'unlimited' if cap == 0 else f'{cap:g} a day'}" for role, cap in role_caps.items())
    embed.add_field(name="Role caps (the most generous applies)", value=caps or "none", inline=False)
    if config.paused:
        embed.add_field(name="Paused", value=config.pause_reason or "yes", inline=False)
    embed.add_field(name="Audit log", value=f"<#{config.log_channel_id}>" if config.log_channel_id else "off")
    embed.add_field(name="Private videos", value="allowed" if config.private_allowed else "denied")
    return embed


def private_setting_text(allowed: bool) -> str:
    """The answer to /video-admin server private."""
    if allowed:
        return (
            "Private videos are allowed here: their status and video go to the member alone, by DM, and the audit "
            "log still records each one with its prompt."
        )
    return (
        "Private videos are denied here: /video create with private: True, or a private default in /video settings, "
        "is refused, saying why."
    )


def access_embed(lists: dict[ListKind, list[tuple[str, str | None]]]) -> discord.Embed:
    """Allowed channels and roles, blocked members, disabled models."""
    embed = discord.Embed(title="Who may generate where", colour=COLOUR)
    for kind in ACCESS_LISTS:
        form = _MENTION.get(kind, "`{}`")
        entries = [form.format(value) + (f" ({note})" if note else "") for value, note in lists.get(kind, [])]
        embed.add_field(name=_TITLES[kind], value=_clip(", ".join(entries)) or _EMPTY[kind], inline=False)
    return embed


def words_embed(words: list[str], patterns: list[tuple[str, str | None]]) -> discord.Embed:
    """The server's blocked words and patterns, and why inactive patterns are (the operator's default list applies
    as well)."""
    embed = discord.Embed(title="Blocked words", colour=COLOUR)
    embed.add_field(name="Words", value=_clip(", ".join(f"`{w}`" for w in words)) or "none", inline=False)
    shown = "\n".join(f"`{p}`" + (" (inactive)" if problem else "") for p, problem in patterns)
    embed.add_field(name="Patterns", value=_clip(shown) or "none", inline=False)
    inactive = "\n".join(f"`{p}`: {problem}" for p, problem in patterns if problem)
    if inactive:
        embed.add_field(name="Inactive patterns are kept but not applied", value=_clip(inactive), inline=False)
    embed.set_footer(
        text="Matching ignores case, accents, leetspeak and hidden characters. A default list applies too."
    )
    return embed


def report_embed(report: Report, periods: Periods) -> discord.Embed:
    """Credits spent this period, top members, failures and refusals."""
    embed = discord.Embed(title="Usage this month", colour=COLOUR)
    embed.description = f"Since <t:{int(periods.month_start)}:D>; the period resets <t:{int(periods.month_end)}:R>."
    embed.add_field(name="Credits spent", value=f"{report.committed:g} ({report.succeeded} videos)")
    embed.add_field(name="Held by running videos", value=f"{report.held:g}")
    embed.add_field(name="Refunded jobs", value=str(report.refunded))
    top = "\n".join(f"<@{user}>: {spent:g} credits, {jobs} videos" for user, spent, jobs in report.top_users)
    embed.add_field(name="Top members", value=top or "nobody yet", inline=False)
    failures = ", ".join(f"{kind.replace('_', ' ')}: {count}" for kind, count in report.failures)
    embed.add_field(name="Failures", value=failures or "none", inline=False)
    embed.add_field(name="Strikes (content refusals and blocked words)", value=str(report.strikes))
    return embed


def _clip(text: str, limit: int = 1024) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
