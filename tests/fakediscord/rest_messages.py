"""Channel message routes: create (JSON or multipart), list, get, edit, delete, typing."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import (
    CANNOT_DM,
    CANNOT_EDIT_OTHERS,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    THREAD_ARCHIVED,
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    ApiError,
    err,
    json_response,
)
from .message_models import Message
from .models import CATEGORY, DM, FORUM, MIB, Channel
from .permissions import P
from .rest_common import API_PREFIX, FAKE_KEY, body_of, json_body, sf

NOT_TEXT = ApiError(400, 50008, "Cannot send messages in a non-text channel")


def visible_channel(fake: Any, channel_id: int) -> Channel:
    """A live channel the bot can see: 10003 if unknown or deleted, 50001 without VIEW_CHANNEL."""
    channel: Channel | None = fake.state.channel(channel_id)
    if channel is None:
        raise err(UNKNOWN_CHANNEL)
    if not fake.state.permissions_for(channel, fake.state.bot_user.id) & P.VIEW_CHANNEL:
        raise err(MISSING_ACCESS)
    return channel


def channel_message(fake: Any, channel: Channel, message_id: int) -> Message:
    """A live, non-ephemeral message of this channel, else 10008."""
    msg: Message | None = fake.state.messages.get(message_id)
    if msg is None or msg.deleted or msg.channel_id != channel.id or msg.ephemeral:
        raise err(UNKNOWN_MESSAGE)
    return msg


def unarchive_for_send(fake: Any, channel: Channel, perms: int) -> None:
    """Sending in an archived thread unarchives it unless it is locked (then 50083), as Discord documents."""
    if not channel.is_thread or not channel.archived:
        return
    if fake.archived_thread_policy == "reject" or (channel.locked and not perms & P.MANAGE_THREADS):
        raise err(THREAD_ARCHIVED)
    fake.state.set_thread_archived(channel, archived=False)


def upload_limit(fake: Any, channel: Channel) -> int:
    """The per-attachment limit for a channel: the guild's, or 10 MiB in DMs."""
    if channel.guild_id is None:
        return 10 * MIB
    limit: int = fake.state.guilds[channel.guild_id].upload_limit
    return limit


async def create_message(request: web.Request) -> web.Response:
    """POST /channels/{channel_id}/messages."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    payload, files = json_body(request), body_of(request).files
    bot = fake.state.bot_user
    if channel.type in (CATEGORY, FORUM):
        raise NOT_TEXT
    if channel.type == DM and not all(fake.state.users[uid].dms_open for uid in channel.recipient_ids):
        raise err(CANNOT_DM)
    perms = fake.state.permissions_for(channel, bot.id)
    if not perms & (P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES):
        raise err(MISSING_PERMISSIONS)
    if files and not perms & P.ATTACH_FILES:
        raise err(MISSING_PERMISSIONS)
    if payload.get("embeds") and not perms & P.EMBED_LINKS:
        if not (payload.get("content") or files or payload.get("components")):
            raise err(MISSING_PERMISSIONS)
        payload = {**payload, "embeds": []}
    if payload.get("enforce_nonce") and payload.get("nonce") is not None:
        existing = fake.messages_service.find_nonce(channel.id, bot.id, str(payload["nonce"]))
        if existing is not None:
            return json_response(fake.state.message_payload(existing))
    fake.messages_service.check_sizes(files, upload_limit(fake, channel))
    unarchive_for_send(fake, channel, perms)
    msg_type = 19 if payload.get("message_reference") else 0
    msg = fake.messages_service.create(
        channel, bot, payload, files, limit=upload_limit(fake, channel), msg_type=msg_type
    )
    return json_response(fake.state.message_payload(msg))


async def list_messages(request: web.Request) -> web.Response:
    """GET /channels/{channel_id}/messages with limit/before/after/around, newest first."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    if not fake.state.permissions_for(channel, fake.state.bot_user.id) & P.READ_MESSAGE_HISTORY:
        return json_response([])
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 100)
    except ValueError:
        limit = 50
    msgs = fake.state.guild_messages(channel.id)
    q = request.query
    if "before" in q:
        msgs = [m for m in msgs if m.id < int(q["before"])][-limit:]
    elif "after" in q:
        msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
    elif "around" in q:
        pivot = int(q["around"])
        older = [m for m in msgs if m.id <= pivot][-(limit - limit // 2) :]
        newer = [m for m in msgs if m.id > pivot][: limit // 2]
        msgs = older + newer
    else:
        msgs = msgs[-limit:]
    return json_response([fake.state.message_payload(m) for m in reversed(msgs)])


async def get_message(request: web.Request) -> web.Response:
    """GET /channels/{channel_id}/messages/{message_id}."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    if not fake.state.permissions_for(channel, fake.state.bot_user.id) & P.READ_MESSAGE_HISTORY:
        raise err(MISSING_ACCESS)
    msg = channel_message(fake, channel, sf(request, "message_id"))
    return json_response(fake.state.message_payload(msg))


async def edit_message(request: web.Request) -> web.Response:
    """PATCH /channels/{channel_id}/messages/{message_id}: only the bot's own messages, not in archived threads."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    msg = channel_message(fake, channel, sf(request, "message_id"))
    payload, files = json_body(request), body_of(request).files
    perms = fake.state.permissions_for(channel, fake.state.bot_user.id)
    if msg.author.id != fake.state.bot_user.id and set(payload) - {"flags"}:
        raise err(CANNOT_EDIT_OTHERS)
    if channel.is_thread and channel.archived:
        raise err(THREAD_ARCHIVED)
    if files and not perms & P.ATTACH_FILES:
        raise err(MISSING_PERMISSIONS)
    if payload.get("embeds") and not perms & P.EMBED_LINKS:
        payload = {**payload, "embeds": []}
    fake.messages_service.edit(msg, payload, files, limit=upload_limit(fake, channel))
    return json_response(fake.state.message_payload(msg))


async def delete_message(request: web.Request) -> web.Response:
    """DELETE /channels/{channel_id}/messages/{message_id}: own messages, or others with MANAGE_MESSAGES."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    msg = channel_message(fake, channel, sf(request, "message_id"))
    perms = fake.state.permissions_for(channel, fake.state.bot_user.id)
    if msg.author.id != fake.state.bot_user.id and not perms & P.MANAGE_MESSAGES:
        raise err(MISSING_PERMISSIONS)
    fake.messages_service.delete(msg)
    return web.Response(status=204)


async def typing(request: web.Request) -> web.Response:
    """POST /channels/{channel_id}/typing."""
    visible_channel(request.app[FAKE_KEY], sf(request, "channel_id"))
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    """Register the message routes."""
    base = API_PREFIX + "/channels/{channel_id}"
    app.router.add_post(base + "/messages", create_message)
    app.router.add_get(base + "/messages", list_messages)
    app.router.add_get(base + "/messages/{message_id}", get_message)
    app.router.add_patch(base + "/messages/{message_id}", edit_message)
    app.router.add_delete(base + "/messages/{message_id}", delete_message)
    app.router.add_post(base + "/typing", typing)
