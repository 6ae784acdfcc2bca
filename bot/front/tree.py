"""BotTree: the one funnel every slash-command error goes through."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.front.host import host_of
from bot.front.i18n import member_locale
from bot.front.replies import report_error
from bot.locales import _, translate


class BotTree(app_commands.CommandTree[discord.Client]):
    """Refuses new commands while shutting down and answers every error privately."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Let commands through only while the bot accepts work."""
        if host_of(interaction).accepting:
            return True
        said = translate(
            member_locale(interaction), "The bot is restarting. Try again in a minute; running videos are not affected."
        )
        await interaction.response.send_message(said, ephemeral=True)
        return False

    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        """Unwrap the command's own exception and report it."""
        if isinstance(error, app_commands.CheckFailure) and interaction.response.is_done():
            return  # already answered by the check that failed
        original: Exception = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(error, app_commands.NoPrivateMessage):
            original = UserFacingError(_("Reelbot's commands work in servers only."))
        await report_error(interaction, original)
