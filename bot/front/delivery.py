"""Delivering a finished job on Discord, exactly once: the video (or the failure) where the requester will see it.

The post goes to the job's thread; if the thread is gone, archived beyond reopening or closed to the bot, to
the channel the job started in; failing that, to the requester by DM. A private job's goes to the requester alone:
by DM, or in their command's private reply with a signed link (see bot.front.private). A result too large for the
server is re-encoded to fit, or linked from the bot's media server, or explained.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import discord

from bot.domain import DeliveryState, Job, JobStatus
from bot.errors import LeaseLostError
from bot.front import private, render
from bot.front.audit import AuditLog
from bot.front.buttons import retry_view
from bot.front.progress import StatusEditor, final_fields
from bot.front.results import ResultFiles
from bot.locales import translate
from bot.metrics import Metrics
from bot.services import lifecycle
from bot.storage import JobStore

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT_BYTES: Final = 10 * 1024 * 1024
# A retried delivery looks for its earlier post among at most this many messages per place, from the first
# attempt on (oldest first, so the post, made at an attempt, comes early), however busy the place has been since.
MARKER_SEARCH_MESSAGES: Final = 1000
# Message ids are Discord's clock; the first attempt's time is ours: start the search this much earlier.
CLOCK_SKEW_SECONDS: Final = 300.0
ARCHIVED_THREAD: Final = 50083
# A server's upload limit asked of Discord (where the gateway cache does not have the server) is kept this long.
UPLOAD_LIMIT_CACHE_SECONDS: Final = 600.0
# How often a delivery looks whether the job's creator has shown it yet (see lifecycle.setting_up).
SETUP_CHECK_SECONDS: Final = 0.25

Compose = Callable[[], dict[str, Any]]  # the keyword arguments of one send; files can only be sent once each


class DeliveryImpossibleError(Exception):
    """No place accepted the post: not the thread, not the channel, not the requester's DMs."""


