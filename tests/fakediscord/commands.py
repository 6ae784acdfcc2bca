"""Application command registry (global and per guild) and its REST routes, counting bulk syncs."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .errors import MISSING_ACCESS, UNKNOWN_APPLICATION, UNKNOWN_COMMAND, err, field_errors, invalid_form, json_response
from .rest_common import API_PREFIX, FAKE_KEY, body_of, json_body, sf
from .util import SnowflakeGenerator

NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
# Discord's locale codes: a localization under any other key is refused (Invalid Form Body).
LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)


@dataclass
class CommandSync:
    """One bulk overwrite (PUT) of a command scope; ``guild_id`` is None for global commands."""

    guild_id: int | None
    names: list[str]
    at: float


def _validate(commands: list[dict[str, Any]]) -> None:
    if len(commands) > 100:
        raise invalid_form(field_errors(("_errors", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")))
    for i, cmd in enumerate(commands):
        _validate_named(cmd, str(i), chat=int(cmd.get("type") or 1) == 1)


def _validate_named(obj: dict[str, Any], path: str, *, chat: bool) -> None:
    name = obj.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or (chat and name != name.lower()):
        raise invalid_form(
            field_errors((f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
        )
    _validate_localizations(obj.get("name_localizations"), f"{path}.name_localizations", named=True)
    if chat:
        desc = obj.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            msg = "Must be between 1 and 100 in length."
            raise invalid_form(field_errors((f"{path}.description", "BASE_TYPE_BAD_LENGTH", msg)))
        _validate_localizations(obj.get("description_localizations"), f"{path}.description_localizations")
    options = obj.get("options") or []
    if len(options) > 25:
        raise invalid_form(field_errors((f"{path}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")))
    for j, opt in enumerate(options):
        if len(opt.get("choices") or []) > 25:
            msg = "Must be 25 or fewer in length."
            raise invalid_form(field_errors((f"{path}.options.{j}.choices", "BASE_TYPE_MAX_LENGTH", msg)))
        for k, choice in enumerate(opt.get("choices") or []):
            where = f"{path}.options.{j}.choices.{k}.name_localizations"
            _validate_localizations(choice.get("name_localizations"), where)
        _validate_named(opt, f"{path}.options.{j}", chat=True)


def _validate_localizations(localized: object, path: str, *, named: bool = False) -> None:
    """Localized names or descriptions: keyed by Discord locales, each 1-100 characters (a name as a name)."""
    if localized is None:
        return
    if not isinstance(localized, dict):
        raise invalid_form(field_errors((path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")))
    for locale, text in localized.items():
        if locale not in LOCALES:
            raise invalid_form(field_errors((f"{path}.{locale}", "LOCALE_INVALID", "Invalid locale")))
        if not isinstance(text, str) or not 1 <= len(text) <= 100 or (named and not NAME_RE.match(text)):
            msg = "Must be between 1 and 100 in length."
            raise invalid_form(field_errors((f"{path}.{locale}", "BASE_TYPE_BAD_LENGTH", msg)))


@dataclass
class CommandRegistry:
    """Commands per scope (None = global), with stable ids across overwrites of the same name and type."""

    app_id: int
    ids: SnowflakeGenerator
    scopes: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)
    syncs: list[CommandSync] = field(default_factory=list)

    def _complete(self, data: dict[str, Any], guild_id: int | None, old: dict[str, Any] | None) -> dict[str, Any]:
        cmd = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "name_localizations": None,
            "description_localizations": None,
            "contexts": None,
            "integration_types": [0],
            **data,
            "id": old["id"] if old else str(self.ids.next()),
            "application_id": str(self.app_id),
            "version": str(self.ids.next()),
        }
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        return cmd

    def commands_in(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Registered commands of a scope."""
        return list(self.scopes.get(guild_id, []))

    def overwrite(self, guild_id: int | None, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bulk overwrite a scope (what ``CommandTree.sync`` does) and record the sync."""
        _validate(commands)
        old = {(c["name"], c["type"]): c for c in self.scopes.get(guild_id, [])}
        new = [self._complete(c, guild_id, old.get((c["name"], int(c.get("type") or 1)))) for c in commands]
        self.scopes[guild_id] = new
        self.syncs.append(CommandSync(guild_id, [c["name"] for c in new], time.monotonic()))
        return new

    def upsert(self, guild_id: int | None, data: dict[str, Any]) -> dict[str, Any]:
        """Create or replace one command (POST)."""
        _validate([data])
        scope = self.scopes.setdefault(guild_id, [])
        key = (data["name"], int(data.get("type") or 1))
        old = next((c for c in scope if (c["name"], c["type"]) == key), None)
        cmd = self._complete(data, guild_id, old)
        scope[:] = [c for c in scope if c is not old] + [cmd]
        return cmd

    def find(self, name: str, guild_id: int | None, type: int = 1) -> dict[str, Any] | None:
        """The command a user in ``guild_id`` would invoke: guild commands first, then global ones."""
        for scope in (guild_id, None) if guild_id is not None else (None,):
            for cmd in self.scopes.get(scope, []):
                if cmd["name"] == name and cmd["type"] == type:
                    return cmd
        return None

    def sync_count(self, guild_id: int | None = None) -> int:
        """How many bulk overwrites targeted a scope."""
        return sum(1 for s in self.syncs if s.guild_id == guild_id)


def _scope(request: web.Request) -> tuple[Any, int | None]:
    fake = request.app[FAKE_KEY]
    if sf(request, "application_id") != fake.app_id:
        raise err(UNKNOWN_APPLICATION)
    if "guild_id" not in request.match_info:
        return fake, None
    guild_id = sf(request, "guild_id")
    if guild_id not in fake.state.guilds:
        raise err(MISSING_ACCESS)
    return fake, guild_id


async def list_commands(request: web.Request) -> web.Response:
    """GET .../commands."""
    fake, guild_id = _scope(request)
    return json_response(fake.commands_registry.commands_in(guild_id))


async def bulk_overwrite(request: web.Request) -> web.Response:
    """PUT .../commands."""
    fake, guild_id = _scope(request)
    data = body_of(request).json
    if not isinstance(data, list):
        raise invalid_form(field_errors(("_errors", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")))
    return json_response(fake.commands_registry.overwrite(guild_id, data))


async def create_command(request: web.Request) -> web.Response:
    """POST .../commands."""
    fake, guild_id = _scope(request)
    return json_response(fake.commands_registry.upsert(guild_id, json_body(request)), 201)


def _one(request: web.Request) -> tuple[Any, int | None, dict[str, Any]]:
    fake, guild_id = _scope(request)
    cid = str(sf(request, "command_id"))
    for cmd in fake.commands_registry.commands_in(guild_id):
        if cmd["id"] == cid:
            return fake, guild_id, cmd
    raise err(UNKNOWN_COMMAND)


async def get_command(request: web.Request) -> web.Response:
    """GET .../commands/{command_id}."""
    return json_response(_one(request)[2])


async def edit_command(request: web.Request) -> web.Response:
    """PATCH .../commands/{command_id}."""
    fake, guild_id, cmd = _one(request)
    return json_response(fake.commands_registry.upsert(guild_id, {**cmd, **json_body(request)}))


async def delete_command(request: web.Request) -> web.Response:
    """DELETE .../commands/{command_id}."""
    fake, guild_id, cmd = _one(request)
    scope = fake.commands_registry.scopes.get(guild_id, [])
    scope[:] = [c for c in scope if c is not cmd]
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    """Register the application command routes."""
    for base in ("/applications/{application_id}", "/applications/{application_id}/guilds/{guild_id}"):
        path = API_PREFIX + base + "/commands"
        app.router.add_get(path, list_commands)
        app.router.add_put(path, bulk_overwrite)
        app.router.add_post(path, create_command)
        app.router.add_get(path + "/{command_id}", get_command)
        app.router.add_patch(path + "/{command_id}", edit_command)
        app.router.add_delete(path + "/{command_id}", delete_command)
