"""Serves finished videos over HTTP behind signed, expiring links.

A link is ``{MEDIA_PUBLIC_URL}/v/{job_id}/{filename}?e={expiry}&s={signature}``: ``e`` is the unix second the link
stops working, ``s`` an HMAC-SHA256 (url-safe base64, unpadded) over the job id, the file name and ``e``.

Path prefix: the routes are mounted both under the path of MEDIA_PUBLIC_URL (``/media/v/...`` for
``https://bot.example.com/media``) and at the root (``/v/...``), so a reverse proxy may forward the prefix or strip
it. The signature does not cover the prefix.

Only the files a job owns are served, straight from the results directory (naming in bot.media.retention):
``{job_id}.mp4`` and ``{job_id}.fit.mp4`` as video/mp4, ``{job_id}.poster.jpg`` as image/jpeg.
Checks, in order: missing or bad signature 403, expired link 410, a video taken down (deleted or purged on
Discord) 410, unknown name or missing file 404.

Ranges (RFC 9110): one byte range per request gets 206 with Content-Range; an unsatisfiable one 416 with
``Content-Range: bytes */{size}``; a malformed or multi-range header, a Range on HEAD or a failed If-Range get the
whole file (200). web.FileResponse is not used because it answers malformed and multi-range headers with 416,
``bytes=-0`` with 206, and applies a Range whatever an ETag in If-Range says.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")
_EXPIRY = re.compile(r"\d{1,12}")
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})", re.IGNORECASE)
_TYPES = {".mp4": "video/mp4", ".fit.mp4": "video/mp4", ".poster.jpg": "image/jpeg"}
_CHUNK = 256 * 1024
# Signed links are about 150 characters; browsers send some 15 headers, proxies a few more.
_MAX_REQUEST_LINE = 2048
_MAX_HEADERS = 32
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n"
_MIN_SECRET_BYTES = 16


class InvalidLink(Exception):
    """The link's signature is missing or does not match."""


class ExpiredLink(InvalidLink):
    """The link was signed correctly but its time is up."""


def content_type(job_id: str, filename: str) -> str | None:
    """The Content-Type of ``filename`` if it is one of the files job ``job_id`` owns, else None."""
    if not _JOB_ID.fullmatch(job_id) or not filename.startswith(f"{job_id}."):
        return None
    return _TYPES.get(filename[len(job_id) :])


def sign(secret: bytes, job_id: str, filename: str, expires_at: int) -> str:
    """The url-safe HMAC-SHA256 token for one file of one job until ``expires_at`` (unix seconds)."""
    message = b"reelbot-media-v1\n" + json.dumps([job_id, filename, expires_at], separators=(",", ":")).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class MediaLinks:
    """Makes and checks signed links under one public URL."""

    def __init__(self, public_url: str, secret: bytes | str, clock: Callable[[], float] = time.time) -> None:
        parts = urlsplit(public_url)
        prefix = parts.path.rstrip("/")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"the media public URL must be a plain http(s) URL, got {public_url!r}")
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"the media public URL's path may hold only letters, digits and ._~-, got {prefix!r}")
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < _MIN_SECRET_BYTES:
            raise ValueError(f"the media signing secret must be at least {_MIN_SECRET_BYTES} bytes long")
        self.public_url = public_url.rstrip("/")
        self.prefix = prefix
        self.clock = clock
        self._secret = key

    def link(self, job_id: str, path: Path, ttl_seconds: float) -> str:
        """A link to ``path`` (one of the job's files) that works for ``ttl_seconds``."""
        filename = path.name
        if content_type(job_id, filename) is None:
            raise ValueError(f"{filename!r} is not a file job {job_id!r} owns")
        if not (math.isfinite(ttl_seconds) and ttl_seconds > 0):
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        expires = math.ceil(self.clock() + ttl_seconds)
        query = urlencode({"e": expires, "s": sign(self._secret, job_id, filename, expires)})
        return f"{self.public_url}/v/{job_id}/{filename}?{query}"

    def verify(self, job_id: str, filename: str, expires: str | None, signature: str | None) -> int:
        """The link's expiry if it is valid now; raises InvalidLink or ExpiredLink."""
        if expires is None or signature is None or not _EXPIRY.fullmatch(expires):
            raise InvalidLink("missing or malformed e/s")
        expected = sign(self._secret, job_id, filename, int(expires)).encode()
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise InvalidLink("signature mismatch")
        if self.clock() >= int(expires):
            raise ExpiredLink(f"expired at {expires}")
        return int(expires)


