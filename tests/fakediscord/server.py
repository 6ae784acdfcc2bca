"""FakeDiscord: the aiohttp app (REST + gateway + CDN) and its lifecycle on an ephemeral local port."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Self

from aiohttp import web

from . import commands, rest_channels, rest_interactions, rest_messages, rest_misc
from .cdn import CDN
from .commands import CommandRegistry
from .faults import FaultInjector
from .gateway_session import PRIVILEGED
from .gateway_ws import Gateway
from .interaction_builder import InteractionBuilder
from .interactions import InteractionRecord
from .messages import MessageService
from .models import User
from .ratelimits import RateLimits
from .rest_common import API_PREFIX, FAKE_KEY, RequestRecord, api_middleware
from .state import GuildSpec, State

log = logging.getLogger(__name__)
DEFAULT_APP_FLAGS = (1 << 19) | (1 << 23)  # GATEWAY_MESSAGE_CONTENT_LIMITED | APPLICATION_COMMAND_BADGE


class FakeServer:
    """Owns the state, the gateway and the HTTP server; ``FakeDiscord`` adds the test-facing helpers."""

    def __init__(
        self,
        token: str = "fake-bot-token",
        app_id: int | None = None,
        guilds: Sequence[GuildSpec | str] | None = None,
        *,
        bot_name: str = "Reelbot",
        heartbeat_interval_ms: int = 41250,
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60,
        cdn_url_ttl: float = 24 * 3600,
        rate_limited: bool = True,
        allowed_intents: int = PRIVILEGED,
        app_flags: int = DEFAULT_APP_FLAGS,
        archived_thread_policy: str = "unarchive",
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        max_guilds_per_shard: int = 2500,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.state = State(bot_user=User(id=0, username=bot_name, bot=True))
        bot = self.state.bot_user
        bot.id = self.state.ids.next()
        self.state.users = {bot.id: bot}
        self.app_id = app_id if app_id is not None else bot.id
        self.app_flags = app_flags
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.archived_thread_policy = archived_thread_policy
        self.host, self.port = host, port
        self.owner_user = self.state.create_user("guild-owner")
        self.default_user = self.state.create_user("tester")
        self.cdn = CDN(self.state, cdn_url_ttl)
        self.messages_service = MessageService(self.state, self.cdn)
        self.commands_registry = CommandRegistry(self.app_id, self.state.ids)
        self.faults = FaultInjector()
        self.rate_limits = RateLimits()  # Discord's limits; tests tighten, loosen or switch them off here
        self.rate_limits.enabled = rate_limited
        self.requests: list[RequestRecord] = []
        self.interaction_records: dict[int, InteractionRecord] = {}
        self.records_by_token: dict[str, InteractionRecord] = {}
        self.builder = InteractionBuilder(self)
        self.gateway = Gateway(
            state=self.state,
            token=token,
            app_id=self.app_id,
            app_flags=app_flags,
            heartbeat_interval_ms=heartbeat_interval_ms,
            allowed_intents=allowed_intents,
            recommended_shards=recommended_shards,
            max_concurrency=max_concurrency,
            max_guilds_per_shard=max_guilds_per_shard,
        )
        self.state.emit = self._emit
        for spec in guilds if guilds is not None else [GuildSpec()]:
            spec = GuildSpec(name=spec) if isinstance(spec, str) else spec
            self.state.create_guild(spec, owner=self.owner_user, members=[self.default_user])
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def _emit(self, event: str, data: dict[str, Any], guild_id: int | None) -> None:
        self.gateway.dispatch(event, data, guild_id)

    # --- lifecycle ----------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[api_middleware], client_max_size=1024**3)
        app[FAKE_KEY] = self
        for module in (rest_misc, commands, rest_messages, rest_channels, rest_interactions):
            module.setup(app)
        cdn_path = "/{kind:attachments|ephemeral-attachments}/{parent_id:\\d+}/{attachment_id:\\d+}/{filename}"
        app.router.add_get(cdn_path, self.cdn.serve)
        app.router.add_get("/", self.gateway.handle)
        return app

    async def start(self) -> None:
        """Start serving on ``host`` (an ephemeral port unless ``port`` was given)."""
        self._runner = web.AppRunner(self._make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{self.host}:{self.port}"
        self.cdn.base_url = self.base_url
        self.gateway.url = self.gateway_url
        log.info("fake Discord listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close gateway connections and stop the HTTP server."""
        await self.gateway.disconnect(1001, "Fake Discord shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def rest_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (wrap it in ``yarl.URL``)."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def bot_user(self) -> User:
        """The bot's user."""
        return self.state.bot_user

    def token_expired(self, rec: InteractionRecord) -> bool:
        """Whether an interaction token is past its lifetime (or was expired by ``expire_token``)."""
        return time.monotonic() >= rec.expires_at
