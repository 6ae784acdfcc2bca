"""VideoBot: the discord.py client, holding the engine and the Discord-side services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import discord
from discord.ext import commands

from bot.domain import Job
from bot.engine import Engine
from bot.errors import UserFacingError
from bot.front import references
from bot.front.audit import AuditLog
from bot.front.background import SHUTDOWN_GRACE_SECONDS, Background, cancel, track
from bot.front.buttons import (
    CancelButton,
    ConfirmCancelButton,
    DeleteButton,
    RemixButton,
    RerollButton,
    RetryButton,
    cancel_view,
)
from bot.front.creation import LAST_FRAME_STEM, Creator, reference_files
from bot.front.i18n import CatalogueTranslator
from bot.front.member_settings import SettingSelect
from bot.front.queue import QueueRunner
from bot.front.results import ResultFiles
from bot.front.show import Reshow
from bot.front.sync import sync_commands
from bot.front.takedown import Takedown
from bot.front.tree import BotTree
from bot.locales import _
from bot.metrics import HealthCheck
from bot.services.moderation import inactive_patterns_text

log = logging.getLogger(__name__)


class VideoBot(commands.AutoShardedBot):
    """Slash commands only: no message content, no privileged intents; the shards DISCORD_SHARD_IDS names.

    Without DISCORD_SHARD_COUNT the process runs every shard of the count Discord recommends. With ``deliver``
    (PROCESS_ROLE=all) it also polls and delivers jobs; without (PROCESS_ROLE=front) it only answers Discord, and
    workers or other processes deliver what it starts.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        extensions: Sequence[str],
        dev_guild_id: int | None = None,
        deliver: bool = True,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, threads, permissions and upload limits of the servers the bot is in
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=BotTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=engine.settings.discord_shard_count,
        )
        # Set here, not passed: discord.py's options type takes a list only, and None (every shard) is its default.
        self.shard_ids = engine.settings.shard_ids
        self.engine = engine
        self._extension_names = tuple(extensions)
        self.dev_guild_id = dev_guild_id
        self.accepting = True
        self.audit = AuditLog(self, engine.guilds)
        self.creator = Creator(engine, self, self.audit, cancel_view)
        self.takedown = Takedown(self, engine.store, engine.guilds, engine.media)
        self.reshow = Reshow(engine, ResultFiles.of(engine))
        self.queue = QueueRunner(engine, self, self.creator, self.audit)
        # Without delivery (PROCESS_ROLE=front) the wait queue runs on its own: this process frees slots too.
        self.background = Background(engine, self, self.audit, self.queue) if deliver else None
        self._services: list[asyncio.Task[None]] = []

    async def setup_hook(self) -> None:
        """Load the cogs, register the persistent buttons, sync commands and start the background services."""
        await self.tree.set_translator(CatalogueTranslator())
        for extension in self._extension_names:
            await self.load_extension(extension)
        self.add_dynamic_items(
            RerollButton, RemixButton, DeleteButton, RetryButton, CancelButton, ConfirmCancelButton, SettingSelect
        )
        await self._settle_shard_count()
        await sync_commands(
            self.tree, self.engine.store, self.dev_guild_id, holds_shard_zero=self.engine.settings.holds_shard_zero
        )
        await self.engine.models.refresh()
        self._services.append(track("model list", self.engine.models.run()))
        if self.background is not None:
            self.background.start()
        else:
            self._services.append(track("wait queue", self.queue.run()))

    async def _settle_shard_count(self) -> None:
        """Ask Discord for its recommended shard count when none is configured, then say which shards connect.

        discord.py would ask too, but then connect to the URL Discord names; with the count known it connects to
        DISCORD_GATEWAY_URL (a gateway proxy) when that is set.
        """
        if self.shard_count is None:
            self.shard_count, _, _ = await self.http.get_bot_gateway()
            log.info("Discord recommends %d shard(s); this process runs all of them", self.shard_count)
        shards = self.shard_ids if self.shard_ids is not None else range(self.shard_count)
        log.info("Connecting shard(s) %s of %d", ", ".join(map(str, shards)), self.shard_count)

    async def on_ready(self) -> None:
        """Once connected (again): tell audit logs about stored patterns that cannot be applied."""
        await self.report_inactive_patterns()

    async def report_inactive_patterns(self, guild_id: int | None = None) -> None:
        """Tell each server's audit log once (of one server, or all) which stored patterns are not applied, and why.

        Once per deployment: only the process connected to the server's shard tells it, and only what it marked as
        reported first (several processes may connect the same shards; each pattern is marked by one). A server
        without a log channel is told when it gets one.
        """
        moderation = self.engine.moderation
        servers = 0
        for guild, patterns in (await moderation.unreported_inactive_patterns(guild_id)).items():
            if not self.engine.settings.connects_shard_of(guild):
                continue  # the process connected to that server's shard tells it
            marked, mark = await moderation.mark_inactive_reported(guild, [pattern for pattern, _ in patterns])
            told = [(pattern, problem) for pattern, problem in patterns if pattern in marked]
            if not told:
                continue  # another process on the same shard is telling it
            if await self.audit.notice_now(guild, inactive_patterns_text(told)):
                servers += 1
            else:
                await moderation.unmark_inactive_reported(guild, marked, mark)
        log.debug("Stored patterns that are not applied: told %d server(s) of this process's shards", servers)

    async def close(self) -> None:
        """Stop taking commands, stop the background services, then disconnect."""
        self.accepting = False
        # Posts and edits under way get a moment to finish; whatever is cut off resumes from the database.
        if self.background is not None:
            await self.background.stop()
        await self.audit.flush(SHUTDOWN_GRACE_SECONDS)
        await cancel(self._services)
        await super().close()

    def discord_health(self) -> HealthCheck:
        """Connected to Discord's gateway, every shard of this process."""
        if not self.is_ready() or self.is_closed():
            return HealthCheck(False, "not connected")
        down = sorted(shard_id for shard_id, shard in self.shards.items() if shard.is_closed())
        of = f"of {self.shard_count}"
        if down:
            return HealthCheck(False, f"shard {', '.join(map(str, down))} {of} not connected")
        return HealthCheck(True, f"connected: shard {', '.join(map(str, sorted(self.shards)))} {of}")

    def stopped_services(self) -> list[str]:
        """The background services (model list; poller, status editor, housekeeping) that have ended."""
        stopped = [task.get_name() for task in self._services if task.done()]
        return stopped + (self.background.stopped() if self.background is not None else [])

    async def reference_images(self, job: Job) -> tuple[list[tuple[str, bytes]], tuple[str, bytes] | None]:
        """A job's reference images and last frame, fetched again from its status message (stored URLs expire)."""
        if job.image_count == 0 and not job.has_last_frame:
            return [], None
        if job.channel_id is None or job.status_message_id is None:
            raise UserFacingError(_("This job's reference images are no longer available. Start a new one."))
        try:
            message = await self.get_partial_messageable(job.channel_id).fetch_message(job.status_message_id)
            files = reference_files(message)
            data = await references.read_attachments(files)
        except discord.HTTPException as exc:
            raise UserFacingError(
                _("This job's reference images are no longer available (its status message is gone). Start a new one.")
            ) from exc
        pairs = [(a.filename, blob) for a, blob in zip(files, data, strict=True)]
        images = [pair for pair in pairs if not pair[0].startswith(LAST_FRAME_STEM)]
        last = next((pair for pair in pairs if pair[0].startswith(LAST_FRAME_STEM)), None)
        return images, last
