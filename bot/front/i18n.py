"""The bot's languages on Discord: the command tree's translator, and whose locale a reply or a post follows.

Private replies follow the member's Discord language (``interaction.locale``); public posts (status messages,
results, thread names) the server's preferred locale (``interaction.guild_locale``), which a job keeps for the
background work that edits and posts for it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import discord
from discord import app_commands

from bot.locales import lookup

# Command, group and option names stay English: they are what the documentation and every server use.
_KEPT_ENGLISH: Final = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)


class CatalogueTranslator(app_commands.Translator):
    """Descriptions and choice names from the message catalogues; names left as they are."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        """The catalogue's text for ``locale``, or None (Discord then shows the English)."""
        if context.location in _KEPT_ENGLISH:
            return None
        return lookup(locale, string.message)


def member_locale(interaction: discord.Interaction[Any]) -> str:
    """The language of the member who interacted, for what only they see."""
    return str(interaction.locale)


def server_locale(interaction: discord.Interaction[Any]) -> str:
    """The server's preferred language, for what everyone there sees (the member's outside a server)."""
    return str(interaction.guild_locale or interaction.locale)


@dataclass(frozen=True, slots=True)
class Locales:
    """Both languages of one interaction: the member's (private) and the server's (public)."""

    member: str
    server: str


def locales_of(interaction: discord.Interaction[Any]) -> Locales:
    """The member's and the server's languages of an interaction, for a job to keep."""
    return Locales(member=member_locale(interaction), server=server_locale(interaction))
