"""What the buttons, their checks and the command tree need of the running bot, as a Protocol.

They reach the bot through ``interaction.client``; typed as this, not as VideoBot, they do not import the client
that registers them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import discord

from bot.domain import Job
from bot.engine import Engine
from bot.front.creation import Creator
from bot.front.takedown import Takedown

Images = tuple[list[tuple[str, bytes]], tuple[str, bytes] | None]  # reference images, and the last frame


@runtime_checkable
class Host(Protocol):
    """The bot as its buttons and command tree see it."""

    @property
    def accepting(self) -> bool:
        """False once shutting down: no new commands."""

    @property
    def engine(self) -> Engine:
        """The services and the store."""

    @property
    def creator(self) -> Creator:
        """Starts jobs from Discord."""

    @property
    def takedown(self) -> Takedown:
        """Takes a result down."""

    def get_guild(self, id: int, /) -> discord.Guild | None:
        """A server the bot is on, from its cache."""

    async def fetch_channel(
        self, channel_id: int, /
    ) -> discord.abc.GuildChannel | discord.abc.PrivateChannel | discord.Thread:
        """A channel or thread, asked of Discord."""

    async def reference_images(self, job: Job) -> Images:
        """A job's reference images and last frame, fetched again from its status message."""


def host_of(interaction: discord.Interaction[Any]) -> Host:
    """The bot an interaction came to."""
    host: Host = interaction.client
    return host
