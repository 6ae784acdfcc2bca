"""A worker (`python -m bot worker`, PROCESS_ROLE=worker): no Discord gateway connection.

It logs in to Discord's REST API with the bot token and polls, downloads, re-encodes and delivers the jobs that
any process started: status edits, thread posts and the DM fallback all go over REST. Commands are answered by the
processes with a gateway connection (PROCESS_ROLE=all or front).
"""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.engine import Engine
from bot.front.audit import AuditLog
from bot.front.background import SHUTDOWN_GRACE_SECONDS, Background
from bot.front.buttons import cancel_view
from bot.front.creation import Creator
from bot.front.queue import QueueRunner
from bot.metrics import HealthCheck

log = logging.getLogger(__name__)


class Worker:
    """A REST-only Discord client hosting the background services."""

    def __init__(self, engine: Engine) -> None:
        # Intents only matter to a gateway connection, which this client never opens; without the guilds intent
        # discord.py would warn at every start that its cache may be incomplete (it stays empty anyway).
        intents = discord.Intents.none()
        intents.guilds = True
        self.client = discord.Client(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self._audit = AuditLog(self.client, engine.guilds)
        creator = Creator(engine, self.client, self._audit, cancel_view)  # to send what the wait queue starts
        queue = QueueRunner(engine, self.client, creator, self._audit)
        self.background = Background(engine, self.client, self._audit, queue)
        self._closed = asyncio.Event()

    async def start(self, token: str) -> None:
        """Log in and work until closed; discord.LoginFailure when Discord refuses the token."""
        await self.client.login(token)
        log.info("Worker: logged in to Discord as %s over REST (no gateway connection)", self.client.user)
        self.background.start()
        await self._closed.wait()

    async def close(self) -> None:
        """Let posts under way finish (briefly), stop the services, and log out."""
        await self.background.stop()
        await self._audit.flush(SHUTDOWN_GRACE_SECONDS)
        await self.client.close()
        self._closed.set()

    def discord_health(self) -> HealthCheck:
        """Logged in over REST (a worker never connects to the gateway)."""
        logged_in = self.client.user is not None and not self.client.is_closed()
        return HealthCheck(logged_in, "logged in over REST (worker)" if logged_in else "not logged in")

    def stopped_services(self) -> list[str]:
        """The background services that have ended."""
        return self.background.stopped()
