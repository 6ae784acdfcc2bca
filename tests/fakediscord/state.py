"""The fake's world: users, guilds, channels, threads, messages and stored uploads, kept in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .message_models import Attachment, Message
from .models import CATEGORY, DM, TEXT, Channel, Guild, Member, Role, User
from .permissions import DEFAULT_BOT, DEFAULT_EVERYONE, P, apply_overwrites, base_permissions
from .util import Notifier, SnowflakeGenerator, iso

DM_PERMISSIONS = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS | P.ATTACH_FILES | P.READ_MESSAGE_HISTORY
Emitter = Callable[[str, dict[str, Any], "int | None"], None]


@dataclass
class GuildSpec:
    """Describes a guild to create when the fake starts."""

    name: str = "Test Guild"
    channels: tuple[str, ...] = ("general",)
    premium_tier: int = 0
    upload_limit: int | None = None
    bot_permissions: int = DEFAULT_BOT
    everyone_permissions: int = DEFAULT_EVERYONE
    shard: tuple[int, int] | None = None  # (shard id, shard count): an id Discord routes to that shard


@dataclass
class State:
    """All objects of the fake Discord, plus a notifier woken on every change."""

    bot_user: User
    ids: SnowflakeGenerator = field(default_factory=SnowflakeGenerator)
    users: dict[int, User] = field(default_factory=dict)
    guilds: dict[int, Guild] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)
    channel_messages: dict[int, list[int]] = field(default_factory=dict)
    attachments: dict[int, Attachment] = field(default_factory=dict)
    changed: Notifier = field(default_factory=Notifier)
    emit: Emitter = field(default=lambda event, data, guild_id: None)

    def __post_init__(self) -> None:
        self.users[self.bot_user.id] = self.bot_user

    # --- creation -----------------------------------------------------------------------------------

    def create_user(self, username: str, *, bot: bool = False) -> User:
        """Create a user (not yet a member of any guild)."""
        user = User(id=self.ids.next(), username=username, bot=bot, global_name=None if bot else username.title())
        self.users[user.id] = user
        return user

    def create_guild(self, spec: GuildSpec, *, owner: User, members: Iterable[User] = ()) -> Guild:
        """Create a guild with @everyone, the bot's managed role, the bot as member and the spec's channels."""
        guild_id = self.ids.next() if spec.shard is None else self.ids.next_in_shard(*spec.shard)
        guild = Guild(id=guild_id, name=spec.name, owner_id=owner.id, premium_tier=spec.premium_tier)
        guild.upload_limit_override = spec.upload_limit
        guild.roles[guild.id] = Role(id=guild.id, name="@everyone", permissions=spec.everyone_permissions)
        bot_role = Role(
            id=self.ids.next(),
            name=self.bot_user.username,
            permissions=spec.bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        self.guilds[guild.id] = guild
        guild.members[self.bot_user.id] = Member(user=self.bot_user, role_ids=[bot_role.id])
        for user in (owner, *members):
            guild.members.setdefault(user.id, Member(user=user))
        for name in spec.channels:
            self.create_channel(guild.id, name)
        return guild

    def create_channel(self, guild_id: int, name: str, *, type: int = TEXT, parent_id: int | None = None) -> Channel:
        """Create a guild channel (text by default) and announce it with CHANNEL_CREATE."""
        guild = self.guilds[guild_id]
        position = sum(1 for cid in guild.channel_ids if self.channels[cid].type == type)
        channel = Channel(id=self.ids.next(), type=type, guild_id=guild_id, name=name, position=position)
        channel.parent_id = parent_id
        self.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        self.emit("CHANNEL_CREATE", self.channel_payload(channel), guild_id)
        self.changed.notify()
        return channel

    def create_role(self, guild_id: int, name: str, permissions: int) -> Role:
        """Create a role in a guild."""
        guild = self.guilds[guild_id]
        role = Role(id=self.ids.next(), name=name, permissions=permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        self.emit("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role.payload()}, guild_id)
        return role

    def add_member(self, guild_id: int, user: User, *, role_ids: Iterable[int] = (), nick: str | None = None) -> Member:
        """Add a user to a guild (or update their roles)."""
        guild = self.guilds[guild_id]
        existing = guild.members.get(user.id)
        member = Member(user=user, role_ids=list(role_ids), nick=nick)
        if existing is not None:
            member.joined_at = existing.joined_at
        guild.members[user.id] = member
        event = "GUILD_MEMBER_UPDATE" if existing is not None else "GUILD_MEMBER_ADD"
        self.emit(event, {**member.payload(), "guild_id": str(guild_id)}, guild_id)
        return member

    def open_dm(self, user_id: int) -> Channel:
        """Return (creating if needed) the DM channel between the bot and a user."""
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient_ids == [user_id] and not channel.deleted:
                return channel
        channel = Channel(id=self.ids.next(), type=DM, guild_id=None, recipient_ids=[user_id])
        self.channels[channel.id] = channel
        return channel

    # --- lookups ------------------------------------------------------------------------------------

    def channel(self, channel_id: int) -> Channel | None:
        """Return a live (not deleted) channel or thread."""
        channel = self.channels.get(channel_id)
        return None if channel is None or channel.deleted else channel

    def thread_parent(self, channel: Channel) -> Channel:
        """Return the channel whose permission overwrites apply (the parent for threads)."""
        if channel.is_thread and channel.parent_id in self.channels:
            return self.channels[channel.parent_id]
        return channel

    def permissions_for(self, channel: Channel, user_id: int) -> int:
        """Compute a user's permissions in a channel or thread, including implicit denials."""
        if channel.guild_id is None:
            return DM_PERMISSIONS if user_id in (*channel.recipient_ids, self.bot_user.id) else 0
        guild = self.guilds[channel.guild_id]
        member = guild.members.get(user_id)
        if member is None:
            return 0
        role_perms = {rid: role.permissions for rid, role in guild.roles.items()}
        base = base_permissions(
            guild_id=guild.id, owner_id=guild.owner_id, user_id=user_id, role_ids=member.role_ids, role_perms=role_perms
        )
        target = self.thread_parent(channel)
        value = apply_overwrites(
            base, guild_id=guild.id, user_id=user_id, role_ids=member.role_ids, overwrites=target.overwrites
        )
        sending = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
        if value != P.ALL and not value & sending:
            value &= ~(P.EMBED_LINKS | P.ATTACH_FILES | P.MENTION_EVERYONE)
        return value

    def guild_messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[Message]:
        """Messages of a channel, oldest first, without deleted (and by default ephemeral) ones."""
        out = []
        for mid in self.channel_messages.get(channel_id, []):
            msg = self.messages[mid]
            if msg.deleted or (msg.ephemeral and not include_ephemeral):
                continue
            out.append(msg)
        return out

    def threads(self, guild_id: int | None = None) -> list[Channel]:
        """All live threads, optionally of one guild."""
        return [
            c
            for c in self.channels.values()
            if c.is_thread and not c.deleted and (guild_id is None or c.guild_id == guild_id)
        ]

    # --- mutations ----------------------------------------------------------------------------------

    def store_message(self, msg: Message) -> None:
        """Store a new message and update channel and thread counters."""
        self.messages[msg.id] = msg
        self.channel_messages.setdefault(msg.channel_id, []).append(msg.id)
        channel = self.channels.get(msg.channel_id)
        if channel is not None and not msg.ephemeral:
            channel.last_message_id = msg.id
            if channel.is_thread:
                channel.message_count += 1
                channel.total_message_sent += 1
        self.changed.notify()

    def set_thread_archived(self, thread: Channel, *, archived: bool, locked: bool | None = None) -> None:
        """Archive or unarchive (and optionally lock) a thread; announces THREAD_UPDATE."""
        thread.archived = archived
        if locked is not None:
            thread.locked = locked
        thread.archive_timestamp = iso()
        self.emit("THREAD_UPDATE", self.channel_payload(thread), thread.guild_id)
        self.changed.notify()

    def delete_channel(self, channel: Channel) -> None:
        """Delete a channel (with its threads) or a thread; announces CHANNEL_DELETE / THREAD_DELETE."""
        channel.deleted = True
        if channel.is_thread:
            data = {"id": str(channel.id), "guild_id": str(channel.guild_id), "type": channel.type}
            data["parent_id"] = str(channel.parent_id)
            self.emit("THREAD_DELETE", data, channel.guild_id)
        elif channel.guild_id is not None:
            for thread in self.threads(channel.guild_id):
                if thread.parent_id == channel.id:
                    thread.deleted = True
            self.emit("CHANNEL_DELETE", self.channel_payload(channel), channel.guild_id)
        self.changed.notify()

    # --- payloads -----------------------------------------------------------------------------------

    def channel_payload(self, channel: Channel) -> dict[str, Any]:
        """Channel object as the bot sees it."""
        return channel.payload(me_id=self.bot_user.id, users=self.users)

    def message_payload(self, msg: Message) -> dict[str, Any]:
        """Message object with its ``thread`` (if one was started from it)."""
        thread = self.channels.get(msg.thread_id) if msg.thread_id else None
        thread_payload = self.channel_payload(thread) if thread is not None and not thread.deleted else None
        return msg.payload(thread=thread_payload)

    def message_event_payload(self, msg: Message) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE payload: the message plus a partial ``member`` of the author in guilds."""
        data = self.message_payload(msg)
        if msg.guild_id is not None and msg.webhook_id is None:
            member = self.guilds[msg.guild_id].members.get(msg.author.id)
            if member is not None:
                partial = member.payload()
                partial.pop("user")
                data["member"] = partial
        return data

    def guild_create_payload(self, guild: Guild, *, app_id: int, all_members: bool = False) -> dict[str, Any]:
        """GUILD_CREATE payload: guild object plus members, channels, active threads and gateway fields.

        Like Discord, ``members`` only holds the bot unless the session has the GUILD_PRESENCES intent.
        """
        members = [m for m in guild.members.values() if all_members or m.user.id == self.bot_user.id]
        channels = [self.channels[cid] for cid in guild.channel_ids if not self.channels[cid].deleted]
        threads = [t for t in self.threads(guild.id) if not t.archived]
        return {
            **guild.payload(app_id=app_id),
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(guild.members),
            "members": [m.payload() for m in members],
            "channels": [self.channel_payload(c) for c in channels],
            "threads": [self.channel_payload(t) for t in threads],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "version": 0,
        }

    def text_channels(self, guild_id: int) -> list[Channel]:
        """Live text channels of a guild, in creation order."""
        guild = self.guilds[guild_id]
        return [
            self.channels[cid]
            for cid in guild.channel_ids
            if self.channels[cid].type not in (CATEGORY,) and not self.channels[cid].deleted
        ]
