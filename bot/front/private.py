"""The private lane: a job shown to its requester alone, never in a channel or a thread.

Its status message (progress, Cancel) and its result go to the member by DM. When their DMs are closed to the bot
(Discord answers 50007), both go in the private (ephemeral) reply of their command instead, the result with a
signed link to the video, for as long as Discord keeps the interaction's token (15 minutes). Any process may edit or
deliver the job, a worker without a gateway too, so the DM channel (on the job) and the interaction (its token and
expiry, in the store) are never kept in memory. Past both, the job still completes, and /video status and
/video history say where the video is. The token is a credential: it is not logged, and it is deleted once the
job is delivered and by /video forget.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import discord

from bot.domain import Job, PrivateReply
from bot.errors import PrivateNotAllowedError
from bot.media.store import MediaStore, MediaStoreError
from bot.storage import JobStore
from bot.storage.guilds import GuildConfig

log = logging.getLogger(__name__)

# Discord keeps an interaction token this long; a post started in the last seconds would not land, so stop earlier.
REPLY_LIFETIME: Final = datetime.timedelta(minutes=15)
REPLY_MARGIN: Final = datetime.timedelta(seconds=30)
CANNOT_DM: Final = 50007  # "Cannot send messages to this user": DMs closed, the bot blocked, or no server shared

Edit = Callable[..., Awaitable[Any]]
"""An edit of one status message, with discord.py's keyword arguments (embed, view, attachments)."""


def reply_of(interaction: discord.Interaction[Any]) -> PrivateReply:
    """The interaction as the store keeps it, to answer it privately from any process."""
    expires = interaction.created_at + REPLY_LIFETIME - REPLY_MARGIN
    return PrivateReply(interaction.application_id, interaction.token, expires.timestamp())


def check_allowed(config: GuildConfig, *, by_default: bool) -> None:
    """Refuse a private video on a server that forbids them, saying whether the member's default asked for it."""
    if not config.private_allowed:
        raise PrivateNotAllowedError(by_default=by_default)


def reply_webhook(client: discord.Client, reply: PrivateReply) -> discord.Webhook:
    """The interaction's follow-up webhook, over the client's REST session (a worker has no gateway)."""
    data: Any = {"id": reply.application_id, "type": 3, "token": reply.token}  # 3: an application's webhook
    return discord.Webhook.from_state(data=data, state=client._connection)


async def open_dm(client: discord.Client, user_id: int) -> discord.DMChannel:
    """The bot's DM channel with a member (POST /users/@me/channels when not cached)."""
    user = client.get_user(user_id) or await client.fetch_user(user_id)
    return await user.create_dm()


async def post_status(
    client: discord.Client, store: JobStore, job: Job, reply: PrivateReply | None, **fields: Any
) -> discord.Message:
    """Post a private job's status message: in the member's DMs, or, with those closed, as their private reply."""
    assert job.requester_id is not None
    try:
        dm = await open_dm(client, job.requester_id)
        message = await dm.send(**fields)
    except discord.Forbidden as exc:
        if reply is None:
            raise
        log.info("Job %s: the member's DMs are closed (%s); its status goes in their private reply", job.id, exc.code)
    else:
        await store.set_dm_channel(job.id, dm.id)
        return message
    return await reply_webhook(client, reply).send(wait=True, ephemeral=True, **fields)


async def status_edit(client: discord.Client, store: JobStore | None, job: Job) -> Edit | None:
    """How to edit the job's status message: in its channel, in the member's DMs, or through their private reply
    (None once that reply's token has expired: the status stays as it is)."""
    assert job.status_message_id is not None and job.channel_id is not None
    if not job.private or job.dm_channel_id is not None:
        where = job.dm_channel_id if job.private else job.channel_id
        return client.get_partial_messageable(where or job.channel_id).get_partial_message(job.status_message_id).edit
    reply = await store.private_reply(job.id) if store is not None else None
    if reply is None:
        return None
    return functools.partial(reply_webhook(client, reply).edit_message, job.status_message_id)


async def signed_link(media: MediaStore, job: Job, ttl_seconds: float) -> str | None:
    """A link to the job's video that works for ``ttl_seconds`` (the media server's or the bucket's), if any."""
    original = media.working_dir / f"{job.id}.mp4"
    if job.result_path and Path(job.result_path).name == original.name:
        original = Path(job.result_path)
    try:
        return await media.link(job.id, original, ttl_seconds)
    except MediaStoreError as exc:
        log.warning("Job %s: no link to its video (%s)", job.id, exc)
        return None