class Delivery:
    """The poller's delivery callback for Discord jobs."""

    def __init__(
        self,
        client: discord.Client,
        store: JobStore,
        editor: StatusEditor,
        audit: AuditLog,
        results: ResultFiles,
        metrics: Metrics,
        *,
        lease_seconds: float,
    ) -> None:
        self._client = client
        self._store = store
        self._editor = editor
        self._audit = audit
        self._results = results
        self._metrics = metrics
        self._lease = lease_seconds  # JOB_LEASE_SECONDS: how long claiming a post keeps it this process's
        self._posted: dict[str, tuple[Job, str]] = {}  # job id -> (job, result link), from the post to settle()
        self._upload_limits: dict[int, tuple[int, float]] = {}  # guild id -> (bytes, when asked), without the cache

    async def __call__(self, job: Job) -> int | None:
        """Post the result or the failure; return the posted message's id. Raising means 'try again later'.

        ``job`` is as the poller claimed it. Nothing goes out unless this process still holds its lease then (its
        holder claims the post first): one whose lease passed to another process raises LeaseLostError instead.
        """
        claimed = job
        job = await self._set_up(claimed)
        self._editor.forget(job.id)
        if not job.status.is_terminal or job.delivery_state not in (DeliveryState.PENDING, DeliveryState.DELIVERING):
            return job.result_message_id  # nothing (more) to deliver: already handed over, or not finished
        if job.task_id is None and job.status_message_id is None:
            return None  # refused before anything was public: the member was told privately
        if job.status is JobStatus.CANCELLED:
            # Nothing is posted, whatever the gateway made: settle() shows who cancelled on the status message.
            link = render.message_link(job.guild_id, job.channel_id, job.status_message_id)
            if not job.maybe_delivered:  # an earlier, cut-off hand-over may have logged it already
                await self._claim_post(claimed)
                self._audit.cancelled(job, link)
            return None
        targets = await self._targets(job)
        posted = await self._already_posted(targets, job) if job.maybe_delivered else None
        if posted is None:
            kind, compose = await self._compose(job)
            await self._claim_post(claimed)
            async with self._editor.posting():
                posted = await (self._post_private(job, compose) if job.private else self._post(targets, job, compose))
            if posted is None:  # private, and neither its DMs nor its reply took it: /video status says where it is
                self._audit.outcome(job, None)
                self._metrics.delivered("unreachable", None)
                return None
            await self._store.set_result_channel(job.id, posted.channel.id)
            self._audit.outcome(job, _link(job, posted))
            lag = time.time() - job.finished_at if job.finished_at is not None else None
            self._metrics.delivered(kind, lag)
        self._posted[job.id] = (job, _link(job, posted))
        return posted.id

    async def _set_up(self, claimed: Job) -> Job:
        """The job as stored once its creator (any process) has shown it: the thread it opened is known then.

        The wait ends early when the job's lease is found to have passed to another process.
        """
        while True:
            job = await self._store.get(claimed.id) or claimed
            if job.lease_holder != claimed.lease_holder:
                raise LeaseLostError(job.id)
            if not lifecycle.setting_up(job, time.time()):
                return job
            await asyncio.sleep(SETUP_CHECK_SECONDS)

    async def _claim_post(self, claimed: Job) -> None:
        """Make sure the lease is still this process's, for a lease's length, right before posting; the poller
        keeps renewing it until the post is recorded. Another process takes the job over only once it runs out."""
        if not await self._store.renew_lease(claimed, time.time() + self._lease):
            raise LeaseLostError(claimed.id)

    async def settle(self, job: Job, message_id: int | None) -> None:
        """After the post, outside the delivery slots: mark the status message done, linking the result."""
        job, result_link = self._posted.pop(job.id, (job, None))
        if job.status_message_id is None or job.channel_id is None:
            pass
        elif job.private and message_id == job.status_message_id:
            pass  # the result went into the status message itself, its final state with it
        elif job.status is JobStatus.CANCELLED:
            await self._editor.finish(job, **final_fields(job, None))  # the Cancel button goes
        elif result_link is not None:
            # Waits for the channel's edit budget, behind no progress edit; the job counts as delivered after it.
            await self._editor.finish(job, **final_fields(job, result_link))
        if job.private:
            await self._store.drop_private_reply(job.id)  # nothing more goes to the member's interaction

    async def _targets(self, job: Job) -> list[discord.abc.Messageable]:
        """Where the post may go, best first: the thread, the job's channel, the requester's DMs (only those for a
        private job; its private reply, which cannot be searched, comes after them)."""
        if job.private and job.dm_channel_id is not None:
            return [self._messageable(job.dm_channel_id, job)]
        targets: list[discord.abc.Messageable] = []
        for channel_id in () if job.private else (job.thread_id, job.channel_id):
            if channel_id is not None:
                targets.append(self._client.get_channel(channel_id) or self._messageable(channel_id, job))  # type: ignore[arg-type]
        if job.requester_id is not None:
            targets.append(_DirectMessage(self._client, job.requester_id))
        return targets

    def _messageable(self, channel_id: int, job: Job) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(channel_id, guild_id=job.guild_id)

    async def _already_posted(self, targets: list[discord.abc.Messageable], job: Job) -> discord.Message | None:
        """After an attempt that may have posted: that post, if it went out."""
        marker = render.job_marker(job.id)
        me = self._client.user
        since = _earliest_post(job)
        for target in targets:
            try:
                async for message in target.history(limit=MARKER_SEARCH_MESSAGES, after=since, oldest_first=True):
                    if me is not None and message.author.id == me.id and marker in message.content:
                        log.info("Job %s: found its earlier post %s; not posting again", job.id, message.id)
                        return message
            except discord.HTTPException:
                continue  # a place we cannot read is a place we did not post in
        return None

    async def _compose(self, job: Job) -> tuple[str, Compose]:
        mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.requester_id or 0)])
        # The nonce lets Discord drop a duplicate if the same post is retried within a few minutes.
        base: dict[str, Any] = {"allowed_mentions": mention, "nonce": f"reelbot-{job.id}"}
        if job.status is JobStatus.FAILED:
            return "notice", lambda: {**base, "content": render.failure_text(job), "view": retry_view(job)}
        prepared = await self._results.prepare(job, await self._upload_limit(job))
        return prepared.kind, lambda: {**base, **prepared.post(job)}

    async def _post(self, targets: list[discord.abc.Messageable], job: Job, compose: Compose) -> discord.Message:
        for target in targets:
            try:
                if isinstance(target, _DirectMessage):
                    return await self._send(target, _explained_in_dm(compose, job))
                return await self._send(target, compose)
            except discord.NotFound:
                log.warning("Job %s: %s is gone; trying the next place", job.id, _name(target))
            except discord.Forbidden as exc:
                self._missing_access(job, target, exc)
            except discord.HTTPException as exc:
                if exc.code != ARCHIVED_THREAD:
                    raise  # 5xx or 429 beyond discord.py's own retries: try again later, looking first
                log.warning("Job %s: %s is archived and could not be reopened", job.id, _name(target))
        raise DeliveryImpossibleError(f"job {job.id}: no thread, channel or DM accepted the post")

    async def _post_private(self, job: Job, compose: Compose) -> discord.Message | None:
        """A private job's post: in the member's DMs; with those closed, in their private reply while its token
        lives, with a signed link; None when neither took it.

        A private reply cannot be searched like a channel, so a post there must never be repeated blindly. When the
        job's status message is that reply (the DMs were closed from the start), the result goes *into* it, by an
        edit: a retry after a crash edits the same message again, so the member sees the result once whatever was
        cut off. When the status went to the DMs and only the result finds them closed, the result is a new private
        follow-up, sent on a first attempt only: a retry that may have sent it does not send it again (at most once;
        /video history then says where the video is).
        """
        (dm,) = await self._targets(job)
        try:
            return await dm.send(**compose())
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info("Job %s: the member's DMs do not take it (%s); trying their private reply", job.id, exc.code)
        reply = await self._store.private_reply(job.id)
        in_reply = job.dm_channel_id is None and job.status_message_id is not None
        if reply is not None and (in_reply or not job.maybe_delivered):
            link = await self._results.link(job)
            fields = {key: value for key, value in compose().items() if key != "nonce"}  # webhooks take no nonce
            fields["content"] = f"{render.private_reply_text(link, job.member_locale)}\n{fields.get('content', '')}"
            webhook = private.reply_webhook(self._client, reply)
            try:
                if in_reply:
                    assert job.status_message_id is not None
                    return await webhook.edit_message(job.status_message_id, **_into_status(job, fields))
                return await webhook.send(wait=True, ephemeral=True, **fields)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("Job %s: the member's private reply is no longer open (%s)", job.id, exc.code)
            except discord.HTTPException as exc:
                if exc.status != 401:  # 401: the token expired early; anything else: try again later
                    raise
                log.info("Job %s: the member's private reply has expired (%s)", job.id, exc.code)
        elif reply is not None:
            log.info("Job %s: its private follow-up may have gone out before a crash; not sending it again", job.id)
            return None
        log.warning("Job %s: private, and neither the member's DMs nor their private reply took it", job.id)
        return None

    async def _send(self, target: discord.abc.Messageable, compose: Compose) -> discord.Message:
        try:
            return await target.send(**compose())
        except discord.HTTPException as exc:
            channel_id = getattr(target, "id", None)
            if exc.code != ARCHIVED_THREAD or channel_id is None:
                raise
            # Archived (or locked) by a moderator: reopen it (locked needs Manage Threads), then post.
            try:
                thread = await self._client.fetch_channel(channel_id)
                if not isinstance(thread, discord.Thread):
                    raise
                await thread.edit(archived=False)
            except discord.HTTPException:
                raise exc from None  # could not reopen: the caller moves on to the next place
            return await thread.send(**compose())

    def _missing_access(self, job: Job, target: discord.abc.Messageable, exc: discord.Forbidden) -> None:
        log.warning("Job %s: no permission to post in %s (%s)", job.id, _name(target), exc.text)
        if job.guild_id is not None and not isinstance(target, _DirectMessage):
            self._audit.notice(
                job.guild_id,
                f"I could not post job `{job.id}` for <@{job.requester_id}> in {_name(target)}: missing permission "
                "(Send Messages, Send Messages in Threads, Attach Files or Embed Links). I tried elsewhere.",
            )

    async def _upload_limit(self, job: Job) -> int:
        """The server's per-file limit (its boosts'): a bot-token post does not get the requester's Nitro."""
        if job.guild_id is None or job.private:  # a DM's or a private reply's: Discord's default
            return DEFAULT_UPLOAD_LIMIT_BYTES
        guild = self._client.get_guild(job.guild_id)
        if guild is not None:
            return guild.filesize_limit
        # Not in the gateway cache (a worker, a server on another process's shard, a cache not filled yet): ask
        # Discord, now and then.
        known = self._upload_limits.get(job.guild_id)
        if known is not None and time.monotonic() - known[1] < UPLOAD_LIMIT_CACHE_SECONDS:
            return known[0]
        try:
            limit = (await self._client.fetch_guild(job.guild_id, with_counts=False)).filesize_limit
        except discord.HTTPException as exc:
            log.warning("Job %s: could not read its server's upload limit (%s); using 10 MiB", job.id, exc)
            return DEFAULT_UPLOAD_LIMIT_BYTES
        self._upload_limits[job.guild_id] = (limit, time.monotonic())
        return limit


