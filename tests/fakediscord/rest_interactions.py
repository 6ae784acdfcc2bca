"""Interaction callback and interaction-webhook routes, with the 3 s deadline and 15 min token lifetime."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .errors import (
    ALREADY_ACKNOWLEDGED,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_CHANNEL,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    ApiError,
    err,
    field_errors,
    invalid_form,
    json_response,
)
from .interactions import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    MODAL,
    UPDATE_MESSAGE,
    InteractionCall,
    InteractionRecord,
)
from .message_models import Message
from .models import EPHEMERAL, LOADING, Channel
from .rest_common import API_PREFIX, FAKE_KEY, body_of, flag, json_body, sf

WEBHOOK = API_PREFIX + "/webhooks/{application_id}/{webhook_token}"


def _call(request: web.Request, rec: InteractionRecord, kind: str) -> InteractionCall:
    now = time.monotonic()
    body = body_of(request)
    latency = None if rec.sent_at is None else now - rec.sent_at
    call = InteractionCall(kind, request.method, request.path[len(API_PREFIX) :], now, latency, data=body.json)
    call.files = [{"filename": f.filename, "size": len(f.data)} for f in body.files]
    return call


async def _run(
    request: web.Request, rec: InteractionRecord, kind: str, handler: Callable[[InteractionCall], web.Response]
) -> web.Response:
    call = _call(request, rec, kind)
    try:
        response = handler(call)
    except ApiError as exc:
        call.status, call.code = exc.status, exc.code
        rec.add_call(call)
        raise
    call.status = response.status
    rec.add_call(call)
    return response


def _channel(fake: Any, rec: InteractionRecord, thread_id: str | None = None) -> Channel:
    channel: Channel | None = fake.state.channel(int(thread_id) if thread_id else rec.channel_id)
    if channel is None:
        raise err(UNKNOWN_CHANNEL)
    return channel


def _metadata(fake: Any, rec: InteractionRecord) -> dict[str, Any]:
    user = fake.state.users[rec.user_id]
    meta: dict[str, Any] = {
        "id": str(rec.id),
        "type": rec.type,
        "user": user.payload(),
        "authorizing_integration_owners": rec.payload.get("authorizing_integration_owners", {}),
    }
    if rec.type == APPLICATION_COMMAND:
        meta.update(name=rec.payload["data"]["name"], command_type=rec.payload["data"].get("type", 1))
    if "message" in rec.payload:
        meta["interacted_message_id"] = rec.payload["message"]["id"]
    if rec.original_message_id is not None:
        meta["original_response_message_id"] = str(rec.original_message_id)
    return meta


def _limit(rec: InteractionRecord) -> int:
    return int(rec.payload.get("attachment_size_limit") or 10 * 1024 * 1024)


def _new_message(fake: Any, rec: InteractionRecord, payload: dict[str, Any], files: Any, *, flags: int = 0) -> Message:
    channel = _channel(fake, rec)
    msg_type = 20 if rec.type == APPLICATION_COMMAND else 0
    msg: Message = fake.messages_service.create(
        channel,
        fake.state.bot_user,
        payload,
        files,
        limit=_limit(rec),
        flags=flags,
        msg_type=msg_type,
        webhook_id=fake.app_id,
        interaction_metadata=_metadata(fake, rec),
        interaction_id=rec.id,
    )
    return msg


def _callback_effect(fake: Any, rec: InteractionRecord, ctype: int, data: dict[str, Any], files: Any) -> Message | None:
    if ctype == CHANNEL_MESSAGE:
        msg = _new_message(fake, rec, data, files)
        rec.original_message_id = msg.id
        return msg
    if ctype == DEFERRED_CHANNEL_MESSAGE:
        if int(data.get("flags") or 0) & ~(EPHEMERAL | (1 << 12)):
            raise invalid_form(field_errors(("data.flags", "INTERACTION_RESPONSE_FLAGS_INVALID", "Invalid flags")))
        msg = _new_message(fake, rec, {"flags": data.get("flags") or 0}, [], flags=LOADING)
        rec.original_message_id = msg.id
        return msg
    if ctype in (DEFERRED_UPDATE, UPDATE_MESSAGE):
        if "message" not in rec.payload:
            raise invalid_form(field_errors(("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid response type")))
        target: Message = fake.state.messages[int(rec.payload["message"]["id"])]
        rec.original_message_id = target.id
        if ctype == UPDATE_MESSAGE:
            fake.messages_service.edit(target, data, files, limit=_limit(rec))
        return target
    if ctype == AUTOCOMPLETE_RESULT and len(data.get("choices") or []) > 25:
        raise invalid_form(field_errors(("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")))
    if ctype == MODAL:
        if not data.get("custom_id") or not data.get("components") or len(str(data.get("title", ""))) > 45:
            raise invalid_form(field_errors(("data", "MODAL_INVALID", "Invalid modal")))
        rec.modal = data
    return None


async def callback(request: web.Request) -> web.Response:
    """POST /interactions/{interaction_id}/{interaction_token}/callback."""
    fake = request.app[FAKE_KEY]
    rec = fake.interaction_records.get(sf(request, "interaction_id"))
    if rec is None or rec.token != request.match_info["interaction_token"]:
        raise err(UNKNOWN_INTERACTION)
    payload = json_body(request)
    ctype, data = payload.get("type"), payload.get("data") or {}

    def handle(call: InteractionCall) -> web.Response:
        call.type, call.data = ctype, data
        if rec.acknowledged:
            raise err(ALREADY_ACKNOWLEDGED)
        if rec.sent_at is None or call.at - rec.sent_at > fake.ack_deadline or fake.token_expired(rec):
            raise err(UNKNOWN_INTERACTION)
        if ctype not in ALLOWED_CALLBACKS.get(rec.type, set()):
            raise invalid_form(field_errors(("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid response type")))
        msg = _callback_effect(fake, rec, ctype, data, body_of(request).files)
        rec.acknowledged, rec.response_type = True, ctype
        call.message_id = msg.id if msg is not None else None
        if not flag(request, "with_response"):
            return web.Response(status=204)
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        body: dict[str, Any] = {"interaction": info}
        if msg is not None:
            info.update(
                response_message_id=str(msg.id),
                response_message_loading=bool(msg.flags & LOADING),
                response_message_ephemeral=msg.ephemeral,
            )
            if ctype != DEFERRED_UPDATE:
                body["resource"] = {"type": ctype, "message": fake.state.message_payload(msg)}
        return json_response(body)

    return await _run(request, rec, "callback", handle)


def _webhook_record(request: web.Request) -> tuple[Any, InteractionRecord]:
    fake = request.app[FAKE_KEY]
    if sf(request, "application_id") != fake.app_id:
        raise err(UNKNOWN_WEBHOOK)
    rec = fake.records_by_token.get(request.match_info["webhook_token"])
    if rec is None or fake.token_expired(rec):
        raise err(INVALID_WEBHOOK_TOKEN)
    return fake, rec


def _owned_message(fake: Any, rec: InteractionRecord, message_id: str) -> Message:
    mid = rec.original_message_id if message_id == "@original" else int(message_id) if message_id.isdigit() else 0
    if mid is None or (message_id != "@original" and mid not in rec.followup_ids and mid != rec.original_message_id):
        raise err(UNKNOWN_MESSAGE)
    msg: Message | None = fake.state.messages.get(mid)
    if msg is None or msg.deleted:
        raise err(UNKNOWN_MESSAGE)
    return msg


async def message_route(request: web.Request) -> web.Response:
    """GET/PATCH/DELETE /webhooks/{app}/{token}/messages/{@original|message_id}."""
    fake, rec = _webhook_record(request)
    message_id = request.match_info["message_id"]
    suffix = "original" if message_id == "@original" else "followup"
    kind = {"GET": "get_", "PATCH": "edit_", "DELETE": "delete_"}[request.method] + suffix

    def handle(call: InteractionCall) -> web.Response:
        msg = _owned_message(fake, rec, message_id)
        call.message_id = msg.id
        if request.method == "DELETE":
            fake.messages_service.delete(msg)
            return web.Response(status=204)
        if request.method == "PATCH":
            fake.messages_service.edit(msg, json_body(request), body_of(request).files, limit=_limit(rec))
        return json_response(fake.state.message_payload(msg))

    return await _run(request, rec, kind, handle)


async def followup(request: web.Request) -> web.Response:
    """POST /webhooks/{app}/{token}: a follow-up; the first one after a defer replaces the loading message."""
    fake, rec = _webhook_record(request)

    def handle(call: InteractionCall) -> web.Response:
        if not rec.acknowledged:
            raise err(UNKNOWN_WEBHOOK)
        payload, files = json_body(request), body_of(request).files
        original = fake.state.messages.get(rec.original_message_id) if rec.original_message_id else None
        if original is not None and original.flags & LOADING and not original.deleted:
            msg = fake.messages_service.edit(
                original, {k: v for k, v in payload.items() if k != "flags"}, files, limit=_limit(rec)
            )
        else:
            thread_id = request.query.get("thread_id")
            channel = _channel(fake, rec, thread_id)
            rec_channel = rec.channel_id
            rec.channel_id = channel.id
            try:
                msg = _new_message(fake, rec, payload, files)
            finally:
                rec.channel_id = rec_channel
            rec.followup_ids.append(msg.id)
        call.message_id = msg.id
        if not flag(request, "wait"):
            return web.Response(status=204)
        return json_response(fake.state.message_payload(msg))

    return await _run(request, rec, "followup", handle)


def setup(app: web.Application) -> None:
    """Register callback and webhook routes."""
    app.router.add_post(API_PREFIX + "/interactions/{interaction_id}/{interaction_token}/callback", callback)
    app.router.add_post(WEBHOOK, followup)
    for method in ("GET", "PATCH", "DELETE"):
        app.router.add_route(method, WEBHOOK + "/messages/{message_id}", message_route)
