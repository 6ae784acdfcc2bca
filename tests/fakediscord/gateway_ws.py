"""The gateway websocket: HELLO, IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME, zlib-stream, dispatch.

Sharded like Discord: IDENTIFY's ``shard: [id, count]`` picks the guilds a session gets, by ``(guild_id >> 22) %
count``; DMs go to shard 0. A shard id outside the count closes with 4010, a shard holding more than
``max_guilds_per_shard`` guilds with 4011 (sharding required).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from .gateway_session import (
    GUILD_PRESENCES,
    MESSAGE_CONTENT,
    PRIVILEGED,
    GatewayConnection,
    GatewaySession,
    OnSent,
    required_intent,
)
from .state import State
from .util import shard_of

log = logging.getLogger(__name__)


class Gateway:
    """Serves the gateway websocket and dispatches events to identified sessions."""

    def __init__(
        self,
        *,
        state: State,
        token: str,
        app_id: int,
        app_flags: int,
        heartbeat_interval_ms: int,
        allowed_intents: int,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        max_guilds_per_shard: int = 2500,
    ) -> None:
        self.state = state
        self.token = token
        self.app_id = app_id
        self.app_flags = app_flags
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_intents = allowed_intents
        self.recommended_shards = recommended_shards  # GET /gateway/bot's "shards"
        self.max_concurrency = max_concurrency
        self.max_guilds_per_shard = max_guilds_per_shard
        self.url = ""
        self.ack_heartbeats = True
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.received: list[dict[str, Any]] = []
        self.identify_count = 0
        self.resume_count = 0

    # --- public API -------------------------------------------------------------------------------

    def live_sessions(self, shard_id: int | None = None) -> list[GatewaySession]:
        """Valid sessions that currently have a connection (of one shard, when given)."""
        return [
            s
            for s in self.sessions.values()
            if s.valid and s.conn is not None and (shard_id is None or s.shard[0] == shard_id)
        ]

    def dispatch(
        self, event: str, data: dict[str, Any], guild_id: int | None = None, *, on_sent: OnSent | None = None
    ) -> int:
        """Send a dispatch to the valid sessions of the guild's shard that its intents allow; returns how many."""
        need = required_intent(event, guild_id)
        count = 0
        for session in self.sessions.values():
            if not session.valid or not session.handles(guild_id) or (need and not session.intents & need):
                continue
            session.push(event, self._filter_content(event, data, guild_id, session), on_sent)
            count += 1
        return count

    def dispatch_one(
        self, event: str, data: dict[str, Any], guild_id: int | None = None, *, on_sent: OnSent | None = None
    ) -> GatewaySession:
        """Send a dispatch to the most recent live session of the guild's shard only (as Discord does for
        interactions; DMs go to shard 0)."""
        live = [s for s in self.live_sessions() if s.handles(guild_id)]
        if not live:
            raise RuntimeError(f"no bot is connected to the fake gateway for the shard of guild {guild_id}")
        live[-1].push(event, data, on_sent)
        return live[-1]

    async def disconnect(self, code: int = 4000, reason: str = "") -> None:
        """Close every connection with ``code`` (4000-4009 let discord.py resume)."""
        for conn in list(self.connections):
            await conn.close(code, reason)

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every connection."""
        for conn in self.connections:
            conn.send({"op": 7, "d": None, "s": None, "t": None})

    def invalidate_sessions(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; non-resumable sessions are forgotten."""
        for conn in self.connections:
            if conn.session is not None and not resumable:
                conn.session.valid = False
            conn.send({"op": 9, "d": resumable, "s": None, "t": None})

    # --- websocket handler ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``GET /`` with a websocket upgrade."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Expected a websocket upgrade")
        await ws.prepare(request)
        compress = request.query.get("compress")
        conn = GatewayConnection(ws, compress)
        self.connections.append(conn)
        self.state.changed.notify()
        try:
            if request.query.get("v", "10") not in ("9", "10"):
                await conn.close(4012, "Invalid API version")
                return ws
            if request.query.get("encoding", "json") != "json" or (compress and conn.compress is None):
                log.error("unsupported gateway encoding/compression: %s", dict(request.query))
                await conn.close(4002, "Error while decoding payload.")
                return ws
            conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        await conn.close(4002, "Error while decoding payload.")
                    break
                try:
                    payload = json.loads(msg.data)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await conn.close(4002, "Error while decoding payload.")
                    break
                self.received.append({"op": op, "d": payload.get("d"), "at": time.monotonic()})
                await self._on_op(conn, op, payload.get("d"))
        finally:
            await self._forget(conn)
        return ws

    async def _forget(self, conn: GatewayConnection) -> None:
        conn.queue.put_nowait((None, None))
        if conn in self.connections:
            self.connections.remove(conn)
        if conn.session is not None and conn.session.conn is conn:
            conn.session.conn = None
        self.state.changed.notify()

    async def _on_op(self, conn: GatewayConnection, op: int, d: Any) -> None:
        if op == 1:
            conn.heartbeats += 1
            if self.ack_heartbeats:
                conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, d or {})
        elif op == 6:
            await self._resume(conn, d or {})
        elif conn.session is None:
            await conn.close(4003, "Not authenticated.")
        elif op == 8:
            self._request_members(conn, d or {})
        elif op not in (3, 4):
            await conn.close(4001, "Unknown opcode.")

    def _token_ok(self, token: Any) -> bool:
        return isinstance(token, str) and token.removeprefix("Bot ") == self.token

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        if not self._token_ok(d.get("token")):
            await conn.close(4004, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await conn.close(4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED & ~self.allowed_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        shard = _shard(d.get("shard", [0, 1]))
        if shard is None:
            await conn.close(4010, "Invalid shard.")
            return
        guilds = [g for g in self.state.guilds.values() if shard_of(g.id, shard[1]) == shard[0]]
        if len(guilds) > self.max_guilds_per_shard:
            await conn.close(4011, "Sharding required.")
            return
        self.identify_count += 1
        session = GatewaySession(id=uuid.uuid4().hex, intents=intents, shard=shard, conn=conn)
        self.sessions[session.id] = session
        conn.session = session
        app = {"id": str(self.app_id), "flags": self.app_flags}
        user = {**self.state.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None}
        ready = {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(guild.id), "unavailable": True} for guild in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": app,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["gateway-fake",{"micros":0}]'],
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        session.push("READY", ready)
        for guild in guilds:
            everyone = bool(intents & GUILD_PRESENCES)
            session.push(
                "GUILD_CREATE", self.state.guild_create_payload(guild, app_id=self.app_id, all_members=everyone)
            )
        self.state.changed.notify()

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if not self._token_ok(d.get("token")):
            await conn.close(4004, "Authentication failed.")
            return
        session = self.sessions.get(str(d.get("session_id")))
        seq = d.get("seq") or 0
        if session is None or not session.valid or (session.buffer and seq < session.buffer[0]["s"] - 1):
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn:
            old = session.conn
            session.conn = None
            await old.close(4000, "Session resumed elsewhere")
        self.resume_count += 1
        conn.session = session
        session.conn = conn
        for payload in session.buffer:
            if payload["s"] > seq:
                conn.send(payload)
        session.push("RESUMED", {"_trace": ['["gateway-fake",{"micros":0}]']})
        self.state.changed.notify()

    def _request_members(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        guild = self.state.guilds.get(int(d.get("guild_id", 0)))
        if guild is None or conn.session is None or not conn.session.handles(guild.id):
            return
        members = list(guild.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.user.id in wanted]
        elif d.get("query"):
            members = [m for m in members if m.user.username.lower().startswith(str(d["query"]).lower())]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("presences"):
            chunk["presences"] = []
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        conn.session.push("GUILD_MEMBERS_CHUNK", chunk)

    def _filter_content(
        self, event: str, data: dict[str, Any], guild_id: int | None, session: GatewaySession
    ) -> dict[str, Any]:
        """Strip message content for sessions without MESSAGE_CONTENT, like Discord does."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or session.intents & MESSAGE_CONTENT:
            return data
        author = (data.get("author") or {}).get("id")
        me = str(self.state.bot_user.id)
        mentioned = any(u.get("id") == me for u in data.get("mentions", []))
        if guild_id is None or author == me or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}


def _shard(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard`` as (id, count), or None when Discord would refuse it."""
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(type(v) is int for v in value)):
        return None
    shard_id, count = value
    return (shard_id, count) if count >= 1 and 0 <= shard_id < count else None
