"""Builds INTERACTION_CREATE payloads: slash commands (with options and attachments), components, modals."""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .message_models import Attachment, Message
from .models import MIB, Channel, User
from .state import State

SUB_COMMAND, SUB_COMMAND_GROUP, ATTACHMENT = 1, 2, 11
FileSpec = tuple[str, bytes] | tuple[str, bytes, str]


def walk_components(components: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component in a tree of action rows, labels, sections and containers."""
    for comp in components:
        yield comp
        yield from walk_components(comp.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from walk_components([comp[key]])


class InteractionBuilder:
    """Turns test-friendly arguments into the exact interaction payloads Discord sends."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.state: State = fake.state

    def base(
        self,
        type: int,
        channel: Channel,
        user: User,
        *,
        app_permissions: int | None,
        member_permissions: int | None,
        locale: str,
    ) -> dict[str, Any]:
        """Fields every interaction carries (id, token, channel, member/user, permissions, limits...)."""
        state, bot = self.state, self.state.bot_user
        app_perms = state.permissions_for(channel, bot.id) if app_permissions is None else app_permissions
        user_perms = state.permissions_for(channel, user.id) if member_permissions is None else member_permissions
        guild = state.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        data: dict[str, Any] = {
            "id": str(state.ids.next()),
            "application_id": str(self.fake.app_id),
            "type": type,
            "token": "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(120),
            "version": 1,
            "channel_id": str(channel.id),
            "channel": {**state.channel_payload(channel), "permissions": str(user_perms)},
            "app_permissions": str(app_perms),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": guild.upload_limit if guild is not None else 10 * MIB,
        }
        if guild is not None:
            member = guild.members.get(user.id)
            if member is None:
                raise LookupError(f"user {user.id} is not a member of guild {guild.id}")
            data.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member.payload(permissions=user_perms),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            data.update(user=user.payload(), authorizing_integration_owners={"0": "0"}, context=1)
        return data

    # --- application commands ----------------------------------------------------------------------

    def command_data(
        self,
        command: dict[str, Any],
        subcommand: str | None,
        options: Mapping[str, Any],
        attachments: Sequence[FileSpec],
        *,
        channel: Channel,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """The ``data`` of an APPLICATION_COMMAND/AUTOCOMPLETE interaction for a registered command."""
        resolved: dict[str, dict[str, Any]] = {}
        schema: list[dict[str, Any]] = command.get("options") or []
        path = subcommand.split() if subcommand else []
        wrappers: list[dict[str, Any]] = []
        for part in path:
            opt = next((o for o in schema if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
            if opt is None:
                raise LookupError(f"command {command['name']!r} has no subcommand {part!r}")
            wrappers.append({"type": opt["type"], "name": part})
            schema = opt.get("options") or []
        leaf = self._options(schema, options, list(attachments), resolved, channel=channel, focused=focused)
        for wrapper in reversed(wrappers):
            wrapper["options"] = leaf
            leaf = [wrapper]
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": command["type"]}
        if leaf:
            data["options"] = leaf
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return data

    def _options(
        self,
        schema: list[dict[str, Any]],
        values: Mapping[str, Any],
        files: list[FileSpec],
        resolved: dict[str, dict[str, Any]],
        *,
        channel: Channel,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        unknown = set(values) - {o["name"] for o in schema}
        if unknown:
            raise LookupError(f"unknown option(s) {sorted(unknown)}; the command defines {[o['name'] for o in schema]}")
        out = []
        for opt in schema:
            name, kind = opt["name"], opt["type"]
            if name in values:
                value = values[name]
            elif kind == ATTACHMENT and files and focused is None:
                value = files.pop(0)
            elif opt.get("required") and focused is None:
                raise ValueError(f"required option {name!r} is missing")
            else:
                continue
            entry: dict[str, Any] = {"name": name, "type": kind}
            if name == focused:
                entry.update(value=str(value), focused=True)
            else:
                entry["value"] = self._resolve(kind, value, resolved, channel=channel)
            out.append(entry)
        return out

    def _resolve(self, kind: int, value: Any, resolved: dict[str, dict[str, Any]], *, channel: Channel) -> Any:
        state = self.state
        if kind == 3:
            return str(value)
        if kind == 4:
            return int(value)
        if kind == 5:
            return bool(value)
        if kind == 10:
            return float(value)
        if kind == ATTACHMENT:
            att = value if isinstance(value, Attachment) else self._upload(value, channel)
            resolved.setdefault("attachments", {})[str(att.id)] = att.payload()
            return str(att.id)
        snowflake = int(getattr(value, "id", value))
        guild = state.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        if kind in (6, 9) and snowflake in state.users:
            resolved.setdefault("users", {})[str(snowflake)] = state.users[snowflake].payload()
            member = guild.members.get(snowflake) if guild is not None else None
            if member is not None:
                partial = member.payload(permissions=state.permissions_for(channel, snowflake))
                partial.pop("user")
                resolved.setdefault("members", {})[str(snowflake)] = partial
        elif kind in (8, 9) and guild is not None and snowflake in guild.roles:
            resolved.setdefault("roles", {})[str(snowflake)] = guild.roles[snowflake].payload()
        elif kind == 7 and snowflake in state.channels:
            target = state.channels[snowflake]
            perms = state.permissions_for(target, state.bot_user.id)
            resolved.setdefault("channels", {})[str(snowflake)] = {
                **state.channel_payload(target),
                "permissions": str(perms),
            }
        return str(snowflake)

    def _upload(self, spec: FileSpec, channel: Channel) -> Attachment:
        filename, data = spec[0], spec[1]
        content_type = spec[2] if len(spec) > 2 else mimetypes.guess_type(filename)[0]
        att: Attachment = self.fake.cdn.store(
            kind="ephemeral-attachments",
            parent_id=channel.id,
            filename=filename,
            data=data,
            content_type=content_type,
            ephemeral=True,
        )
        return att

    # --- components and modals ---------------------------------------------------------------------

    def component_data(self, msg: Message, custom_id: str, values: Sequence[str] | None) -> dict[str, Any]:
        """``data`` for a click/select on a component of ``msg``; the component must exist and be enabled."""
        comp = next((c for c in walk_components(msg.components) if c.get("custom_id") == custom_id), None)
        if comp is None:
            raise LookupError(f"message {msg.id} has no component with custom_id {custom_id!r}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
        if "id" in comp:
            data["id"] = comp["id"]
        return data

    def modal_data(self, modal: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` for submitting a modal the bot opened, mirroring its layout (rows or labels)."""
        return {
            "custom_id": modal["custom_id"],
            "components": [self._submitted(c, values) for c in modal["components"]],
        }

    def _submitted(self, comp: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": comp["type"], "id": comp.get("id", 0)}
        if comp["type"] == 1:
            out["components"] = [self._submitted(c, values) for c in comp.get("components", [])]
        elif comp["type"] == 18:
            out["component"] = self._submitted(comp["component"], values)
        elif "custom_id" in comp:
            out["custom_id"] = comp["custom_id"]
            value = values.get(comp["custom_id"], comp.get("value") or "")
            if comp["type"] == 4:
                out["value"] = str(value)
            else:
                out["values"] = list(value) if isinstance(value, list | tuple) else [value]
        return out
