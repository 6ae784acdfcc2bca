"""Who may generate where, and what may be asked: pauses, blocks, channels, roles, models and word filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.domain import ErrorKind
from bot.errors import UserFacingError
from bot.moderation.filters import DEFAULT_BLOCKED, BlockRule, WordFilter
from bot.storage.guilds import GuildStore, ListKind

OPERATOR_PAUSE: Final = "operator_pause"
GATEWAY_PAUSE: Final = "gateway_pause"
_GATEWAY_PAUSE_MESSAGES: Final = {
    ErrorKind.AUTH.value: "the video service rejected the bot's API key",
    ErrorKind.BALANCE.value: "the video service account has run out of balance",
}


class ModerationRefusal(UserFacingError):
    """A request refused by moderation; ``reason`` is for the audit log, ``strike`` whether it counts as one."""

    def __init__(self, user_message: str, reason: str, *, strike: bool = False) -> None:
        super().__init__(user_message)
        self.reason = reason
        self.strike = strike


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, and where."""

    guild_id: int
    user_id: int
    channel_id: int  # for a thread, its parent channel
    role_ids: frozenset[int]
    is_admin: bool = False  # Manage Server: not held back by the allowed-roles list


class ModerationService:
    """Checks a request against the operator's and the server's rules; every refusal says what to do."""

    def __init__(self, store: GuildStore) -> None:
        self.store = store

    async def check(self, who: Requester, prompt: str, model: str) -> None:
        """Raise ModerationRefusal unless this member may generate this prompt with this model here, now."""
        await self.check_open(who.guild_id)
        store = self.store
        blocked, note = await store.list_note(who.guild_id, ListKind.BLOCKED_USER, str(who.user_id))
        if blocked:
            why = f" Reason given: {note}." if note else ""
            raise ModerationRefusal(f"You are not allowed to make videos on this server.{why}", "blocked user")
        channels = {int(v) for v, _ in await store.entries(who.guild_id, ListKind.ALLOWED_CHANNEL)}
        if channels and who.channel_id not in channels:
            where = ", ".join(f"<#{c}>" for c in sorted(channels))
            raise ModerationRefusal(f"Videos can't be made in this channel. Use {where}.", "channel not allowed")
        roles = {int(v) for v, _ in await store.entries(who.guild_id, ListKind.ALLOWED_ROLE)}
        if roles and not who.is_admin and not roles & who.role_ids:
            names = ", ".join(f"<@&{r}>" for r in sorted(roles))
            raise ModerationRefusal(
                f"Making videos here is for members with one of these roles: {names}.", "role not allowed"
            )
        disabled, _ = await store.list_note(who.guild_id, ListKind.DISABLED_MODEL, model)
        if disabled:
            raise ModerationRefusal(
                f"The model {model} is turned off on this server. Pick another one (/video models).", "model disabled"
            )
        rule = (await self.word_filter(who.guild_id)).match(prompt)
        if rule is not None:
            raise ModerationRefusal(
                "Your prompt contains a word or phrase this server does not allow. Rephrase it and try again.",
                f"blocked {'pattern' if rule.is_regex else 'word'} ({rule.source}): {rule.pattern}",
                strike=True,
            )

    async def check_open(self, guild_id: int) -> None:
        """Raise ModerationRefusal while the operator, the gateway or the server has paused generation."""
        if (reason := await self.store.get_flag(OPERATOR_PAUSE)) is not None:
            raise ModerationRefusal(
                f"Video generation is paused by the bot's operator ({reason}). Try again later.", "operator pause"
            )
        if (kind := await self.store.get_flag(GATEWAY_PAUSE)) is not None:
            what = _GATEWAY_PAUSE_MESSAGES.get(kind, "the video service refused the bot")
            raise ModerationRefusal(
                f"Video generation is paused: {what}. The operator has been told; try again later.", "gateway pause"
            )
        config = await self.store.config(guild_id)
        if config.paused:
            why = f" ({config.pause_reason})" if config.pause_reason else ""
            raise ModerationRefusal(
                f"Video generation is paused on this server{why}. A moderator can resume it.", "server pause"
            )

    async def word_filter(self, guild_id: int) -> WordFilter:
        """The operator's default list plus the server's own words and patterns."""
        rules = [BlockRule(word, is_regex=False, source="global") for word in DEFAULT_BLOCKED]
        rules += [
            BlockRule(v, is_regex=False, source="server")
            for v, _ in await self.store.entries(guild_id, ListKind.BLOCKED_WORD)
        ]
        rules += [
            BlockRule(v, is_regex=True, source="server")
            for v, _ in await self.store.entries(guild_id, ListKind.BLOCKED_REGEX)
        ]
        return WordFilter.from_rules(rules)

    async def pause_for_gateway(self, kind: ErrorKind) -> bool:
        """Pause all new submissions after the gateway rejected the key or ran out of balance.

        Returns True only the first time, so owners and audit logs are told once, not once per job.
        """
        if kind.value not in _GATEWAY_PAUSE_MESSAGES:
            return False
        if await self.store.get_flag(GATEWAY_PAUSE) is not None:
            return False
        return await self.store.set_flag(GATEWAY_PAUSE, kind.value)

    async def set_operator_pause(self, reason: str | None) -> bool:
        """Pause (reason given) or resume (None) every server; resuming also lifts a gateway pause."""
        if reason is None:
            lifted = await self.store.set_flag(GATEWAY_PAUSE, None)
            return await self.store.set_flag(OPERATOR_PAUSE, None) or lifted
        return await self.store.set_flag(OPERATOR_PAUSE, reason)


def gateway_pause_text(kind: ErrorKind) -> str:
    """What owners and audit logs are told when the gateway pauses generation."""
    what = _GATEWAY_PAUSE_MESSAGES.get(kind.value, "the video service refused the bot")
    return (
        f"New video submissions are paused on every server: {what}. Fix it on the gateway, then an owner runs "
        "/video-admin operator resume."
    )