class _DirectMessage(discord.abc.Messageable):
    """The requester's DMs, opened only when something is sent or read there."""

    def __init__(self, client: discord.Client, user_id: int) -> None:
        self._client = client
        self._state = client._connection  # what Messageable.send needs to build the sent message
        self.user_id = user_id

    async def _get_channel(self) -> discord.abc.MessageableChannel:
        user = self._client.get_user(self.user_id) or await self._client.fetch_user(self.user_id)
        return await user.create_dm()


def _link(job: Job, posted: discord.Message) -> str:
    """The post's jump link; its server comes from the job, as a message sent without the gateway cache lacks it."""
    in_dm = isinstance(posted.channel, discord.DMChannel)
    return (None if in_dm else render.message_link(job.guild_id, posted.channel.id, posted.id)) or posted.jump_url


def _earliest_post(job: Job) -> discord.Object:
    """A message id older than any post of this job: its status message, or its first delivery attempt."""
    floor = job.status_message_id or 0
    if job.delivery_started_at is not None:
        started = datetime.fromtimestamp(job.delivery_started_at - CLOCK_SKEW_SECONDS, tz=UTC)
        floor = max(floor, discord.utils.time_snowflake(started))
    return discord.Object(id=floor)


def _explained_in_dm(compose: Compose, job: Job) -> Compose:
    """The post, with a first line saying why it arrives by DM."""
    note = translate(
        job.member_locale,
        "I could not post this in {where} (it is gone, or I am missing permissions there), so here it is.",
        where=f"<#{job.thread_id or job.channel_id}>",
    )

    def with_note() -> dict[str, Any]:
        fields = compose()
        return {**fields, "content": f"{note}\n{fields.get('content', '')}"}

    return with_note


def _into_status(job: Job, fields: dict[str, Any]) -> dict[str, Any]:
    """A post's fields as an edit of the job's status message: its final state first, the result's own embeds
    after it, the files replacing whatever was attached."""
    edit = dict(fields)
    edit["embeds"] = [render.status_embed(job), *edit.pop("embeds", [])]
    edit["attachments"] = edit.pop("files", [])
    edit.setdefault("view", None)
    return edit


def _name(target: discord.abc.Messageable) -> str:
    if isinstance(target, _DirectMessage):
        return f"the DMs of <@{target.user_id}>"
    channel_id = getattr(target, "id", None)
    return f"<#{channel_id}>" if channel_id else "a channel"
