"""The bot is what its buttons and command tree expect of it, though they never import it."""

from __future__ import annotations

from bot.engine import Engine
from bot.front.client import VideoBot
from bot.front.host import Host


async def test_the_bot_is_a_host_for_its_buttons_and_tree(engine: Engine) -> None:
    # Entered as run_bot enters it: a sharded client can only be closed once its loop-bound parts exist.
    async with VideoBot(engine, extensions=()) as bot:
        host: Host = bot
        assert isinstance(host, Host)
        assert host.engine is engine and host.accepting
