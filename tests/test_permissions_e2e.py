"""Who may do what, and where: purge, delete, re-roll and the private listings, against the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import BotProcess, bot_env
from tests.fakediscord import FakeDiscord
from tests.test_discord_e2e import WAIT, private_text


@pytest.fixture
async def two_servers() -> AsyncIterator[FakeDiscord]:
    """A fake Discord with two guilds, both with the tester in them."""
    async with FakeDiscord(guilds=["First", "Second"]) as discord_fake:
        yield discord_fake


@pytest.mark.sim(task_seconds=120.0)  # still running while the listings are asked for
async def test_history_and_status_list_only_this_servers_jobs(
    two_servers: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    fake = two_servers
    first, second = (fake.state.text_channels(guild.id)[0].id for guild in fake.guilds)
    # Global commands, so that both servers have them.
    proc = BotProcess(bot_env(fake, sim, tmp_path, DISCORD_DEV_GUILD_ID=""), tmp_path)
    async with proc:
        await fake.wait_for_request("PUT", "/applications/*/commands", timeout=WAIT)
        await fake.wait_connected(timeout=WAIT)
        rec = await fake.invoke_slash(channel_id=first, options={"prompt": "only on the first", "model": "sora-2"})
        await private_text(fake, rec, "on its way")

        for subcommand, here, there in (
            ("status", "only on the first", "no videos in progress"),
            ("history", "only on the first", "not made any videos"),
        ):
            home = await fake.invoke_slash(channel_id=first, subcommand=subcommand)
            await private_text(fake, home, here)
            away = await fake.invoke_slash(channel_id=second, subcommand=subcommand)
            text = await private_text(fake, away, there)
            assert "only on the first" not in text
