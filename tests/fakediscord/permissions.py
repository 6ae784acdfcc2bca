"""Discord permission bits and the permission resolution algorithm (base, then channel overwrites)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class P:
    """Permission bit flags (values from Discord's docs, same as discord.Permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EXTERNAL_APPS = 1 << 50
    ALL = (1 << 53) - 1


DEFAULT_EVERYONE = (
    P.CREATE_INSTANT_INVITE
    | P.ADD_REACTIONS
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.USE_EXTERNAL_EMOJIS
    | P.CONNECT
    | P.SPEAK
    | P.CHANGE_NICKNAME
    | P.USE_APPLICATION_COMMANDS
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.USE_EXTERNAL_STICKERS
    | P.SEND_MESSAGES_IN_THREADS
    | P.USE_EXTERNAL_APPS
)

DEFAULT_BOT = (
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
    | P.USE_EXTERNAL_EMOJIS
    | P.CREATE_PUBLIC_THREADS
    | P.SEND_MESSAGES_IN_THREADS
)


def perms(*names: str) -> int:
    """Combine permission names (case-insensitive, e.g. ``"send_messages"``) into a bit field."""
    value = 0
    for name in names:
        value |= getattr(P, name.upper())
    return value


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 is a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, object]:
        """Return the overwrite as Discord sends it."""
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


def base_permissions(
    *, guild_id: int, owner_id: int, user_id: int, role_ids: Iterable[int], role_perms: dict[int, int]
) -> int:
    """Guild-level permissions of a member: @everyone plus their roles; owner and ADMINISTRATOR get all."""
    if user_id == owner_id:
        return P.ALL
    value = role_perms.get(guild_id, 0)
    for rid in role_ids:
        value |= role_perms.get(rid, 0)
    if value & P.ADMINISTRATOR:
        return P.ALL
    return value


def apply_overwrites(
    base: int, *, guild_id: int, user_id: int, role_ids: Iterable[int], overwrites: Iterable[Overwrite]
) -> int:
    """Apply channel overwrites in Discord's order: @everyone, then roles combined, then the member."""
    if base & P.ADMINISTRATOR or base == P.ALL:
        return P.ALL
    ows = list(overwrites)
    roles = set(role_ids)
    value = base
    for ow in ows:
        if ow.type == 0 and ow.id == guild_id:
            value = (value & ~ow.deny) | ow.allow
    allow = deny = 0
    for ow in ows:
        if ow.type == 0 and ow.id in roles:
            allow |= ow.allow
            deny |= ow.deny
    value = (value & ~deny) | allow
    for ow in ows:
        if ow.type == 1 and ow.id == user_id:
            value = (value & ~ow.deny) | ow.allow
    if not value & P.VIEW_CHANNEL:
        return 0
    return value
