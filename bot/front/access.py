"""Where a button acts on a job: the job's own server and channel, checked against the presser's rights there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from bot.domain import Job
from bot.errors import UserFacingError
from bot.front.host import Host, host_of
from bot.locales import _

Postable = discord.TextChannel | discord.Thread | discord.VoiceChannel | discord.StageChannel


@dataclass(frozen=True, slots=True)
class Origin:
    """The job's server, the presser as a member of it, and the channel the job started in."""

    guild: discord.Guild
    member: discord.Member
    channel: Postable


async def origin_for(interaction: discord.Interaction[Any], job: Job) -> Origin:
    """Where a new take of ``job`` would go, if the presser may post there; a button in a DM counts as the job's
    server. Refuses a job of another server, a presser who left it, and one who may not post in its channel."""
    if job.guild_id is None or job.channel_id is None:
        raise UserFacingError(_("That job no longer exists. Start a new one with /video create."))
    if interaction.guild_id is not None and interaction.guild_id != job.guild_id:
        raise UserFacingError(_("That video was made on another server. Start a new one here with /video create."))
    bot = host_of(interaction)
    guild = bot.get_guild(job.guild_id)
    if guild is None and not bot.engine.settings.connects_shard_of(job.guild_id):
        # A DM reaches the process holding shard 0, which does not see the servers of the other shards.
        raise UserFacingError(
            _(
                "I can't start another take of that video from here. Press the button under the video on its "
                "server, or use /video create there."
            )
        )
    if guild is None:
        raise UserFacingError(_("I am no longer on the server that video was made on, so I can't make another take."))
    member = await _member(interaction, guild)
    channel = await _channel(bot, guild, job.channel_id)
    permissions = channel.permissions_for(member)
    may_post = (
        permissions.send_messages_in_threads if isinstance(channel, discord.Thread) else permissions.send_messages
    )
    if not (permissions.view_channel and may_post):
        raise UserFacingError(
            _(
                "You can't post in {mention}, where this video was made, so you can't start another take of it "
                "there. Use /video create in a channel where you can post.",
                mention=channel.mention,
            )
        )
    return Origin(guild=guild, member=member, channel=channel)


async def _member(interaction: discord.Interaction[Any], guild: discord.Guild) -> discord.Member:
    if isinstance(interaction.user, discord.Member) and interaction.user.guild.id == guild.id:
        return interaction.user
    try:
        # Pressed in a DM: the member's roles on the job's server decide (asked of Discord, no members intent).
        return guild.get_member(interaction.user.id) or await guild.fetch_member(interaction.user.id)
    except discord.NotFound:
        raise UserFacingError(
            _(
                "You are not a member of {name}, where this video was made, so you can't start another take.",
                name=guild.name,
            )
        ) from None


async def _channel(bot: Host, guild: discord.Guild, channel_id: int) -> Postable:
    try:
        channel = guild.get_channel_or_thread(channel_id) or await bot.fetch_channel(channel_id)
    except (discord.NotFound, discord.Forbidden):
        channel = None
    if not isinstance(channel, Postable) or channel.guild.id != guild.id:
        raise UserFacingError(_("The channel this video was made in is gone. Start a new one with /video create."))
    return channel
