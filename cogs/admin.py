"""/video-admin (Manage Server) and /video-purge (Manage Messages): limits, access, words, pauses, reports."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.front import admin_render, usage_chart
from bot.locales import _
from bot.moderation.filters import validate_rule
from bot.storage.guilds import ListKind

if TYPE_CHECKING:
    from bot.front.client import VideoBot

DEFAULT = -1  # a limit option of -1 puts the server back on the operator's default
_N = TypeVar("_N", int, float)


def _pick(given: _N | None, current: _N | None) -> _N | None:
    """A limit after an admin's change: unchanged when not given, the default (None) for -1."""
    if given is None:
        return current
    return None if given == DEFAULT else given


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminCog(commands.GroupCog, group_name="video-admin", group_description="Manage Reelbot on this server"):
    """Server settings; Discord hides it from members without Manage Server, and the code checks again."""

    limits = app_commands.Group(name="limits", description="Credit limits, concurrency and cooldown")
    roles = app_commands.Group(name="roles", description="Role caps and which roles may generate")
    channels = app_commands.Group(name="channels", description="Channels where videos may be made")
    credits = app_commands.Group(name="credits", description="Bonus credits and resets")
    words = app_commands.Group(name="words", description="Blocked words and patterns")
    users = app_commands.Group(name="users", description="Blocked members")
    models = app_commands.Group(name="models", description="Turn models on or off for this server")
    server = app_commands.Group(name="server", description="Pause, audit log and usage report")
    operator = app_commands.Group(name="operator", description="Bot-wide controls for the bot's owners")

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[VideoBot]) -> bool:  # type: ignore[override]
        """Manage Server is required even if a server's command permissions were loosened."""
        # The permissions Discord resolved for this interaction: authoritative, unlike the cached roles.
        if interaction.permissions.manage_guild:
            if interaction.type is discord.InteractionType.application_command:
                # Answer within Discord's 3 seconds whatever the database is doing; replies edit this.
                await interaction.response.defer(ephemeral=True, thinking=True)
            return True
        # Answered here: discord.py only routes check failures (not other errors) to the tree's error funnel.
        await interaction.response.send_message(
            "Only members with the Manage Server permission can change Reelbot's settings.", ephemeral=True
        )
        return False

    def _changed(self, interaction: discord.Interaction[VideoBot], change: str) -> str:
        assert interaction.guild_id is not None
        self.bot.audit.admin_change(interaction.guild_id, interaction.user.id, change)
        return change

    # --- limits -------------------------------------------------------------------------------------------

    @limits.command(name="show", description="The limits in force here, and the role caps")
    async def limits_show(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the server's limits."""
        assert interaction.guild_id is not None
        engine = self.bot.engine
        config = await engine.guilds.config(interaction.guild_id)
        caps = await engine.guilds.role_caps(interaction.guild_id)
        embed = admin_render.limits_embed(engine.quotas.defaults, config, caps)
        await interaction.edit_original_response(embed=embed)

    @limits.command(name="set", description="Change limits (0: no limit, -1: back to the default)")
    @app_commands.describe(
        user_daily="Credits a member may spend per day",
        server_daily="Credits the whole server may spend per day",
        server_monthly="Credits the whole server may spend per month",
        jobs_per_user="Videos one member may have in progress at once",
        jobs_per_server="Videos the server may have in progress at once",
        cooldown="Seconds a member waits between two videos",
    )
    async def limits_set(
        self,
        interaction: discord.Interaction[VideoBot],
        user_daily: app_commands.Range[float, -1] | None = None,
        server_daily: app_commands.Range[float, -1] | None = None,
        server_monthly: app_commands.Range[float, -1] | None = None,
        jobs_per_user: app_commands.Range[int, -1] | None = None,
        jobs_per_server: app_commands.Range[int, -1] | None = None,
        cooldown: app_commands.Range[float, -1] | None = None,
    ) -> None:
        """Store new limits for this server."""
        assert interaction.guild_id is not None
        given = {
            "user_daily": user_daily,
            "server_daily": server_daily,
            "server_monthly": server_monthly,
            "jobs_per_user": jobs_per_user,
            "jobs_per_server": jobs_per_server,
            "cooldown": cooldown,
        }
        chosen = {name: value for name, value in given.items() if value is not None}
        if not chosen:
            raise UserFacingError(_("Give at least one limit to change. /video-admin limits show lists them."))
        config = await self.bot.engine.guilds.config(interaction.guild_id)
        updated = dataclasses.replace(
            config,
            user_daily_credits=_pick(user_daily, config.user_daily_credits),
            guild_daily_credits=_pick(server_daily, config.guild_daily_credits),
            guild_monthly_credits=_pick(server_monthly, config.guild_monthly_credits),
            max_jobs_per_user=_pick(jobs_per_user, config.max_jobs_per_user),
            max_jobs_per_guild=_pick(jobs_per_server, config.max_jobs_per_guild),
            cooldown_seconds=_pick(cooldown, config.cooldown_seconds),
        )
        await self.bot.engine.guilds.set_limits(interaction.guild_id, updated)
        said = ", ".join(
            f"{name} = {'default' if value == DEFAULT else f'{value:g}'}" for name, value in chosen.items()
        )
        await interaction.edit_original_response(content=self._changed(interaction, f"Limits set: {said}."))

    # --- roles and channels -------------------------------------------------------------------------------

    @roles.command(name="cap", description="Give a role its own daily cap (0: unlimited)")
    async def roles_cap(
        self, interaction: discord.Interaction[VideoBot], role: discord.Role, credits: app_commands.Range[float, 0]
    ) -> None:
        """Set a role's daily cap."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_role_cap(interaction.guild_id, role.id, credits)
        amount = "unlimited" if credits == 0 else f"{credits:g} credits a day"
        await interaction.edit_original_response(
            content=self._changed(interaction, f"Members of {role.mention} get {amount}.")
        )

    @roles.command(name="uncap", description="Remove a role's own daily cap")
    async def roles_uncap(self, interaction: discord.Interaction[VideoBot], role: discord.Role) -> None:
        """Remove a role's cap."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_role_cap(interaction.guild_id, role.id, None)
        await interaction.edit_original_response(
            content=self._changed(interaction, f"{role.mention} no longer has its own cap.")
        )

    @roles.command(name="allow", description="Only members with allowed roles may generate (none listed: everyone)")
    async def roles_allow(self, interaction: discord.Interaction[VideoBot], role: discord.Role) -> None:
        """Add an allowed role."""
        await self._list_add(interaction, ListKind.ALLOWED_ROLE, str(role.id), f"{role.mention} may generate.")

    @roles.command(name="disallow", description="Take a role off the allowed list")
    async def roles_disallow(self, interaction: discord.Interaction[VideoBot], role: discord.Role) -> None:
        """Remove an allowed role."""
        await self._list_remove(interaction, ListKind.ALLOWED_ROLE, str(role.id), f"{role.mention} is off the list.")

    @channels.command(name="allow", description="Only allowed channels may be used (none listed: any channel)")
    async def channels_allow(self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel) -> None:
        """Add an allowed channel."""
        text = f"Videos may be made in {channel.mention}."
        await self._list_add(interaction, ListKind.ALLOWED_CHANNEL, str(channel.id), text)

    @channels.command(name="disallow", description="Take a channel off the allowed list")
    async def channels_disallow(self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel) -> None:
        """Remove an allowed channel."""
        text = f"{channel.mention} is off the list."
        await self._list_remove(interaction, ListKind.ALLOWED_CHANNEL, str(channel.id), text)

    @channels.command(name="list", description="Allowed channels and roles, blocked members and disabled models")
    async def channels_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the access lists."""
        assert interaction.guild_id is not None
        store = self.bot.engine.guilds
        lists = {kind: await store.entries(interaction.guild_id, kind) for kind in admin_render.ACCESS_LISTS}
        await interaction.edit_original_response(embed=admin_render.access_embed(lists))

    # --- credits ------------------------------------------------------------------------------------------

    @credits.command(name="grant", description="Give a member bonus credits (spent after the daily allowance)")
    async def credits_grant(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member, amount: app_commands.Range[float, 1]
    ) -> None:
        """Grant bonus credits."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.grant(interaction.guild_id, member.id, amount, interaction.user.id)
        text = f"Granted {amount:g} bonus credits to {member.mention}."
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @credits.command(name="reset", description="Forgive a member's usage today and their strikes")
    async def credits_reset(self, interaction: discord.Interaction[VideoBot], member: discord.Member) -> None:
        """Reset a member."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.reset_user(interaction.guild_id, member.id, interaction.user.id)
        text = f"Reset {member.mention}: today's usage and strikes no longer count."
        await interaction.edit_original_response(content=self._changed(interaction, text))

    # --- words and users ----------------------------------------------------------------------------------

    @words.command(name="add", description="Block a word, or a regular expression")
    async def words_add(self, interaction: discord.Interaction[VideoBot], pattern: str, regex: bool = False) -> None:
        """Add a blocked word or pattern."""
        problem = validate_rule(pattern, regex)
        if problem:
            refusal = (
                _("That pattern can't be used: {problem}.", problem=problem)
                if regex
                else _("That word can't be used: {problem}.", problem=problem)
            )
            raise UserFacingError(refusal)
        kind = ListKind.BLOCKED_REGEX if regex else ListKind.BLOCKED_WORD
        await self._list_add(interaction, kind, pattern.strip(), f"Blocked {'pattern' if regex else 'word'} added.")

    @words.command(name="remove", description="Unblock a word or regular expression")
    async def words_remove(self, interaction: discord.Interaction[VideoBot], pattern: str, regex: bool = False) -> None:
        """Remove a blocked word or pattern."""
        kind = ListKind.BLOCKED_REGEX if regex else ListKind.BLOCKED_WORD
        await self._list_remove(
            interaction, kind, pattern.strip(), f"Blocked {'pattern' if regex else 'word'} removed."
        )

    @words.command(name="list", description="The server's blocked words and patterns")
    async def words_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the blocked words."""
        assert interaction.guild_id is not None
        store = self.bot.engine.guilds
        words = [v for v, _ in await store.entries(interaction.guild_id, ListKind.BLOCKED_WORD)]
        patterns = [
            (v, validate_rule(v, True)) for v, _ in await store.entries(interaction.guild_id, ListKind.BLOCKED_REGEX)
        ]
        await interaction.edit_original_response(embed=admin_render.words_embed(words, patterns))

    @users.command(name="block", description="Stop a member from making videos here")
    async def users_block(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member, reason: str | None = None
    ) -> None:
        """Block a member."""
        text = f"{member.mention} may no longer make videos here."
        await self._list_add(interaction, ListKind.BLOCKED_USER, str(member.id), text, note=reason)

    @users.command(name="unblock", description="Let a blocked member make videos again")
    async def users_unblock(self, interaction: discord.Interaction[VideoBot], member: discord.Member) -> None:
        """Unblock a member."""
        await self._list_remove(interaction, ListKind.BLOCKED_USER, str(member.id), f"{member.mention} is unblocked.")

    # --- models, server, operator -------------------------------------------------------------------------

    @models.command(name="disable", description="Turn a model off for this server")
    async def models_disable(self, interaction: discord.Interaction[VideoBot], model: str) -> None:
        """Disable a model."""
        spec = self.bot.engine.models.named(model)
        await self._list_add(interaction, ListKind.DISABLED_MODEL, spec.name, f"{spec.name} is turned off here.")

    @models.command(name="enable", description="Turn a model back on for this server")
    async def models_enable(self, interaction: discord.Interaction[VideoBot], model: str) -> None:
        """Enable a model."""
        spec = self.bot.engine.models.named(model)
        await self._list_remove(interaction, ListKind.DISABLED_MODEL, spec.name, f"{spec.name} is turned on here.")

    @models_disable.autocomplete("model")
    @models_enable.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """Catalog models matching what was typed."""
        return [
            app_commands.Choice(name=spec.name, value=spec.name)
            for spec in self.bot.engine.models.catalog
            if current.lower() in spec.name.lower()
        ][:25]

    @server.command(name="pause", description="Pause video generation on this server")
    async def server_pause(self, interaction: discord.Interaction[VideoBot], reason: str | None = None) -> None:
        """Pause this server."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_paused(interaction.guild_id, True, reason)
        text = f"Video generation is paused here{f' ({reason})' if reason else ''}."
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @server.command(name="resume", description="Resume video generation on this server")
    async def server_resume(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Resume this server."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_paused(interaction.guild_id, False, None)
        await interaction.edit_original_response(content=self._changed(interaction, "Video generation resumed."))

    @server.command(name="log-channel", description="Where the audit log goes (leave empty to turn it off)")
    async def server_log_channel(
        self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel | None = None
    ) -> None:
        """Choose the audit log channel."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_log_channel(interaction.guild_id, channel.id if channel else None)
        if channel is not None:
            await self.bot.report_inactive_patterns(interaction.guild_id)  # what it was not yet told
        text = f"The audit log goes to {channel.mention}." if channel else "The audit log is off."
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @server.command(
        name="report", description="A chart of credits spent per day, top members, failures and refusals this month"
    )
    async def server_report(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the usage report."""
        assert interaction.guild_id is not None
        engine = self.bot.engine
        periods = engine.quotas.periods()
        report = await engine.guilds.report(interaction.guild_id, since=periods.month_start)
        pool = (await engine.quotas.limits(interaction.guild_id, roles=())).guild_monthly
        usage = usage_chart.daily_spending(report.spending, periods, pool, engine.clock())
        png = await asyncio.to_thread(usage_chart.render_png, usage)
        embed = admin_render.report_embed(report, periods)
        embed.set_image(url=f"attachment://{usage_chart.FILENAME}")
        await interaction.edit_original_response(
            embed=embed, attachments=[discord.File(io.BytesIO(png), filename=usage_chart.FILENAME)]
        )

    @operator.command(name="pause", description="Pause video generation on every server (owners only)")
    async def operator_pause(self, interaction: discord.Interaction[VideoBot], reason: str) -> None:
        """Pause everywhere."""
        self._check_owner(interaction)
        await self.bot.engine.moderation.set_operator_pause(reason)
        await self.bot.audit.notice_everywhere(f"The bot's operator paused video generation everywhere: {reason}")
        await interaction.edit_original_response(content="Video generation is paused on every server.")

    @operator.command(name="resume", description="Resume video generation everywhere (owners only)")
    async def operator_resume(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Resume everywhere, lifting a gateway pause too."""
        self._check_owner(interaction)
        await self.bot.engine.moderation.set_operator_pause(None)
        await self.bot.audit.notice_everywhere("Video generation is running again.")
        await interaction.edit_original_response(content="Video generation resumed on every server.")

    def _check_owner(self, interaction: discord.Interaction[VideoBot]) -> None:
        if interaction.user.id not in self.bot.engine.settings.owner_ids:
            raise UserFacingError(_("Only the bot's owners (OWNER_IDS) can pause or resume every server."))

    async def _list_add(
        self, interaction: discord.Interaction[VideoBot], kind: ListKind, value: str, text: str, note: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.add_to_list(interaction.guild_id, kind, value, note)
        await interaction.edit_original_response(content=self._changed(interaction, text))

    async def _list_remove(
        self, interaction: discord.Interaction[VideoBot], kind: ListKind, value: str, text: str
    ) -> None:
        assert interaction.guild_id is not None
        if not await self.bot.engine.guilds.remove_from_list(interaction.guild_id, kind, value):
            raise UserFacingError(_("That was not on the list, so nothing changed."))
        await interaction.edit_original_response(content=self._changed(interaction, text))


class PurgeCog(commands.Cog):
    """/video-purge: moderators remove every posted result of one member."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="video-purge", description="Delete every video this member made here")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    async def purge(self, interaction: discord.Interaction[VideoBot], member: discord.Member) -> None:
        """Take down a member's posted results (moderators with Manage Messages on the whole server)."""
        moderator = interaction.user
        # The purge reaches every channel, so one channel's Manage Messages (interaction.permissions) is not enough.
        if (
            interaction.guild_id is None
            or not isinstance(moderator, discord.Member)
            or not moderator.guild_permissions.manage_messages
        ):
            raise UserFacingError(
                _(
                    "/video-purge deletes videos in every channel, so it needs the Manage Messages permission for "
                    "the whole server (from a role), not only in one channel. Ask a server admin, or use each "
                    "video's Delete button where you moderate."
                )
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        deleted = await self.bot.takedown.purge(interaction.guild_id, member.id)
        text = f"Deleted {deleted} video{'s' if deleted != 1 else ''} by {member.mention}."
        self.bot.audit.admin_change(interaction.guild_id, interaction.user.id, text)
        await interaction.edit_original_response(content=text)


async def setup(bot: VideoBot) -> None:
    """Add the cogs (discord.py's extension entry point)."""
    await bot.add_cog(AdminCog(bot))
    await bot.add_cog(PurgeCog(bot))
