"""FakeDiscord: the public test API (world setup, inspection, waiting, gateway control, fault injection)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .commands import CommandSync
from .faults import Fault
from .interactions_api import InteractionsMixin
from .message_models import Message
from .models import TEXT, Channel, Guild, Member, Role, User
from .multipart import UploadedFile
from .permissions import Overwrite
from .rest_common import RequestRecord
from .server import FakeServer
from .state import GuildSpec

MessagePredicate = Callable[[Message], bool]


class FakeDiscord(FakeServer, InteractionsMixin):
    """A fake Discord (REST v10 + gateway + CDN) for end-to-end tests of a real discord.py bot.

    Use ``async with FakeDiscord(token=..., app_id=..., guilds=[...]) as fake:``; point discord.py at
    ``fake.rest_base`` and ``fake.gateway_url``. By default there is one guild "Test Guild" with a
    ``#general`` channel, the bot, ``fake.owner_user`` (guild owner) and ``fake.default_user`` (a member).
    Sharded like Discord: ``recommended_shards`` is what ``/gateway/bot`` answers, ``GuildSpec(shard=(id, count))``
    gives a guild an id in that shard, and each session gets only its shard's guilds, events and interactions.
    """

    # --- world setup --------------------------------------------------------------------------------

    @property
    def guilds(self) -> list[Guild]:
        """All guilds."""
        return list(self.state.guilds.values())

    @property
    def guild(self) -> Guild:
        """The first guild."""
        return self.guilds[0]

    def channel(self, channel_id: int | None = None, name: str | None = None) -> Channel:
        """A channel by id, or by name (any guild); without arguments the first guild's first text channel."""
        if channel_id is not None:
            return self.state.channels[channel_id]
        if name is not None:
            return next(c for c in self.state.channels.values() if c.name == name and not c.deleted)
        return self.state.text_channels(self.guild.id)[0]

    def create_guild(self, name: str = "Test Guild", **spec: Any) -> Guild:
        """Create a guild (see GuildSpec for options) and send GUILD_CREATE to connected bots."""
        guild = self.state.create_guild(
            GuildSpec(name=name, **spec), owner=self.owner_user, members=[self.default_user]
        )
        self.gateway.dispatch("GUILD_CREATE", self.state.guild_create_payload(guild, app_id=self.app_id), guild.id)
        return guild

    def create_channel(self, guild_id: int, name: str, *, type: int = TEXT) -> Channel:
        """Create a channel (text by default); sends CHANNEL_CREATE."""
        return self.state.create_channel(guild_id, name, type=type)

    def create_user(self, name: str, *, guild_ids: Iterable[int] | None = None, bot: bool = False) -> User:
        """Create a user and make them a member of ``guild_ids`` (default: every guild)."""
        user = self.state.create_user(name, bot=bot)
        for gid in self.state.guilds if guild_ids is None else guild_ids:
            self.state.add_member(gid, user)
        return user

    def add_member(
        self, guild_id: int, user_id: int, *, role_ids: Iterable[int] = (), nick: str | None = None
    ) -> Member:
        """Add (or update) a member of a guild with roles."""
        return self.state.add_member(guild_id, self.state.users[user_id], role_ids=role_ids, nick=nick)

    def create_role(self, guild_id: int, name: str, permissions: int = 0) -> Role:
        """Create a role with a permission bit field (see ``permissions.P`` / ``perms``)."""
        return self.state.create_role(guild_id, name, permissions)

    def set_bot_permissions(self, channel_id: int, *, deny: int = 0, allow: int = 0) -> None:
        """Set a member overwrite for the bot on a channel (threads use their parent's); sends CHANNEL_UPDATE.

        E.g. ``deny=P.SEND_MESSAGES | P.ATTACH_FILES``. Routes then answer 403/50013 and interactions in that
        channel carry the reduced ``app_permissions``.
        """
        self.set_member_permissions(channel_id, self.state.bot_user.id, deny=deny, allow=allow)

    def set_member_permissions(self, channel_id: int, user_id: int, *, deny: int = 0, allow: int = 0) -> None:
        """Set (or, with neither, remove) a member overwrite on a channel or a thread's parent; sends CHANNEL_UPDATE."""
        channel = self.state.thread_parent(self.state.channels[channel_id])
        channel.overwrites = [ow for ow in channel.overwrites if not (ow.type == 1 and ow.id == user_id)]
        if deny or allow:
            channel.overwrites.append(Overwrite(id=user_id, type=1, allow=allow, deny=deny))
        self.state.emit("CHANNEL_UPDATE", self.state.channel_payload(channel), channel.guild_id)

    def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> None:
        """Change a role's permissions (the bot's managed role is ``bot_role(guild_id)``); sends GUILD_ROLE_UPDATE."""
        role = self.state.guilds[guild_id].roles[role_id]
        role.permissions = permissions
        self.state.emit("GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": role.payload()}, guild_id)

    def bot_role(self, guild_id: int) -> Role:
        """The bot's managed role in a guild."""
        return next(r for r in self.state.guilds[guild_id].roles.values() if r.bot_id == self.state.bot_user.id)

    def set_premium_tier(self, guild_id: int, tier: int, *, upload_limit: int | None = None) -> None:
        """Change a guild's boost tier (and so its upload limit: 10/10/50/100 MiB); sends GUILD_UPDATE."""
        guild = self.state.guilds[guild_id]
        guild.premium_tier, guild.upload_limit_override = tier, upload_limit
        self.state.emit("GUILD_UPDATE", guild.payload(app_id=self.app_id), guild_id)

    def set_upload_limit(self, guild_id: int, limit: int | None) -> None:
        """Override a guild's per-attachment upload limit in bytes (None restores the tier's limit)."""
        self.state.guilds[guild_id].upload_limit_override = limit

    def set_dms_open(self, user_id: int, is_open: bool) -> None:
        """Whether the bot may DM a user (closed DMs answer 403/50007)."""
        self.state.users[user_id].dms_open = is_open

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel or thread as a moderator would; sends CHANNEL_DELETE / THREAD_DELETE."""
        self.state.delete_channel(self.state.channels[channel_id])

    def archive_thread(self, thread_id: int, *, archived: bool = True, locked: bool = False) -> None:
        """Archive (and optionally lock) a thread as a moderator or auto-archive would; sends THREAD_UPDATE."""
        self.state.set_thread_archived(self.state.channels[thread_id], archived=archived, locked=locked)

    def post_user_message(
        self,
        channel_id: int,
        content: str,
        *,
        user_id: int | None = None,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> Message:
        """Post a message as a user (default ``default_user``); sends MESSAGE_CREATE."""
        user = self.state.users[user_id] if user_id is not None else self.default_user
        uploads = [UploadedFile(f"files[{i}]", name, None, data) for i, (name, data) in enumerate(files)]
        return self.messages_service.create(
            self.state.channels[channel_id], user, {"content": content}, uploads, limit=1 << 40
        )

    def expire_cdn_urls(self) -> None:
        """Make every attachment URL issued so far expire (the CDN then answers 404)."""
        self.cdn.expire_all()

    # --- inspection ---------------------------------------------------------------------------------

    def messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[Message]:
        """Live messages of a channel or thread, oldest first."""
        return self.state.guild_messages(channel_id, include_ephemeral=include_ephemeral)

    def message(self, message_id: int) -> Message:
        """Any stored message (also deleted or ephemeral ones) by id."""
        return self.state.messages[message_id]

    def threads(self, guild_id: int | None = None) -> list[Channel]:
        """Live threads, optionally of one guild."""
        return self.state.threads(guild_id)

    def attachment_bytes(self, attachment_id_or_url: int | str) -> bytes:
        """The stored bytes of an attachment, by id or by its URL."""
        if isinstance(attachment_id_or_url, str):
            match = re.search(r"/(\d+)/[^/?]+(?:\?|$)", attachment_id_or_url)
            assert match is not None, attachment_id_or_url
            attachment_id_or_url = int(match.group(1))
        return self.state.attachments[attachment_id_or_url].data

    def requests_to(self, method: str = "*", pattern: str | re.Pattern[str] = "*") -> list[RequestRecord]:
        """Recorded REST requests matching a method and a path glob/regex (after ``/api/v10``)."""
        probe = Fault(method=method.upper(), path=pattern, kind="error")
        return [r for r in self.requests if probe.matches(r.method, r.path)]

    @property
    def command_syncs(self) -> list[CommandSync]:
        """Every bulk command overwrite (what ``tree.sync()`` sends), oldest first."""
        return self.commands_registry.syncs

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Registered commands: global ones, or a guild's."""
        return self.commands_registry.commands_in(guild_id)

    def sync_count(self, guild_id: int | None = None) -> int:
        """How many times the commands of a scope (None = global) were bulk-overwritten."""
        return self.commands_registry.sync_count(guild_id)

    # --- waiting ------------------------------------------------------------------------------------

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        **kw: bool,
    ) -> Message:
        """The first live message in a channel (already there or future) matching ``predicate``."""

        def probe() -> Message | None:
            msgs = self.messages(channel_id, include_ephemeral=kw.get("include_ephemeral", False))
            return next((m for m in msgs if predicate is None or predicate(m)), None)

        return await self.state.changed.wait_for(probe, timeout, f"a message in channel {channel_id}")

    async def wait_for_thread(
        self,
        predicate: Callable[[Channel], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Channel:
        """The first live thread matching ``predicate``."""

        def probe() -> Channel | None:
            return next((t for t in self.threads() if predicate is None or predicate(t)), None)

        return await self.state.changed.wait_for(probe, timeout, "a thread")

    async def wait_for_request(
        self,
        method: str = "*",
        pattern: str | re.Pattern[str] = "*",
        timeout: float = 5.0,  # noqa: ASYNC109
        count: int = 1,
    ) -> list[RequestRecord]:
        """Wait until at least ``count`` answered requests match; returns all matching ones."""

        def probe() -> list[RequestRecord] | None:
            found = [r for r in self.requests_to(method, pattern) if r.status]
            return found if len(found) >= count else None

        return await self.state.changed.wait_for(probe, timeout, f"{count} request(s) {method} {pattern}")

    async def wait_connected(self, timeout: float = 10.0, *, shard_id: int | None = None) -> None:  # noqa: ASYNC109
        """Wait until a bot has identified (or resumed) and is connected to the gateway (as ``shard_id``, if given)."""
        what = "a gateway session" if shard_id is None else f"a gateway session of shard {shard_id}"
        await self.state.changed.wait_for(lambda: bool(self.gateway.live_sessions(shard_id)), timeout, what)

    # --- gateway control ----------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any], guild_id: int | None = None) -> int:
        """Send any dispatch event to connected sessions (intent-filtered); returns how many got it."""
        return self.gateway.dispatch(event, data, guild_id)

    async def disconnect(self, code: int = 4000, reason: str = "") -> None:
        """Close every gateway connection with a close code (4000 lets discord.py resume)."""
        await self.gateway.disconnect(code, reason)

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT."""
        self.gateway.request_reconnect()

    def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION."""
        self.gateway.invalidate_sessions(resumable)

    # --- fault injection ----------------------------------------------------------------------------

    def inject_rate_limit(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        times: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> Fault:
        """The next ``times`` matching requests answer 429 with ``retry_after`` (and are not carried out)."""
        return self.faults.add(Fault(method.upper(), path, "rate_limit", times, 429, retry_after, is_global))

    def hold_requests(self, method: str, path: str | re.Pattern[str], *, times: int = 1) -> Fault:
        """The next ``times`` matching requests wait, unanswered, until ``fault.released`` is set; then they are
        carried out and answered as usual."""
        return self.faults.add(Fault(method.upper(), path, "held", times))

    def hold_answers(
        self, method: str, path: str | re.Pattern[str], *, times: int = 1, with_files_only: bool = False
    ) -> Fault:
        """The next ``times`` matching requests (those uploading files, if ``with_files_only``) are carried out at
        once, but answered only once ``fault.released`` is set: the moment between Discord accepting a request and
        the client hearing of it."""
        return self.faults.add(Fault(method.upper(), path, "answer_held", times, with_files_only=with_files_only))

    def inject_error(
        self, method: str, path: str | re.Pattern[str], *, status: int = 502, times: int = 1, html: bool = True
    ) -> Fault:
        """The next ``times`` matching requests answer ``status`` (HTML body by default) without any effect."""
        return self.faults.add(Fault(method.upper(), path, "error", times, status, html=html))

    def inject_lost_response(
        self, method: str, path: str | re.Pattern[str], *, status: int = 502, times: int = 1, html: bool = True
    ) -> Fault:
        """The next ``times`` matching requests are carried out, but answered with ``status`` (a lost response)."""
        return self.faults.add(Fault(method.upper(), path, "lost", times, status, html=html))

    def clear_faults(self) -> None:
        """Remove all injected faults."""
        self.faults.clear()
