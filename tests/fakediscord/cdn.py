"""The fake CDN: signed attachment URLs (``?ex=&is=&hm=``) served from the fake's own HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import quote

from aiohttp import web

from .message_models import Attachment
from .state import State

GONE = "This content is no longer available."


class CDN:
    """Signs attachment URLs and serves the stored bytes while the signature is valid."""

    def __init__(self, state: State, ttl: float) -> None:
        self.state = state
        self.ttl = ttl
        self.base_url = ""
        self._secret = secrets.token_bytes(32)
        self.clock_offset = 0.0

    def _sig(self, path: str, ex: str, is_: str) -> str:
        return hmac.new(self._secret, f"{path}|{ex}|{is_}".encode(), hashlib.sha256).hexdigest()

    def url(self, kind: str, parent_id: int, attachment_id: int, filename: str) -> str:
        """A signed URL like Discord's: ``/attachments/<channel>/<id>/<name>?ex=<hex>&is=<hex>&hm=<hex>``."""
        path = f"/{kind}/{parent_id}/{attachment_id}/{quote(filename)}"
        now = int(time.time() + self.clock_offset)
        ex, is_ = f"{now + int(self.ttl):x}", f"{now:x}"
        return f"{self.base_url}{path}?ex={ex}&is={is_}&hm={self._sig(path, ex, is_)}&"

    def store(
        self,
        *,
        kind: str,
        parent_id: int,
        filename: str,
        data: bytes,
        content_type: str | None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> Attachment:
        """Store uploaded bytes and return the attachment with its signed URL."""
        att_id = self.state.ids.next()
        url = self.url(kind, parent_id, att_id, filename)
        att = Attachment(att_id, filename, content_type, data, url, description=description, ephemeral=ephemeral)
        self.state.attachments[att_id] = att
        return att

    def expire_all(self) -> None:
        """Make every URL issued so far invalid (as if ``ex`` had passed)."""
        self.clock_offset += self.ttl + 1

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """GET handler for attachment URLs; expired or unsigned URLs give 404 like the real CDN."""
        ex, is_, hm = (request.query.get(k, "") for k in ("ex", "is", "hm"))
        path = request.path
        valid = bool(hm) and hmac.compare_digest(hm, self._sig(quote(path, safe="/"), ex, is_))
        try:
            expired = int(ex, 16) < time.time() + self.clock_offset
        except ValueError:
            expired = True
        att = self.state.attachments.get(int(request.match_info["attachment_id"]))
        if not valid or expired or att is None:
            return web.Response(status=404, text=GONE)
        return web.Response(body=att.data, content_type=att.content_type or "application/octet-stream")
