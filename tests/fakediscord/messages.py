"""Message creation, editing and deletion shared by channel routes and interaction webhooks."""

from __future__ import annotations

import datetime
import mimetypes
import time
from collections.abc import Sequence
from typing import Any

from .cdn import CDN
from .errors import EMPTY_MESSAGE, TOO_LARGE, err, field_errors, invalid_form, max_length
from .message_models import Attachment, Message
from .models import EPHEMERAL, LOADING, Channel, User
from .multipart import UploadedFile
from .state import State

NONCE_WINDOW = 120.0
EDITABLE_FLAGS = (1 << 2) | (1 << 12)  # SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS


def validate_payload(payload: dict[str, Any], *, has_files: bool, creating: bool) -> None:
    """Check content and embed limits; on create also reject an empty message (50006)."""
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        raise invalid_form(field_errors(("content", "BASE_TYPE_BAD_TYPE", "Must be a string.")))
    if content is not None and len(content) > 2000:
        raise max_length("content", 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        raise max_length("embeds", 10)
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            if len(str(embed.get(key) or "")) > limit:
                raise max_length(f"embeds.{i}.{key}", limit)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise max_length(f"embeds.{i}.fields", 25)
        total += len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
        total += sum(len(str(f.get("name", ""))) + len(str(f.get("value", ""))) for f in fields)
        total += len(str((embed.get("footer") or {}).get("text", ""))) + len(
            str((embed.get("author") or {}).get("name", ""))
        )
    if total > 6000:
        raise invalid_form(
            field_errors(("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
        )
    parts = (
        content,
        embeds,
        has_files,
        *(payload.get(k) for k in ("components", "sticker_ids", "poll", "attachments")),
    )
    if creating and not any(parts):
        raise err(EMPTY_MESSAGE)


class MessageService:
    """Creates and edits messages, stores uploads in the CDN and emits gateway events."""

    def __init__(self, state: State, cdn: CDN) -> None:
        self.state = state
        self.cdn = cdn

    def check_sizes(self, files: Sequence[UploadedFile], limit: int) -> None:
        """413 / 40005 if any single attachment is larger than ``limit`` bytes."""
        if any(len(f.data) > limit for f in files):
            raise err(TOO_LARGE)

    def attachments(
        self,
        payload: dict[str, Any],
        files: Sequence[UploadedFile],
        *,
        channel_id: int,
        existing: Sequence[Attachment] = (),
        ephemeral: bool = False,
    ) -> list[Attachment]:
        """Resolve ``payload.attachments`` against uploaded ``files[n]`` and already stored attachments."""
        by_index = {f.index: f for f in files}
        kept = {a.id: a for a in existing}
        specs = payload.get("attachments")
        out: list[Attachment] = []
        used: set[int | None] = set()
        if specs is None:
            out.extend(existing)
            specs = []
        for spec in specs:
            raw_id = spec.get("id")
            key = int(raw_id) if str(raw_id).isdigit() else None
            if key in kept:
                out.append(kept[key])
            elif key in by_index:
                used.add(key)
                out.append(self._store(by_index[key], spec, channel_id, ephemeral))
        for f in files:
            if f.index not in used:
                out.append(self._store(f, {}, channel_id, ephemeral))
        return out

    def _store(self, upload: UploadedFile, spec: dict[str, Any], channel_id: int, ephemeral: bool) -> Attachment:
        filename = str(spec.get("filename") or upload.filename)
        guessed = mimetypes.guess_type(filename)[0]
        ctype = guessed or (upload.content_type if upload.content_type != "application/octet-stream" else None)
        if ctype and ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        kind = "ephemeral-attachments" if ephemeral else "attachments"
        return self.cdn.store(
            kind=kind,
            parent_id=channel_id,
            filename=filename,
            data=upload.data,
            content_type=ctype,
            description=spec.get("description"),
            ephemeral=ephemeral,
        )

    def find_nonce(self, channel_id: int, author_id: int, nonce: str) -> Message | None:
        """An earlier message with the same nonce by the same author within the enforce window."""
        now = time.time()
        for msg in reversed(self.state.guild_messages(channel_id, include_ephemeral=True)):
            if msg.nonce == nonce and msg.author.id == author_id and now - _created(msg) < NONCE_WINDOW:
                return msg
        return None

    def create(
        self,
        channel: Channel,
        author: User,
        payload: dict[str, Any],
        files: Sequence[UploadedFile],
        *,
        limit: int,
        flags: int = 0,
        msg_type: int = 0,
        webhook_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        interaction_id: int | None = None,
        msg_id: int | None = None,
    ) -> Message:
        """Validate, store and announce (MESSAGE_CREATE) a new message."""
        self.check_sizes(files, limit)
        validate_payload(payload, has_files=bool(files), creating=not flags & LOADING)
        flags |= int(payload.get("flags") or 0) & (EPHEMERAL | EDITABLE_FLAGS | (1 << 15))
        msg = Message(
            id=msg_id or self.state.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=payload.get("content") or "",
            embeds=list(payload.get("embeds") or []),
            components=list(payload.get("components") or []),
            flags=flags,
            type=msg_type,
            tts=bool(payload.get("tts")),
            nonce=None if payload.get("nonce") is None else str(payload["nonce"]),
            webhook_id=webhook_id,
            application_id=webhook_id,
            interaction_metadata=interaction_metadata,
            message_reference=payload.get("message_reference"),
            interaction_id=interaction_id,
        )
        msg.attachments = self.attachments(payload, files, channel_id=channel.id, ephemeral=msg.ephemeral)
        self.state.store_message(msg)
        if not msg.ephemeral:
            self.state.emit("MESSAGE_CREATE", self.state.message_event_payload(msg), channel.guild_id)
        return msg

    def edit(self, msg: Message, payload: dict[str, Any], files: Sequence[UploadedFile], *, limit: int) -> Message:
        """Apply a PATCH to a message and announce it (MESSAGE_UPDATE)."""
        self.check_sizes(files, limit)
        validate_payload(payload, has_files=bool(files), creating=False)
        if "content" in payload:
            msg.content = payload["content"] or ""
        if "embeds" in payload:
            msg.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            msg.components = list(payload["components"] or [])
        if "flags" in payload and payload["flags"] is not None:
            msg.flags = (msg.flags & ~EDITABLE_FLAGS) | (int(payload["flags"]) & EDITABLE_FLAGS)
        if "attachments" in payload or files:
            msg.attachments = self.attachments(
                payload, files, channel_id=msg.channel_id, existing=msg.attachments, ephemeral=msg.ephemeral
            )
        msg.flags &= ~LOADING
        msg.edited_at = datetime.datetime.now(tz=datetime.UTC)
        self.state.changed.notify()
        if not msg.ephemeral:
            self.state.emit("MESSAGE_UPDATE", self.state.message_event_payload(msg), msg.guild_id)
        return msg

    def delete(self, msg: Message) -> None:
        """Mark a message deleted and announce it (MESSAGE_DELETE)."""
        msg.deleted = True
        channel = self.state.channels.get(msg.channel_id)
        if channel is not None and channel.is_thread:
            channel.message_count = max(channel.message_count - 1, 0)
        self.state.changed.notify()
        if not msg.ephemeral:
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            self.state.emit("MESSAGE_DELETE", data, msg.guild_id)


def _created(msg: Message) -> float:
    return ((msg.id >> 22) + 1420070400000) / 1000
