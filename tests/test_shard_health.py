"""/healthz of a sharded bot: every shard of the process connected, or which one is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import discord
import pytest
import yarl

from bot.engine import Engine
from bot.front.client import VideoBot
from bot.front.web import health
from tests.fakediscord import FakeDiscord

TOKEN = "health-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord that recommends two shards."""
    async with FakeDiscord(token=TOKEN, recommended_shards=2) as server:
        yield server


@pytest.fixture
def discord_targets(fake: FakeDiscord) -> Iterator[None]:
    """Route.BASE and DEFAULT_GATEWAY are process-global: point them at the fake, restore them after."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.rest_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def bot(engine: Engine, fake: FakeDiscord, discord_targets: None) -> AsyncIterator[VideoBot]:
    """The bot in this process (no cogs), running both shards."""
    async with VideoBot(engine, extensions=()) as client:
        running = asyncio.create_task(client.start(TOKEN))
        try:
            async with asyncio.timeout(30):
                await client.wait_until_ready()
            yield client
        finally:
            await client.close()
            await asyncio.gather(running, return_exceptions=True)


async def test_healthz_names_the_shards_and_fails_on_one_down(bot: VideoBot) -> None:
    report = await health(bot.engine, bot)
    assert report.checks["discord"].ok and report.checks["discord"].detail == "connected: shard 0, 1 of 2"

    shard = bot.get_shard(1)
    assert shard is not None
    await shard.disconnect()  # stays down: discord.py does not reconnect a shard disconnected on purpose
    report = await health(bot.engine, bot)
    assert not report.ok and report.checks["discord"].detail == "shard 1 of 2 not connected"