def load_signing_key(configured: str, key_file: Path) -> bytes:
    """``configured`` if set, else the key kept in ``key_file``, made (random, mode 0600) on first use."""
    if configured.strip():
        return configured.strip().encode()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        temp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
            os.link(temp, key_file)  # fails if another process made the key first: that key wins
            log.info("Made a new media signing key in %s", key_file)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    key = key_file.read_text(encoding="ascii").strip().encode()
    if len(key) < _MIN_SECRET_BYTES:
        raise ValueError(f"the media signing key in {key_file} is shorter than {_MIN_SECRET_BYTES} bytes")
    return key


def select_range(
    method: str, range_header: str | None, if_range: str | None, size: int, etag: str, mtime: float
) -> tuple[int, int, int]:
    """``(status, start, stop)`` for a request: 200 for the whole file, 206 for one range, 416 if unsatisfiable."""
    whole = (200, 0, size)
    if method != "GET" or range_header is None:
        return whole
    if if_range is not None and not _if_range_holds(if_range.strip(), etag, mtime):
        return whole
    match = _RANGE.fullmatch(range_header.strip())
    if match is None:  # malformed, another unit, or several ranges: served whole, as RFC 9110 allows
        return whole
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return whole
    if not first:  # suffix range: the last N bytes
        length = min(int(last), size)
        return (206, size - length, size) if length > 0 else (416, 0, 0)
    start = int(first)
    if last and int(last) < start:
        return whole
    if start >= size:
        return (416, 0, 0)
    stop = min(int(last) + 1, size) if last else size
    return (206, start, stop)


def _if_range_holds(value: str, etag: str, mtime: float) -> bool:
    if value.startswith(('"', "W/")):
        return value == etag  # only a strong match validates a range
    try:
        return parsedate_to_datetime(value).timestamp() == math.floor(mtime)
    except (TypeError, ValueError):
        return False


TakenDown = Callable[[str], Awaitable[bool]]  # whether a job's video was taken down
_LINKS: web.AppKey[MediaLinks] = web.AppKey("media_links", MediaLinks)
_RESULTS: web.AppKey[Path] = web.AppKey("media_results_dir", Path)
_TAKEN_DOWN: web.AppKey[TakenDown] = web.AppKey("media_taken_down")


def create_media_app(results_dir: Path, links: MediaLinks, taken_down: TakenDown) -> web.Application:
    """The media app: GET/HEAD ``[prefix]/v/{job_id}/{filename}`` with a signed query."""
    app = web.Application()
    app[_LINKS] = links
    app[_RESULTS] = results_dir
    app[_TAKEN_DOWN] = taken_down
    for prefix in dict.fromkeys((links.prefix, "")):
        app.router.add_get(prefix + "/v/{job_id}/{filename}", _serve_file)
    return app


async def _serve_file(request: web.Request) -> web.StreamResponse:
    job_id, filename = request.match_info["job_id"], request.match_info["filename"]
    links = request.app[_LINKS]
    try:
        expires = links.verify(job_id, filename, request.query.get("e"), request.query.get("s"))
    except ExpiredLink:
        raise web.HTTPGone(text="This link has expired. Ask the bot for a new one.\n") from None
    except InvalidLink:
        raise web.HTTPForbidden(text="This link is not valid.\n") from None
    if await request.app[_TAKEN_DOWN](job_id):
        raise web.HTTPGone(text="This video was deleted.\n")
    kind = content_type(job_id, filename)
    opened = await asyncio.to_thread(_open_inside, request.app[_RESULTS], filename) if kind else None
    if kind is None or opened is None:
        raise web.HTTPNotFound(text="This video is no longer available.\n")
    fobj, st = opened
    try:
        max_age = max(0, expires - math.ceil(links.clock()))
        return await _send(request, fobj, st, kind, filename, max_age)
    finally:
        await asyncio.to_thread(fobj.close)


def _open_inside(root: Path, filename: str) -> tuple[BinaryIO, os.stat_result] | None:
    try:
        real = (root / filename).resolve(strict=True)
        if real.parent != root.resolve(strict=True) or not stat.S_ISREG(real.stat().st_mode):
            return None  # a symlink out of the directory, or not a regular file
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, RuntimeError):
        return None
    fobj = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        fobj.close()
        return None
    return fobj, st


