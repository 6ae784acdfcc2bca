"""/healthz of a sharded bot: every shard of the process connected, or which one is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.engine import Engine
from bot.front.client import VideoBot
from bot.front.web import health
from tests.fakediscord import FakeDiscord

TOKEN = "health-token"

pytestmark = pytest.mark.fake(token=TOKEN, recommended_shards=2)


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
