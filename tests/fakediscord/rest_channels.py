"""Channel and thread routes: get/edit/delete a channel, start threads (from a message or not)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import (
    MISSING_PERMISSIONS,
    THREAD_ALREADY_CREATED,
    THREAD_ARCHIVED,
    THREAD_LOCKED,
    ApiError,
    err,
    field_errors,
    invalid_form,
    json_response,
)
from .models import DM, FORUM, HAS_THREAD, NEWS, NEWS_THREAD, PRIVATE_THREAD, PUBLIC_THREAD, TEXT, Channel
from .permissions import P
from .rest_common import API_PREFIX, FAKE_KEY, body_of, json_body, sf
from .rest_messages import channel_message, upload_limit, visible_channel

ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
WRONG_TYPE = ApiError(400, 50024, "Cannot execute action on this channel type")


def _thread_fields(payload: dict[str, Any]) -> tuple[str, int]:
    name = payload.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise invalid_form(field_errors(("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")))
    duration = int(payload.get("auto_archive_duration") or 4320)
    if duration not in ARCHIVE_DURATIONS:
        raise invalid_form(
            field_errors(
                ("auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of (60, 1440, 4320, 10080).")
            )
        )
    return name, duration


def _new_thread(fake: Any, parent: Channel, *, thread_id: int, type: int, name: str, duration: int) -> Channel:
    bot_id = fake.state.bot_user.id
    thread = Channel(id=thread_id, type=type, guild_id=parent.guild_id, name=name, parent_id=parent.id)
    thread.owner_id, thread.auto_archive_duration, thread.member_ids = bot_id, duration, {bot_id}
    fake.state.channels[thread.id] = thread
    return thread


def _announce(fake: Any, thread: Channel) -> None:
    fake.state.emit("THREAD_CREATE", {**fake.state.channel_payload(thread), "newly_created": True}, thread.guild_id)
    fake.state.changed.notify()


async def start_thread_from_message(request: web.Request) -> web.Response:
    """POST /channels/{channel_id}/messages/{message_id}/threads: the thread gets the message's id."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    if channel.type not in (TEXT, NEWS):
        raise WRONG_TYPE
    name, duration = _thread_fields(json_body(request))
    if not fake.state.permissions_for(channel, fake.state.bot_user.id) & P.CREATE_PUBLIC_THREADS:
        raise err(MISSING_PERMISSIONS)
    msg = channel_message(fake, channel, sf(request, "message_id"))
    if msg.thread_id is not None:
        raise err(THREAD_ALREADY_CREATED)
    kind = PUBLIC_THREAD if channel.type == TEXT else NEWS_THREAD
    thread = _new_thread(fake, channel, thread_id=msg.id, type=kind, name=name, duration=duration)
    thread.starter_message_id = msg.id
    msg.thread_id, msg.flags = thread.id, msg.flags | HAS_THREAD
    _announce(fake, thread)
    fake.state.emit("MESSAGE_UPDATE", fake.state.message_event_payload(msg), msg.guild_id)
    return json_response(fake.state.channel_payload(thread), 201)


async def start_thread(request: web.Request) -> web.Response:
    """POST /channels/{channel_id}/threads: a thread without a message, or a forum post with its first message."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    payload = json_body(request)
    name, duration = _thread_fields(payload)
    perms = fake.state.permissions_for(channel, fake.state.bot_user.id)
    if channel.type == FORUM:
        if not perms & P.SEND_MESSAGES:
            raise err(MISSING_PERMISSIONS)
        first = payload.get("message")
        if not isinstance(first, dict):
            raise invalid_form(field_errors(("message", "BASE_TYPE_REQUIRED", "This field is required")))
        files = body_of(request).files
        fake.messages_service.check_sizes(files, upload_limit(fake, channel))
        thread_id = fake.state.ids.next()
        thread = _new_thread(fake, channel, thread_id=thread_id, type=PUBLIC_THREAD, name=name, duration=duration)
        bot = fake.state.bot_user
        msg = fake.messages_service.create(
            thread, bot, first, files, limit=upload_limit(fake, channel), msg_id=thread_id
        )
        _announce(fake, thread)
        return json_response({**fake.state.channel_payload(thread), "message": fake.state.message_payload(msg)}, 201)
    if channel.type not in (TEXT, NEWS):
        raise WRONG_TYPE
    kind = int(payload.get("type") or PRIVATE_THREAD)
    if kind not in (PUBLIC_THREAD, PRIVATE_THREAD, NEWS_THREAD):
        raise invalid_form(field_errors(("type", "BASE_TYPE_CHOICES", "Value must be one of (10, 11, 12).")))
    needed = P.CREATE_PRIVATE_THREADS if kind == PRIVATE_THREAD else P.CREATE_PUBLIC_THREADS
    if not perms & needed:
        raise err(MISSING_PERMISSIONS)
    thread = _new_thread(fake, channel, thread_id=fake.state.ids.next(), type=kind, name=name, duration=duration)
    thread.invitable = bool(payload.get("invitable", True))
    _announce(fake, thread)
    return json_response(fake.state.channel_payload(thread), 201)


async def get_channel(request: web.Request) -> web.Response:
    """GET /channels/{channel_id}."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    return json_response(fake.state.channel_payload(channel))