async def _send(
    request: web.Request, fobj: BinaryIO, st: os.stat_result, kind: str, filename: str, max_age: int
) -> web.StreamResponse:
    size = st.st_size
    etag = f'"{st.st_mtime_ns:x}-{size:x}"'
    headers = {
        "Content-Type": kind,
        "Accept-Ranges": "bytes",
        "Cache-Control": f"private, max-age={max_age}",
        "ETag": etag,
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Content-Disposition": f'inline; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
    }
    inm = request.headers.get("If-None-Match")
    if inm is not None and any(t.strip().removeprefix("W/") in (etag, "*") for t in inm.split(",")):
        return web.Response(status=304, headers=headers)
    status, start, stop = select_range(
        request.method, request.headers.get("Range"), request.headers.get("If-Range"), size, etag, st.st_mtime
    )
    if status == 416:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = stop - start
    try:
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        await asyncio.to_thread(fobj.seek, start)
        remaining = stop - start
        while remaining > 0:
            chunk = await asyncio.to_thread(fobj.read, min(_CHUNK, remaining))
            if not chunk:  # the file shrank under us; the client sees a short body and retries
                log.warning("Media file %s ended %d bytes early", filename, remaining)
                break
            await response.write(chunk)
            remaining -= len(chunk)
        await response.write_eof()
    except ConnectionError:
        log.debug("Client went away during %s", filename)  # players do this on every seek
    return response


class _AccessLogger(AbstractAccessLogger):
    """Logs method, path (never the signed query), status and size at DEBUG."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s -> %d (%s bytes, %.3fs)", request.method, request.path, response.status, response.body_length, time
        )


def parse_listen(listen: str) -> tuple[str | None, int]:
    """``(host, port)`` from ``host:port``, ``[::1]:port`` or ``:port`` (all interfaces); raises ValueError."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port such as 127.0.0.1:8080, got {listen!r}")
    host = host.removeprefix("[").removesuffix("]")
    return (host or None), int(port)


async def serve(
    app: web.Application, listen: str, *, header_timeout_seconds: float, max_connections: int
) -> web.AppRunner:
    """Start ``app`` on ``listen`` (host:port, port 0 picks one); the caller awaits ``runner.cleanup()``.

    A connection must send a whole request head within ``header_timeout_seconds`` of opening or of its last answer
    (aiohttp's keep-alive timer runs from the connection's start and is not reset by partial data, so it is the
    header timeout too); past ``max_connections`` open at once, new ones get a short 503 and are closed.
    """
    host, port = parse_listen(listen)
    runner = web.AppRunner(
        app,
        access_log_class=_AccessLogger,
        access_log=logging.getLogger(f"{__name__}.access"),
        keepalive_timeout=header_timeout_seconds,
        max_line_size=_MAX_REQUEST_LINE,
        max_headers=_MAX_HEADERS,
    )
    await runner.setup()
    try:
        await _CappedSite(runner, host, port, max_connections).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("Listening on %s", ", ".join(str(a) for a in runner.addresses))
    return runner


class _CappedSite(web.BaseSite):
    """A TCP site that hands each connection to aiohttp only while fewer than ``limit`` are open."""

    def __init__(self, runner: web.AppRunner, host: str | None, port: int, limit: int) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._gate = _Gate(limit)

    @property
    def name(self) -> str:
        """How aiohttp names the site in its logs."""
        return f"http://{self._host or '0.0.0.0'}:{self._port}"  # noqa: S104 - a name, not a bind address

    async def start(self) -> None:
        """Listen, wrapping aiohttp's handler for each connection in the gate."""
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _GatedConnection(self._gate, server), self._host, self._port
        )


class _Gate:
    """Counts the connections let through."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _GatedConnection(asyncio.Protocol):
    """One connection: aiohttp's handler when there is room, else a 503 and a close, before reading anything."""

    def __init__(self, gate: _Gate, make_handler: Callable[[], asyncio.Protocol]) -> None:
        self._gate = gate
        self._make_handler = make_handler
        self._handler: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection or turn it away (counted here, on the loop, so a burst cannot overshoot)."""
        if self._gate.open >= self._gate.limit:
            log.warning("Turned a connection away: %d are open, the most allowed", self._gate.open)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(_BUSY)
            transport.close()
            return
        self._gate.open += 1
        self._handler = self._make_handler()
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """Free the connection's place."""
        if self._handler is not None:
            self._gate.open -= 1
            self._handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Pass what arrives to aiohttp."""
        if self._handler is not None:
            self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        """Pass the end of the client's data to aiohttp."""
        return self._handler.eof_received() if self._handler is not None else None

    def pause_writing(self) -> None:
        """Pass flow control to aiohttp."""
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        """Pass flow control to aiohttp."""
        if self._handler is not None:
            self._handler.resume_writing()
