"""The per-server audit log: submissions, outcomes, refusals and admin changes, as compact embeds."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import discord

from bot.domain import Job, JobStatus
from bot.storage.guilds import GuildStore

log = logging.getLogger(__name__)

PROMPT_CHARS: Final = 300
EMBED_TEXT_CHARS: Final = 4096  # Discord's limit on an embed's description
COLOURS: Final = {
    "submitted": discord.Colour.blurple(),
    "succeeded": discord.Colour.green(),
    "failed": discord.Colour.orange(),
    "cancelled": discord.Colour.dark_grey(),
    "refused": discord.Colour.red(),
    "admin": discord.Colour.dark_teal(),
    "notice": discord.Colour.dark_red(),
}


class AuditLog:
    """Posts to a server's log channel, when it has one; never holds up the member's request."""

    def __init__(self, client: discord.Client, guilds: GuildStore) -> None:
        self._client = client
        self._guilds = guilds
        self._posting: set[asyncio.Task[bool]] = set()

    def submitted(self, job: Job, link: str | None) -> None:
        """A job was accepted."""
        embed = self._embed("submitted", f"Video requested by <@{job.requester_id}>", job.prompt)
        embed.add_field(name="Job", value=f"`{job.id}` · {job.model} · {job.duration} s")
        if job.private:
            embed.add_field(name="Private", value="yes: shown to the member alone, by DM or private reply")
        elif link:
            embed.add_field(name="Status", value=f"[message]({link})")
        self._post(job.guild_id, embed)

    def outcome(self, job: Job, link: str | None) -> None:
        """A job ended."""
        kind = "succeeded" if job.status is JobStatus.SUCCEEDED else "failed"
        title = f"Video {kind} for <@{job.requester_id}>"
        embed = self._embed(kind, title, f"`{job.id}` · {job.model}")
        if job.status is JobStatus.FAILED and job.error_kind is not None:
            embed.add_field(name="Why", value=job.error_kind.value.replace("_", " "))
        if job.private:
            reached = "sent to the member privately" if link else "their DMs and private reply were closed"
            embed.add_field(name="Private", value=reached)
        elif link:
            embed.add_field(name="Result", value=f"[message]({link})")
        self._post(job.guild_id, embed)

    def cancelled(self, job: Job, link: str | None) -> None:
        """A member cancelled a job."""
        title = f"Video for <@{job.requester_id}> cancelled by <@{job.cancelled_by}>"
        embed = self._embed("cancelled", title, f"`{job.id}` · {job.model} · {job.duration} s")
        embed.add_field(name="Credits", value="spent (the provider had started)" if job.sent else "given back")
        if link:
            embed.add_field(name="Status", value=f"[message]({link})")
        self._post(job.guild_id, embed)

    def refused(self, guild_id: int, user_id: int, reason: str, prompt: str) -> None:
        """A request was refused before anything was spent."""
        embed = self._embed("refused", f"Request by <@{user_id}> refused", prompt)
        embed.add_field(name="Why", value=reason[:1024])
        self._post(guild_id, embed)

    def admin_change(self, guild_id: int, actor_id: int, change: str) -> None:
        """An admin changed a setting."""
        self._post(guild_id, self._embed("admin", f"Setting changed by <@{actor_id}>", change))

    def notice(self, guild_id: int, text: str) -> None:
        """Something every moderator should see (a pause of all generation)."""
        self._post(guild_id, self._embed("notice", "Notice", text))

    async def notice_now(self, guild_id: int, text: str) -> bool:
        """A notice posted before returning; False when the server has no log channel or the post failed."""
        return await self._send(guild_id, self._embed("notice", "Notice", text, limit=EMBED_TEXT_CHARS))

    async def notice_everywhere(self, text: str) -> None:
        """A notice to every server that has a log channel."""
        for guild_id, _ in await self._guilds.log_channels():
            self.notice(guild_id, text)

    async def flush(self, grace: float) -> None:
        """Give posts under way up to ``grace`` seconds (on shutdown)."""
        if self._posting:
            await asyncio.wait(list(self._posting), timeout=grace)

    @staticmethod
    def _embed(kind: str, title: str, text: str, limit: int = PROMPT_CHARS) -> discord.Embed:
        body = text if len(text) <= limit else text[: limit - 1] + "…"
        return discord.Embed(title=title[:256], description=body or "(no prompt kept)", colour=COLOURS[kind])

    def _post(self, guild_id: int | None, embed: discord.Embed) -> None:
        if guild_id is None:
            return
        task = asyncio.create_task(self._send(guild_id, embed))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _send(self, guild_id: int, embed: discord.Embed) -> bool:
        try:
            channel_id = (await self._guilds.config(guild_id)).log_channel_id
            if channel_id is None:
                return False
            channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
            await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("Could not post to the audit log of guild %s: %s", guild_id, exc)
        except Exception:
            log.exception("Audit log post for guild %s failed", guild_id)
        else:
            return True
        return False
