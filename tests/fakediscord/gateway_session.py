"""Gateway sessions (resumable, sequenced) and connections (compressed, ordered writes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .compression import make_compressor
from .util import shard_of

log = logging.getLogger(__name__)

GUILDS, GUILD_MEMBERS, GUILD_PRESENCES = 1 << 0, 1 << 1, 1 << 8
GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 9, 1 << 12, 1 << 15
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
BUFFER_LIMIT = 2000
OnSent = Callable[[float], None]


def required_intent(event: str, guild_id: int | None) -> int:
    """The intent a dispatch needs, or 0 when it is always sent."""
    if event.startswith("MESSAGE_"):
        return GUILD_MESSAGES if guild_id is not None else DIRECT_MESSAGES
    if event.startswith(("CHANNEL_", "THREAD_", "GUILD_ROLE_", "GUILD_UPDATE", "GUILD_DELETE")):
        return GUILDS
    if event.startswith("GUILD_MEMBER"):
        return GUILD_MEMBERS
    return 0


@dataclass
class GatewaySession:
    """An identified session; survives its connection so that it can be resumed."""

    id: str
    intents: int
    shard: tuple[int, int] = (0, 1)  # (shard id, shard count) from IDENTIFY; an unsharded session is 0 of 1
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    conn: GatewayConnection | None = None
    valid: bool = True

    def handles(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the events of ``guild_id`` (None: DMs, which go to shard 0)."""
        shard_id, count = self.shard
        return shard_of(guild_id, count) == shard_id

    def push(self, event: str, data: dict[str, Any], on_sent: OnSent | None = None) -> None:
        """Assign the next sequence number, keep the event for RESUME and send it if connected."""
        self.seq += 1
        payload = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.buffer.append(payload)
        del self.buffer[:-BUFFER_LIMIT]
        if self.conn is not None:
            self.conn.send(payload, on_sent)


class GatewayConnection:
    """One websocket connection with its own compression context and an ordered send queue."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self._compress = make_compressor(compress)
        self.compress = compress if self._compress is not None else None
        self.session: GatewaySession | None = None
        self.heartbeats = 0
        self.queue: asyncio.Queue[tuple[dict[str, Any] | None, OnSent | None]] = asyncio.Queue()
        self.writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, payload: dict[str, Any], on_sent: OnSent | None = None) -> None:
        """Queue a payload; payloads are written in order by the writer task."""
        self.queue.put_nowait((payload, on_sent))

    async def _write_loop(self) -> None:
        while True:
            payload, on_sent = await self.queue.get()
            if payload is None:
                return
            raw = json.dumps(payload, separators=(",", ":"))
            try:
                if self._compress is None:
                    await self.ws.send_str(raw)
                else:
                    await self.ws.send_bytes(self._compress(raw.encode()))
            except (ConnectionError, RuntimeError) as exc:
                log.debug("gateway write failed: %s", exc)
                return
            if on_sent is not None:
                on_sent(time.monotonic())

    async def close(self, code: int, reason: str = "") -> None:
        """Flush queued payloads, then close the websocket with a close code."""
        self.queue.put_nowait((None, None))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.writer), 2.0)
        await self.ws.close(code=code, message=reason.encode())