def _edit_thread(fake: Any, thread: Channel, payload: dict[str, Any], perms: int) -> None:
    bot_id = fake.state.bot_user.id
    moderator = bool(perms & P.MANAGE_THREADS)
    if ("locked" in payload or "rate_limit_per_user" in payload) and not moderator:
        raise err(MISSING_PERMISSIONS)
    if thread.archived:
        if payload.get("archived") is not False:
            raise err(THREAD_ARCHIVED)
        if thread.locked and not moderator:
            raise err(THREAD_LOCKED)
        if bot_id not in thread.member_ids and not moderator:
            raise err(MISSING_PERMISSIONS)
    changes = bool({"name", "auto_archive_duration"} & set(payload)) or payload.get("archived") is True
    if changes and not (moderator or thread.owner_id == bot_id):
        raise err(MISSING_PERMISSIONS)
    if "name" in payload:
        thread.name = _thread_fields({**payload, "auto_archive_duration": thread.auto_archive_duration})[0]
    if "auto_archive_duration" in payload:
        thread.auto_archive_duration = _thread_fields({"name": thread.name, **payload})[1]
    archived = bool(payload.get("archived", thread.archived))
    locked = payload.get("locked")
    fake.state.set_thread_archived(thread, archived=archived, locked=None if locked is None else bool(locked))


async def edit_channel(request: web.Request) -> web.Response:
    """PATCH /channels/{channel_id}: thread archive/lock/rename, or a guild channel's name/topic."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    payload = json_body(request)
    perms = fake.state.permissions_for(channel, fake.state.bot_user.id)
    if channel.is_thread:
        _edit_thread(fake, channel, payload, perms)
    elif channel.type == DM:
        raise WRONG_TYPE
    else:
        if not perms & P.MANAGE_CHANNELS:
            raise err(MISSING_PERMISSIONS)
        channel.name = payload.get("name", channel.name)
        channel.topic = payload.get("topic", channel.topic)
        fake.state.emit("CHANNEL_UPDATE", fake.state.channel_payload(channel), channel.guild_id)
    return json_response(fake.state.channel_payload(channel))


async def delete_channel(request: web.Request) -> web.Response:
    """DELETE /channels/{channel_id}: threads need MANAGE_THREADS, channels MANAGE_CHANNELS; DMs just close."""
    fake = request.app[FAKE_KEY]
    channel = visible_channel(fake, sf(request, "channel_id"))
    perms = fake.state.permissions_for(channel, fake.state.bot_user.id)
    if channel.type != DM:
        needed = P.MANAGE_THREADS if channel.is_thread else P.MANAGE_CHANNELS
        if not perms & needed:
            raise err(MISSING_PERMISSIONS)
        fake.state.delete_channel(channel)
    return json_response(fake.state.channel_payload(channel))


def setup(app: web.Application) -> None:
    """Register the channel and thread routes."""
    base = API_PREFIX + "/channels/{channel_id}"
    app.router.add_get(base, get_channel)
    app.router.add_patch(base, edit_channel)
    app.router.add_delete(base, delete_channel)
    app.router.add_post(base + "/threads", start_thread)
    app.router.add_post(base + "/messages/{message_id}/threads", start_thread_from_message)
