"""Running the Discord bot: endpoints, the engine, signals, and a clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from contextlib import AsyncExitStack
from typing import Final

import discord
import yarl

from bot.catalog import Catalog
from bot.engine import open_engine
from bot.errors import ExitCode
from bot.front.client import VideoBot
from bot.front.web import media_links, start_servers
from bot.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_LIMIT_SECONDS = 8.0
# The slash-command modules the bot loads, by name: the top-level cogs package sits above the front and is not imported.
EXTENSIONS: Final = ("cogs.video", "cogs.admin")
SHARDING_REQUIRED: Final = 4011  # the gateway's close code when a shard would hold too many servers


def point_discord_py(settings: Settings) -> None:
    """Aim discord.py at a REST proxy or gateway other than Discord's own, when configured.

    discord.py reads both from class attributes rather than from the client, so they are set here, once,
    before any client exists. Large bots put a REST proxy in front of Discord to share rate limits.
    """
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def run_bot(settings: Settings, catalog: Catalog) -> int:
    """Run until SIGTERM or SIGINT, or until Discord refuses the token; return the exit code."""
    point_discord_py(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    links = media_links(settings)
    async with open_engine(settings, catalog, media_links=links) as engine, AsyncExitStack() as servers:
        log.info("Finished videos are kept in the %s", engine.media.describe())
        bot = VideoBot(engine, extensions=EXTENSIONS, dev_guild_id=settings.discord_dev_guild_id)
        await start_servers(servers, settings, engine, bot)
        async with bot:
            running = asyncio.create_task(bot.start(settings.discord_token), name="discord")
            stopping = asyncio.create_task(stop.wait(), name="signal")
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if running.done():
                return _ended(running)
            log.info("Shutting down: no new commands; unfinished jobs resume on the next start")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.close(), timeout=SHUTDOWN_LIMIT_SECONDS)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    log.info("Stopped")
    return ExitCode.OK


def _ended(running: asyncio.Task[None]) -> int:
    error = running.exception()
    if isinstance(error, discord.LoginFailure):
        sys.stderr.write(
            "Discord rejected DISCORD_TOKEN. Copy the token again from the developer portal (Bot page, "
            "Reset Token) into DISCORD_TOKEN.\n"
        )
        return ExitCode.USAGE
    if isinstance(error, discord.ConnectionClosed) and error.code == SHARDING_REQUIRED:
        sys.stderr.write(
            "Discord requires more shards for the servers this bot is in. Raise DISCORD_SHARD_COUNT (the same in "
            "every process, with the new shards given out in DISCORD_SHARD_IDS), or leave both empty to use "
            "Discord's recommended count.\n"
        )
        return ExitCode.USAGE
    if isinstance(error, discord.PrivilegedIntentsRequired):
        sys.stderr.write("Discord refused the connection over privileged intents, which Reelbot does not use.\n")
        return ExitCode.USAGE
    if error is not None:
        log.error("The Discord connection ended with an error", exc_info=error)
        sys.stderr.write(f"The bot stopped: {type(error).__name__}. See the log above.\n")
        return ExitCode.ERROR
    return ExitCode.OK
