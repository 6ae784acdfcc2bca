"""/video-admin (Manage Server) and /video-purge (Manage Messages): limits, access, words, pauses, reports."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.errors import UserFacingError
from bot.front import admin_render, render, usage_chart
from bot.front.i18n import member_locale
from bot.locales import Text, _, translate
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
class AdminCog(
    commands.GroupCog, group_name="video-admin", group_description=locale_str("Manage Reelbot on this server")
):
    """Server settings; Discord hides it from members without Manage Server, and the code checks again."""

    limits = app_commands.Group(name="limits", description=locale_str("Credit limits, concurrency and cooldown"))
    roles = app_commands.Group(name="roles", description=locale_str("Role caps and which roles may generate"))
    channels = app_commands.Group(name="channels", description=locale_str("Channels where videos may be made"))
    credits = app_commands.Group(name="credits", description=locale_str("Bonus credits and resets"))
    words = app_commands.Group(name="words", description=locale_str("Blocked words and patterns"))
    users = app_commands.Group(name="users", description=locale_str("Blocked members"))
    models = app_commands.Group(name="models", description=locale_str("Turn models on or off for this server"))
    server = app_commands.Group(name="server", description=locale_str("Pause, audit log and usage report"))
    operator = app_commands.Group(name="operator", description=locale_str("Bot-wide controls for the bot's owners"))

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
        said = _("Only members with the Manage Server permission can change Reelbot's settings.")
        await interaction.response.send_message(said.render(member_locale(interaction)), ephemeral=True)
        return False

    def _changed(self, interaction: discord.Interaction[VideoBot], change: Text) -> str:
        """Log a change in the audit log (in English, like the rest of it) and say it to the admin in theirs."""
        assert interaction.guild_id is not None
        self.bot.audit.admin_change(interaction.guild_id, interaction.user.id, str(change))
        self.bot.queue.wake()  # a block, a pause, a limit or a filter may move or drop waiting jobs
        return change.render(member_locale(interaction))

    # --- limits -------------------------------------------------------------------------------------------

    @limits.command(name="show", description=locale_str("The limits in force here, and the role caps"))
    async def limits_show(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the server's limits."""
        assert interaction.guild_id is not None
        engine = self.bot.engine
        config = await engine.guilds.config(interaction.guild_id)
        caps = await engine.guilds.role_caps(interaction.guild_id)
        embed = admin_render.limits_embed(engine.quotas.defaults, config, caps, member_locale(interaction))
        await interaction.edit_original_response(embed=embed)

    @limits.command(name="set", description=locale_str("Change limits (0: no limit, -1: back to the default)"))
    @app_commands.describe(
        user_daily=locale_str("Credits a member may spend per day"),
        server_daily=locale_str("Credits the whole server may spend per day"),
        server_monthly=locale_str("Credits the whole server may spend per month"),
        jobs_per_user=locale_str("Videos one member may have in progress at once"),
        jobs_per_server=locale_str("Videos the server may have in progress at once"),
        cooldown=locale_str("Seconds a member waits between two videos"),
        queue_max=locale_str("Videos that may wait for a free slot here (0: none wait, all over a limit are refused)"),
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
        queue_max: app_commands.Range[int, -1] | None = None,
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
            "queue_max": queue_max,
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
            queue_max=_pick(queue_max, config.queue_max),
        )
        await self.bot.engine.guilds.set_limits(interaction.guild_id, updated)
        # Option names and values as typed: `default` is what -1 means in the option's description.
        said = ", ".join(
            f"{name} = {'default' if value == DEFAULT else f'{value:g}'}" for name, value in chosen.items()
        )
        await interaction.edit_original_response(
            content=self._changed(interaction, _("Limits set: {limits}.", limits=said))
        )

    # --- roles and channels -------------------------------------------------------------------------------

    @roles.command(name="cap", description=locale_str("Give a role its own daily cap (0: unlimited)"))
    async def roles_cap(
        self, interaction: discord.Interaction[VideoBot], role: discord.Role, credits: app_commands.Range[float, 0]
    ) -> None:
        """Set a role's daily cap."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_role_cap(interaction.guild_id, role.id, credits)
        text = (
            _("Members of {role} get unlimited credits.", role=role.mention)
            if credits == 0
            else _("Members of {role} get {amount} credits a day.", role=role.mention, amount=f"{credits:g}")
        )
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @roles.command(name="uncap", description=locale_str("Remove a role's own daily cap"))
    async def roles_uncap(self, interaction: discord.Interaction[VideoBot], role: discord.Role) -> None:
        """Remove a role's cap."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_role_cap(interaction.guild_id, role.id, None)
        await interaction.edit_original_response(
            content=self._changed(interaction, _("{role} no longer has its own cap.", role=role.mention))
        )

    @roles.command(
        name="allow", description=locale_str("Only members with allowed roles may generate (none listed: everyone)")
    )
    async def roles_allow(self, interaction: discord.Interaction[VideoBot], role: discord.Role) -> None:
        """Add an allowed role."""
        await self._list_add(
            interaction, ListKind.ALLOWED_ROLE, str(role.id), _("{role} may generate.", role=role.mention)
        )

    @roles.command(name="disallow", description=locale_str("Take a role off the allowed list"))
    async def roles_disallow(self, interaction: discord.Interaction[VideoBot], role: discord.Role) -> None:
        """Remove an allowed role."""
        await self._list_remove(
            interaction, ListKind.ALLOWED_ROLE, str(role.id), _("{role} is off the list.", role=role.mention)
        )

    @channels.command(
        name="allow", description=locale_str("Only allowed channels may be used (none listed: any channel)")
    )
    async def channels_allow(self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel) -> None:
        """Add an allowed channel."""
        text = _("Videos may be made in {channel}.", channel=channel.mention)
        await self._list_add(interaction, ListKind.ALLOWED_CHANNEL, str(channel.id), text)

    @channels.command(name="disallow", description=locale_str("Take a channel off the allowed list"))
    async def channels_disallow(self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel) -> None:
        """Remove an allowed channel."""
        text = _("{channel} is off the list.", channel=channel.mention)
        await self._list_remove(interaction, ListKind.ALLOWED_CHANNEL, str(channel.id), text)

    @channels.command(
        name="list", description=locale_str("Allowed channels and roles, blocked members and disabled models")
    )
    async def channels_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the access lists."""
        assert interaction.guild_id is not None
        store = self.bot.engine.guilds
        lists = {kind: await store.entries(interaction.guild_id, kind) for kind in admin_render.ACCESS_LISTS}
        await interaction.edit_original_response(embed=admin_render.access_embed(lists, member_locale(interaction)))

    # --- credits ------------------------------------------------------------------------------------------

    @credits.command(
        name="grant", description=locale_str("Give a member bonus credits (spent after the daily allowance)")
    )
    async def credits_grant(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member, amount: app_commands.Range[float, 1]
    ) -> None:
        """Grant bonus credits."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.grant(interaction.guild_id, member.id, amount, interaction.user.id)
        granted = f"{amount:g}"
        text = _("Granted {amount} bonus credits to {member}.", amount=granted, member=member.mention)
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @credits.command(name="reset", description=locale_str("Forgive a member's usage today and their strikes"))
    async def credits_reset(self, interaction: discord.Interaction[VideoBot], member: discord.Member) -> None:
        """Reset a member."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.reset_user(interaction.guild_id, member.id, interaction.user.id)
        text = _("Reset {member}: today's usage and strikes no longer count.", member=member.mention)
        await interaction.edit_original_response(content=self._changed(interaction, text))

    # --- words and users ----------------------------------------------------------------------------------

    @words.command(name="add", description=locale_str("Block a word, or a regular expression"))
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
        text = _("Blocked pattern added.") if regex else _("Blocked word added.")
        await self._list_add(interaction, kind, pattern.strip(), text)

    @words.command(name="remove", description=locale_str("Unblock a word or regular expression"))
    async def words_remove(self, interaction: discord.Interaction[VideoBot], pattern: str, regex: bool = False) -> None:
        """Remove a blocked word or pattern."""
        kind = ListKind.BLOCKED_REGEX if regex else ListKind.BLOCKED_WORD
        text = _("Blocked pattern removed.") if regex else _("Blocked word removed.")
        await self._list_remove(interaction, kind, pattern.strip(), text)

    @words.command(name="list", description=locale_str("The server's blocked words and patterns"))
    async def words_list(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the blocked words."""
        assert interaction.guild_id is not None
        store = self.bot.engine.guilds
        words = [v for v, _ in await store.entries(interaction.guild_id, ListKind.BLOCKED_WORD)]
        patterns = [
            (v, validate_rule(v, True)) for v, _ in await store.entries(interaction.guild_id, ListKind.BLOCKED_REGEX)
        ]
        await interaction.edit_original_response(
            embed=admin_render.words_embed(words, patterns, member_locale(interaction))
        )

    @users.command(name="block", description=locale_str("Stop a member from making videos here"))
    async def users_block(
        self, interaction: discord.Interaction[VideoBot], member: discord.Member, reason: str | None = None
    ) -> None:
        """Block a member."""
        text = _("{member} may no longer make videos here.", member=member.mention)
        await self._list_add(interaction, ListKind.BLOCKED_USER, str(member.id), text, note=reason)

    @users.command(name="unblock", description=locale_str("Let a blocked member make videos again"))
    async def users_unblock(self, interaction: discord.Interaction[VideoBot], member: discord.Member) -> None:
        """Unblock a member."""
        await self._list_remove(
            interaction, ListKind.BLOCKED_USER, str(member.id), _("{member} is unblocked.", member=member.mention)
        )

    # --- models, server, operator -------------------------------------------------------------------------

    @models.command(name="disable", description=locale_str("Turn a model off for this server"))
    async def models_disable(self, interaction: discord.Interaction[VideoBot], model: str) -> None:
        """Disable a model."""
        spec = self.bot.engine.models.named(model)
        await self._list_add(
            interaction, ListKind.DISABLED_MODEL, spec.name, _("{model} is turned off here.", model=spec.name)
        )

    @models.command(name="enable", description=locale_str("Turn a model back on for this server"))
    async def models_enable(self, interaction: discord.Interaction[VideoBot], model: str) -> None:
        """Enable a model."""
        spec = self.bot.engine.models.named(model)
        await self._list_remove(
            interaction, ListKind.DISABLED_MODEL, spec.name, _("{model} is turned on here.", model=spec.name)
        )

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

    @server.command(name="pause", description=locale_str("Pause video generation on this server"))
    async def server_pause(self, interaction: discord.Interaction[VideoBot], reason: str | None = None) -> None:
        """Pause this server."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_paused(interaction.guild_id, True, reason)
        text = (
            _("Video generation is paused here ({reason}).", reason=reason)
            if reason
            else _("Video generation is paused here.")
        )
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @server.command(name="resume", description=locale_str("Resume video generation on this server"))
    async def server_resume(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Resume this server."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_paused(interaction.guild_id, False, None)
        await interaction.edit_original_response(content=self._changed(interaction, _("Video generation resumed.")))

    @server.command(
        name="private", description=locale_str("Let members make private videos (by DM, nothing public), or not")
    )
    @app_commands.describe(setting=locale_str("allow (the default) or deny"))
    @app_commands.choices(
        setting=[
            app_commands.Choice(name=locale_str("allow"), value="allow"),
            app_commands.Choice(name=locale_str("deny"), value="deny"),
        ]
    )
    async def server_private(
        self, interaction: discord.Interaction[VideoBot], setting: app_commands.Choice[str]
    ) -> None:
        """Allow or forbid the private lane on this server."""
        assert interaction.guild_id is not None
        allowed = setting.value == "allow"
        await self.bot.engine.guilds.set_private_allowed(interaction.guild_id, allowed)
        text = admin_render.private_setting_text(allowed)
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @server.command(name="log-channel", description=locale_str("Where the audit log goes (leave empty to turn it off)"))
    async def server_log_channel(
        self, interaction: discord.Interaction[VideoBot], channel: discord.TextChannel | None = None
    ) -> None:
        """Choose the audit log channel."""
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.set_log_channel(interaction.guild_id, channel.id if channel else None)
        if channel is not None:
            await self.bot.report_inactive_patterns(interaction.guild_id)  # what it was not yet told
        text = _("The audit log goes to {channel}.", channel=channel.mention) if channel else _("The audit log is off.")
        await interaction.edit_original_response(content=self._changed(interaction, text))

    @server.command(
        name="report",
        description=locale_str("A chart of credits spent per day, top members, failures and refusals this month"),
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
        embed = admin_render.report_embed(report, periods, member_locale(interaction))
        embed.set_image(url=f"attachment://{usage_chart.FILENAME}")
        await interaction.edit_original_response(
            embed=embed, attachments=[discord.File(io.BytesIO(png), filename=usage_chart.FILENAME)]
        )

    @operator.command(name="pause", description=locale_str("Pause video generation on every server (owners only)"))
    async def operator_pause(self, interaction: discord.Interaction[VideoBot], reason: str) -> None:
        """Pause everywhere."""
        self._check_owner(interaction)
        await self.bot.engine.moderation.set_operator_pause(reason)
        self.bot.queue.wake()
        await self.bot.audit.notice_everywhere(f"The bot's operator paused video generation everywhere: {reason}")
        said = translate(member_locale(interaction), "Video generation is paused on every server.")
        await interaction.edit_original_response(content=said)

    @operator.command(name="resume", description=locale_str("Resume video generation everywhere (owners only)"))
    async def operator_resume(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Resume everywhere, lifting a gateway pause too."""
        self._check_owner(interaction)
        await self.bot.engine.moderation.set_operator_pause(None)
        self.bot.queue.wake()
        await self.bot.audit.notice_everywhere("Video generation is running again.")
        said = translate(member_locale(interaction), "Video generation resumed on every server.")
        await interaction.edit_original_response(content=said)

    def _check_owner(self, interaction: discord.Interaction[VideoBot]) -> None:
        if interaction.user.id not in self.bot.engine.settings.owner_ids:
            raise UserFacingError(_("Only the bot's owners (OWNER_IDS) can pause or resume every server."))

    async def _list_add(
        self,
        interaction: discord.Interaction[VideoBot],
        kind: ListKind,
        value: str,
        text: Text,
        note: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        await self.bot.engine.guilds.add_to_list(interaction.guild_id, kind, value, note)
        await interaction.edit_original_response(content=self._changed(interaction, text))

    async def _list_remove(
        self, interaction: discord.Interaction[VideoBot], kind: ListKind, value: str, text: Text
    ) -> None:
        assert interaction.guild_id is not None
        if not await self.bot.engine.guilds.remove_from_list(interaction.guild_id, kind, value):
            raise UserFacingError(_("That was not on the list, so nothing changed."))
        await interaction.edit_original_response(content=self._changed(interaction, text))


class PurgeCog(commands.Cog):
    """/video-purge: moderators remove every posted result of one member."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot

    @app_commands.command(name="video-purge", description=locale_str("Delete every video this member made here"))
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
        purged = await self.bot.takedown.purge(interaction.guild_id, member.id)
        self.bot.audit.admin_change(
            interaction.guild_id,
            interaction.user.id,
            render.purged_text(purged.deleted, purged.files_left, member.mention, None),
        )
        text = render.purged_text(purged.deleted, purged.files_left, member.mention, member_locale(interaction))
        await interaction.edit_original_response(content=text)


async def setup(bot: VideoBot) -> None:
    """Add the cogs (discord.py's extension entry point)."""
    await bot.add_cog(AdminCog(bot))
    await bot.add_cog(PurgeCog(bot))
