"""Test-facing API to act as a Discord user: slash commands, autocomplete, buttons, selects, modals."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from .interaction_builder import FileSpec, InteractionBuilder
from .interactions import APPLICATION_COMMAND, AUTOCOMPLETE, MESSAGE_COMPONENT, MODAL_SUBMIT, InteractionRecord
from .message_models import Message
from .models import Channel, User
from .state import State


class InteractionsMixin:
    """Methods of FakeDiscord that send INTERACTION_CREATE and return an ``InteractionRecord``."""

    state: State
    builder: InteractionBuilder
    default_user: User
    token_lifetime: float
    interaction_records: dict[int, InteractionRecord]
    records_by_token: dict[str, InteractionRecord]
    gateway: Any
    commands_registry: Any

    def _target(self, guild_id: int | None, channel_id: int | None, user_id: int | None) -> tuple[Channel, User]:
        user = self.state.users[user_id] if user_id is not None else self.default_user
        if channel_id is not None:
            channel = self.state.channel(channel_id)
            if channel is None:
                raise LookupError(f"unknown channel {channel_id}")
        else:
            gid = guild_id if guild_id is not None else next(iter(self.state.guilds))
            channel = self.state.text_channels(gid)[0]
        return channel, user

    async def _send(
        self,
        type: int,
        channel: Channel,
        user: User,
        data: dict[str, Any],
        *,
        message: Message | None = None,
        app_permissions: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
        wait_timeout: float = 5.0,
    ) -> InteractionRecord:
        payload = self.builder.base(
            type,
            channel,
            user,
            app_permissions=app_permissions,
            member_permissions=member_permissions,
            locale=locale,
        )
        payload["data"] = data
        if message is not None:
            payload["message"] = self.state.message_payload(message)
        rec = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=type,
            payload=payload,
            guild_id=channel.guild_id,
            channel_id=channel.id,
            user_id=user.id,
        )
        rec.expires_at = rec.created_at + self.token_lifetime
        session = self.gateway.dispatch_one("INTERACTION_CREATE", payload, channel.guild_id, on_sent=rec.mark_sent)
        rec.shard = session.shard
        self.interaction_records[rec.id] = rec
        self.records_by_token[rec.token] = rec
        await rec.wait_sent(wait_timeout)
        return rec

    async def invoke_slash(
        self,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        name: str = "video",
        subcommand: str | None = "create",
        options: Mapping[str, Any] | None = None,
        attachments: Sequence[FileSpec] = (),
        *,
        app_permissions: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Invoke a registered slash command as ``user_id`` (default: ``default_user``) and return its record.

        ``subcommand`` may be ``"create"`` or ``"group create"`` (None for a top-level command).
        ``options`` maps option names to values (str/int/float/bool, ids or objects for users, roles and
        channels, ``(filename, bytes[, content_type])`` for attachments); ``attachments`` fill the command's
        ATTACHMENT options not given in ``options``, in order. Permissions default to what the fake computes
        from roles and overwrites. Returns once INTERACTION_CREATE has been written to the websocket.
        Raises LookupError if the command is not registered (Discord only sends registered commands).
        """
        channel, user = self._target(guild_id, channel_id, user_id)
        command = self._command(name, channel)
        data = self.builder.command_data(command, subcommand, options or {}, attachments, channel=channel)
        return await self._send(
            APPLICATION_COMMAND,
            channel,
            user,
            data,
            app_permissions=app_permissions,
            member_permissions=member_permissions,
            locale=locale,
        )

    async def invoke_autocomplete(
        self,
        focused: str,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        name: str = "video",
        subcommand: str | None = "create",
        options: Mapping[str, Any] | None = None,
        *,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Send an AUTOCOMPLETE interaction with ``focused`` as the option being typed.

        The bot's answer is a callback of type 8; read ``(await rec.wait_response()).data["choices"]``.
        """
        channel, user = self._target(guild_id, channel_id, user_id)
        command = self._command(name, channel)
        values = dict(options or {})
        values.setdefault(focused, "")
        data = self.builder.command_data(command, subcommand, values, (), channel=channel, focused=focused)
        return await self._send(AUTOCOMPLETE, channel, user, data, locale=locale)

    def _command(self, name: str, channel: Channel) -> dict[str, Any]:
        command: dict[str, Any] | None = self.commands_registry.find(name, channel.guild_id)
        if command is None:
            known = [c["name"] for scope in self.commands_registry.scopes.values() for c in scope]
            raise LookupError(f"command {name!r} is not registered (registered: {known}); sync the tree first")
        return command

    async def click_button(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int | None = None,
        app_permissions: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Click the button ``custom_id`` on a stored message (it must exist there and be enabled)."""
        return await self.use_component(
            message_id,
            custom_id,
            user_id=user_id,
            app_permissions=app_permissions,
            member_permissions=member_permissions,
            locale=locale,
        )

    async def use_component(
        self,
        message_id: int,
        custom_id: str,
        values: Sequence[str] | None = None,
        *,
        user_id: int | None = None,
        app_permissions: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Use any component on a stored message: a button, or a select menu with ``values``."""
        msg = self.state.messages.get(message_id)
        if msg is None or msg.deleted:
            raise LookupError(f"unknown message {message_id}")
        channel, user = self._target(None, msg.channel_id, user_id)
        data = self.builder.component_data(msg, custom_id, values)
        return await self._send(
            MESSAGE_COMPONENT,
            channel,
            user,
            data,
            message=msg,
            app_permissions=app_permissions,
            member_permissions=member_permissions,
            locale=locale,
        )

    async def submit_modal(
        self, parent: InteractionRecord, values: Mapping[str, Any], *, user_id: int | None = None
    ) -> InteractionRecord:
        """Submit the modal the bot opened in answer to ``parent``; ``values`` maps input custom_ids to text."""
        if parent.modal is None:
            raise LookupError(f"interaction {parent.id} was not answered with a modal")
        channel, user = self._target(None, parent.channel_id, user_id if user_id is not None else parent.user_id)
        data = self.builder.modal_data(parent.modal, values)
        message = None
        if "message" in parent.payload:
            message = self.state.messages.get(int(parent.payload["message"]["id"]))
        return await self._send(MODAL_SUBMIT, channel, user, data, message=message)

    def original_message(self, rec: InteractionRecord) -> Message | None:
        """The interaction's original response message (also ephemeral or deleted), if it has one."""
        return self.state.messages.get(rec.original_message_id) if rec.original_message_id is not None else None

    def expire_token(self, rec: InteractionRecord) -> None:
        """Make an interaction token invalid now, as if its 15 minutes had passed."""
        rec.expires_at = time.monotonic() - 1

    @property
    def interactions(self) -> list[InteractionRecord]:
        """Every interaction sent, oldest first."""
        return list(self.interaction_records.values())
