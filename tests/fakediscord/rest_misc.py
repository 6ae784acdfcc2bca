"""Gateway discovery, users, DMs, application info and guild routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import UNKNOWN_GUILD, UNKNOWN_MEMBER, UNKNOWN_USER, err, field_errors, invalid_form, json_response
from .models import Guild
from .rest_common import API_PREFIX, FAKE_KEY, json_body, sf


async def get_gateway(request: web.Request) -> web.Response:
    """GET /gateway."""
    return json_response({"url": request.app[FAKE_KEY].gateway_url.rstrip("/")})


async def get_gateway_bot(request: web.Request) -> web.Response:
    """GET /gateway/bot."""
    fake = request.app[FAKE_KEY]
    gateway = fake.gateway
    limit = {"total": 1000, "remaining": 1000 - gateway.identify_count, "reset_after": 86_400_000}
    return json_response(
        {
            "url": fake.gateway_url.rstrip("/"),
            "shards": gateway.recommended_shards,
            "session_start_limit": {**limit, "max_concurrency": gateway.max_concurrency},
        }
    )


async def get_me(request: web.Request) -> web.Response:
    """GET /users/@me."""
    fake = request.app[FAKE_KEY]
    me = {**fake.state.bot_user.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}
    return json_response({**me, "premium_type": 0, "bio": ""})


async def get_user(request: web.Request) -> web.Response:
    """GET /users/{user_id}."""
    user = request.app[FAKE_KEY].state.users.get(sf(request, "user_id"))
    if user is None:
        raise err(UNKNOWN_USER)
    return json_response(user.payload())


async def open_dm(request: web.Request) -> web.Response:
    """POST /users/@me/channels {recipient_id}."""
    fake = request.app[FAKE_KEY]
    raw = json_body(request).get("recipient_id")
    if not str(raw).isdigit():
        raise invalid_form(field_errors(("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")))
    if int(str(raw)) not in fake.state.users:
        raise err(UNKNOWN_USER)
    return json_response(fake.state.channel_payload(fake.state.open_dm(int(str(raw)))))


def app_info(fake: Any) -> dict[str, Any]:
    """The application object (GET /oauth2/applications/@me and /applications/@me)."""
    owner = fake.owner_user.payload()
    return {
        "id": str(fake.app_id),
        "name": fake.state.bot_user.username,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": fake.app_flags,
        "owner": owner,
        "team": None,
        "bot": fake.state.bot_user.payload(),
        "hook": True,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "approximate_guild_count": len(fake.state.guilds),
        "integration_types_config": {"0": {}},
        "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
    }


async def get_application(request: web.Request) -> web.Response:
    """GET /oauth2/applications/@me and GET /applications/@me."""
    return json_response(app_info(request.app[FAKE_KEY]))


def _guild(request: web.Request) -> tuple[Any, Guild]:
    fake = request.app[FAKE_KEY]
    guild = fake.state.guilds.get(sf(request, "guild_id"))
    if guild is None:
        raise err(UNKNOWN_GUILD)
    return fake, guild


async def get_guild(request: web.Request) -> web.Response:
    """GET /guilds/{guild_id} (?with_counts=true adds approximate counts)."""
    fake, guild = _guild(request)
    data = guild.payload(app_id=fake.app_id)
    if request.query.get("with_counts", "").lower() in ("1", "true"):
        data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
    return json_response(data)


async def get_guild_channels(request: web.Request) -> web.Response:
    """GET /guilds/{guild_id}/channels."""
    fake, guild = _guild(request)
    return json_response([fake.state.channel_payload(c) for c in fake.state.text_channels(guild.id)])


async def get_guild_roles(request: web.Request) -> web.Response:
    """GET /guilds/{guild_id}/roles."""
    _, guild = _guild(request)
    return json_response([r.payload() for r in guild.roles.values()])


async def get_member(request: web.Request) -> web.Response:
    """GET /guilds/{guild_id}/members/{user_id}."""
    _, guild = _guild(request)
    member = guild.members.get(sf(request, "user_id"))
    if member is None:
        raise err(UNKNOWN_MEMBER)
    return json_response(member.payload())


async def active_threads(request: web.Request) -> web.Response:
    """GET /guilds/{guild_id}/threads/active."""
    fake, guild = _guild(request)
    threads = [t for t in fake.state.threads(guild.id) if not t.archived]
    payloads = [fake.state.channel_payload(t) for t in threads]
    return json_response({"threads": payloads, "members": [p["member"] for p in payloads if "member" in p]})


def setup(app: web.Application) -> None:
    """Register the routes of this module."""
    add = app.router
    add.add_get(API_PREFIX + "/gateway", get_gateway)
    add.add_get(API_PREFIX + "/gateway/bot", get_gateway_bot)
    add.add_get(API_PREFIX + "/users/@me", get_me)
    add.add_post(API_PREFIX + "/users/@me/channels", open_dm)
    add.add_get(API_PREFIX + "/users/{user_id}", get_user)
    add.add_get(API_PREFIX + "/oauth2/applications/@me", get_application)
    add.add_get(API_PREFIX + "/applications/@me", get_application)
    add.add_get(API_PREFIX + "/guilds/{guild_id}", get_guild)
    add.add_get(API_PREFIX + "/guilds/{guild_id}/channels", get_guild_channels)
    add.add_get(API_PREFIX + "/guilds/{guild_id}/roles", get_guild_roles)
    add.add_get(API_PREFIX + "/guilds/{guild_id}/members/{user_id}", get_member)
    add.add_get(API_PREFIX + "/guilds/{guild_id}/threads/active", active_threads)
