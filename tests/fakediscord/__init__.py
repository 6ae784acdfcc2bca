"""A fake Discord (REST API v10, gateway and CDN) for end-to-end tests of a real discord.py bot.

Typical use::

    async with FakeDiscord(token="t") as fake:
        discord.http.Route.BASE = fake.rest_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        ...
        rec = await fake.invoke_slash(options={"prompt": "a cat"})
        call = await rec.wait_response(3)
"""

from .fake import FakeDiscord
from .faults import Fault
from .interactions import InteractionCall, InteractionRecord
from .message_models import Attachment, Message
from .models import Channel, Guild, Member, Role, User
from .permissions import DEFAULT_BOT, DEFAULT_EVERYONE, P, perms
from .ratelimits import MESSAGE_EDIT, MESSAGES, RateLimitHit, RateLimits, RouteLimit
from .rest_common import RequestRecord
from .state import GuildSpec

__all__ = [
    "DEFAULT_BOT",
    "DEFAULT_EVERYONE",
    "MESSAGES",
    "MESSAGE_EDIT",
    "Attachment",
    "Channel",
    "FakeDiscord",
    "Fault",
    "Guild",
    "GuildSpec",
    "InteractionCall",
    "InteractionRecord",
    "Member",
    "Message",
    "P",
    "RateLimitHit",
    "RateLimits",
    "RequestRecord",
    "Role",
    "RouteLimit",
    "User",
    "perms",
]
