"""Who may generate where, and what may be asked: pauses, blocks, channels, roles, models and word filters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from bot.domain import ErrorKind
from bot.errors import UserFacingError
from bot.locales import Text, _
from bot.moderation.filters import DEFAULT_BLOCKED, BlockRule, WordFilter, validate_rule
from bot.storage.guilds import GuildStore, ListKind

log = logging.getLogger(__name__)

# The longest a prompt's word check may take; it takes milliseconds, so reaching this means something is wrong.
FILTER_TIMEOUT_SECONDS: Final = 5.0
# Checks run off the event loop (RE2 releases the GIL while it matches), so none holds up other servers or the
# Discord heartbeat. A fixed pool: were checks ever stuck, later ones would wait and time out, not add threads.
FILTER_THREADS: Final = 2
OPERATOR_PAUSE: Final = "operator_pause"
GATEWAY_PAUSE: Final = "gateway_pause"
_GATEWAY_PAUSE_MESSAGES: Final = {
    ErrorKind.AUTH.value: _("the video service rejected the bot's API key"),
    ErrorKind.BALANCE.value: _("the video service account has run out of balance"),
}
_GATEWAY_REFUSED: Final = _("the video service refused the bot")


class ModerationRefusal(UserFacingError):
    """A request refused by moderation; ``reason`` is for the audit log, ``strike`` whether it counts as one."""

    def __init__(self, user_message: Text | str, reason: str, *, strike: bool = False) -> None:
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

    def __init__(self, store: GuildStore, *, filter_timeout: float = FILTER_TIMEOUT_SECONDS) -> None:
        self.store = store
        self._filter_timeout = filter_timeout
        self._filter_threads = ThreadPoolExecutor(FILTER_THREADS, thread_name_prefix="word-filter")

    def close(self) -> None:
        """Stop the word-filter threads (a check under way is left to finish on its own)."""
        self._filter_threads.shutdown(wait=False, cancel_futures=True)

    async def check(self, who: Requester, prompt: str, model: str) -> None:
        """Raise ModerationRefusal unless this member may generate this prompt with this model here, now."""
        await self.check_open(who.guild_id)
        store = self.store
        blocked = await self._blocked_member(who.guild_id, who.user_id)
        if blocked is not None:
            raise blocked
        channels = {int(v) for v, _ in await store.entries(who.guild_id, ListKind.ALLOWED_CHANNEL)}
        if channels and who.channel_id not in channels:
            where = ", ".join(f"<#{c}>" for c in sorted(channels))
            raise ModerationRefusal(
                _("Videos can't be made in this channel. Use {where}.", where=where), "channel not allowed"
            )
        roles = {int(v) for v, _ in await store.entries(who.guild_id, ListKind.ALLOWED_ROLE)}
        if roles and not who.is_admin and not roles & who.role_ids:
            names = ", ".join(f"<@&{r}>" for r in sorted(roles))
            raise ModerationRefusal(
                _("Making videos here is for members with one of these roles: {names}.", names=names),
                "role not allowed",
            )
        forbidden = await self._forbidden_ask(who.guild_id, prompt, model)
        if forbidden is not None:
            raise forbidden

    async def refusal_now(self, guild_id: int, user_id: int, prompt: str, model: str) -> ModerationRefusal | None:
        """For a job waiting in the queue: the refusal it would get now from a block, a disabled model or the word
        filters (the server's rules may have changed since it was accepted), or None. A word check that overruns
        raises its refusal (the caller tries again later)."""
        return await self._blocked_member(guild_id, user_id) or await self._forbidden_ask(guild_id, prompt, model)

    async def paused(self, guild_id: int) -> ModerationRefusal | None:
        """The pause (the operator's, the gateway's or the server's) that holds generation here now, or None."""
        try:
            await self.check_open(guild_id)
        except ModerationRefusal as refusal:
            return refusal
        return None

    async def _blocked_member(self, guild_id: int, user_id: int) -> ModerationRefusal | None:
        blocked, note = await self.store.list_note(guild_id, ListKind.BLOCKED_USER, str(user_id))
        if not blocked:
            return None
        refusal = (
            _("You are not allowed to make videos on this server. Reason given: {note}.", note=note)
            if note
            else _("You are not allowed to make videos on this server.")
        )
        return ModerationRefusal(refusal, "blocked user")

    async def _forbidden_ask(self, guild_id: int, prompt: str, model: str) -> ModerationRefusal | None:
        disabled, _reason = await self.store.list_note(guild_id, ListKind.DISABLED_MODEL, model)
        if disabled:
            return ModerationRefusal(
                _("The model {model} is turned off on this server. Pick another one (/video models).", model=model),
                "model disabled",
            )
        rule = await self._blocked_rule(guild_id, prompt)
        if rule is None:
            return None
        return ModerationRefusal(
            _("Your prompt contains a word or phrase this server does not allow. Rephrase it and try again."),
            f"blocked {'pattern' if rule.is_regex else 'word'} ({rule.source}): {rule.pattern}",
            strike=True,
        )

    async def check_open(self, guild_id: int) -> None:
        """Raise ModerationRefusal while the operator, the gateway or the server has paused generation."""
        if (reason := await self.store.get_flag(OPERATOR_PAUSE)) is not None:
            raise ModerationRefusal(
                _("Video generation is paused by the bot's operator ({reason}). Try again later.", reason=reason),
                "operator pause",
            )
        if (kind := await self.store.get_flag(GATEWAY_PAUSE)) is not None:
            what = _GATEWAY_PAUSE_MESSAGES.get(kind, _GATEWAY_REFUSED)
            raise ModerationRefusal(
                _("Video generation is paused: {what}. The operator has been told; try again later.", what=what),
                "gateway pause",
            )
        config = await self.store.config(guild_id)
        if config.paused:
            refusal = (
                _(
                    "Video generation is paused on this server ({reason}). A moderator can resume it.",
                    reason=config.pause_reason,
                )
                if config.pause_reason
                else _("Video generation is paused on this server. A moderator can resume it.")
            )
            raise ModerationRefusal(refusal, "server pause")

    async def _blocked_rule(self, guild_id: int, prompt: str) -> BlockRule | None:
        """The rule the prompt breaks, checked off the event loop in bounded time; a check that overruns refuses."""
        rules = await self._rules(guild_id)
        work = asyncio.get_running_loop().run_in_executor(self._filter_threads, _first_broken, rules, prompt)
        try:
            return await asyncio.wait_for(work, self._filter_timeout)
        except TimeoutError:
            log.error("Guild %s: the word check took over %g s; the prompt was refused", guild_id, self._filter_timeout)
            raise ModerationRefusal(
                _(
                    "Your prompt could not be checked against this server's blocked words in time, so it was not "
                    "sent and nothing was charged. Try again in a moment."
                ),
                "the word check took too long",
            ) from None

    async def _rules(self, guild_id: int) -> list[BlockRule]:
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
        return rules

    async def unreported_inactive_patterns(self, guild_id: int | None = None) -> dict[int, list[tuple[str, str]]]:
        """Stored patterns the regex engine cannot run, with why, per server, that its audit log was not yet told of.

        Such patterns (added before the bot matched on RE2) stay listed but are not applied.
        """
        found: dict[int, list[tuple[str, str]]] = {}
        for guild, pattern in await self.store.unreported_patterns(guild_id):
            problem = validate_rule(pattern, is_regex=True)
            if problem is not None:
                found.setdefault(guild, []).append((pattern, problem))
        return found

    async def mark_inactive_reported(self, guild_id: int, patterns: Sequence[str]) -> tuple[list[str], float]:
        """Record, before telling it, that the server's audit log is told about these patterns, so it is told once
        (by one process of several). Returns the patterns this call marked, which it is to tell, and the mark."""
        return await self.store.mark_patterns_reported(guild_id, patterns)

    async def unmark_inactive_reported(self, guild_id: int, patterns: Sequence[str], mark: float) -> None:
        """The server could not be told of these patterns after all (no log channel): it is told another time."""
        await self.store.unmark_patterns_reported(guild_id, patterns, mark)

    async def pause_for_gateway(self, kind: ErrorKind) -> bool:
        """Pause all new submissions after the gateway rejected the key or ran out of balance.

        Returns True only the first time, so owners and audit logs are told once, not once per job.
        """
        if kind.value not in _GATEWAY_PAUSE_MESSAGES:
            return False
        return await self.store.claim_flag(GATEWAY_PAUSE, kind.value)

    async def set_operator_pause(self, reason: str | None) -> bool:
        """Pause (reason given) or resume (None) every server; resuming also lifts a gateway pause."""
        if reason is None:
            lifted = await self.store.set_flag(GATEWAY_PAUSE, None)
            return await self.store.set_flag(OPERATOR_PAUSE, None) or lifted
        return await self.store.set_flag(OPERATOR_PAUSE, reason)


def _first_broken(rules: list[BlockRule], prompt: str) -> BlockRule | None:
    """Build the filter and match the prompt (on a filter thread)."""
    return WordFilter.from_rules(rules).match(prompt)


def inactive_patterns_text(patterns: Sequence[tuple[str, str]]) -> str:
    """What a server's audit log is told about its stored patterns that are kept but not applied."""
    lines = "\n".join(f"`{pattern}`: {problem}" for pattern, problem in patterns)
    return (
        f"{len(patterns)} blocked pattern{'s' if len(patterns) != 1 else ''} of this server "
        f"{'are' if len(patterns) != 1 else 'is'} kept but not applied, because the bot's regex engine cannot run "
        "them. Replace them with /video-admin words add and remove these with /video-admin words remove:\n" + lines
    )


def gateway_pause_text(kind: ErrorKind) -> str:
    """What owners and audit logs are told when the gateway pauses generation."""
    what = _GATEWAY_PAUSE_MESSAGES.get(kind.value, _GATEWAY_REFUSED)
    return (
        f"New video submissions are paused on every server: {what}. Fix it on the gateway, then an owner runs "
        "/video-admin operator resume."
    )
