"""Fetch a finished video to disk, streamed, and prove it is a whole MP4 before anyone sees it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import os
import secrets
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urljoin

import aiohttp

from bot.domain import WireFormat
from bot.errors import (
    GatewayBadResultError,
    GatewayError,
    GatewayProtocolError,
    GatewayResultRefusedError,
    GatewayUnavailableError,
)
from bot.gateway.answers import decode_json, read_body
from bot.gateway.client import GatewayClient
from bot.gateway.error_answers import Stage, error_from_response, is_html
from bot.gateway.formats import codec_for
from bot.gateway.hosts import PRIVATE_ADDRESS_MESSAGE, AddressRefusedError, ResultHosts
from bot.locales import _

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 256 * 1024
MAX_LINKS_FOLLOWED: Final = 5  # HTTP redirects and content-route JSON links {"url": ...}, together
# Room left on the disk after a result lands, for the database, the log and a fitted copy.
FREE_DISK_MARGIN_BYTES: Final = 256 * 1024 * 1024
# A whole video has a handful of top-level boxes, a fragmented one two per fragment: this covers hours of video,
# and keeps a file of millions of tiny boxes from holding up the check.
MAX_MP4_BOXES: Final = 100_000
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_ACCEPTED_TYPES: Final = ("video/", "application/octet-stream", "binary/octet-stream", "application/mp4")
NO_DISK_MESSAGE: Final = _(
    "The bot's disk is too full to store the finished video. The operator needs to free disk space; try again later."
)


@dataclass(frozen=True, slots=True)
class ResultRules:
    """What a result download may do: how large the video may be, and which non-public hosts it may reach."""

    hosts: ResultHosts
    max_bytes: int

    def too_large(self, size: int | None = None) -> GatewayResultRefusedError:
        """The refusal of a result over ``max_bytes`` (of ``size`` bytes, when known)."""
        limit_mb = self.max_bytes // (1024 * 1024)
        what = f"is {size} bytes" if size is not None else "passed that"
        return GatewayResultRefusedError(
            f"the result {what}, over the {self.max_bytes} byte limit (RESULT_MAX_MB)",
            user_message=_(
                "The finished video is larger than the {limit} MB the bot accepts, so it was not downloaded. "
                "The operator can raise RESULT_MAX_MB.",
                limit=limit_mb,
            ),
        )


async def download_result(
    client: GatewayClient,
    session: aiohttp.ClientSession,
    task_id: str,
    wire_format: WireFormat,
    result_url: str | None,
    dest: Path,
    rules: ResultRules,
) -> int:
    """Write the task's video to ``dest`` and return its size; retries cut or failed transfers.

    The reported URL is tried first, then the gateway's content route, which serves any finished task.
    """
    content_url = client.base_url + codec_for(wire_format).content_path(task_id)
    candidates = [result_url] if result_url and result_url != content_url else []
    candidates.append(content_url)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GatewayBadResultError(f"the results folder cannot be used: {exc.strerror}") from exc
    last: GatewayError | None = None
    for url in candidates:
        try:
            size = await client.with_retries(
                functools.partial(_fetch_once, client, session, url, dest, rules), f"download of task {task_id}"
            )
        except GatewayError as exc:
            log.warning("Download of task %s from %s failed: %s", task_id, _loggable(url), exc)
            last = exc
            continue
        return size
    assert last is not None
    raise last


async def _fetch_once(
    client: GatewayClient, session: aiohttp.ClientSession, url: str, dest: Path, rules: ResultRules
) -> int:
    timeout = aiohttp.ClientTimeout(
        total=None, connect=client.timeouts.connect, sock_read=client.timeouts.download_read
    )
    # Redirects are followed here, not by aiohttp, so every hop is checked and the key only goes to the gateway.
    for _hop in range(MAX_LINKS_FOLLOWED + 1):
        if url.startswith("data:"):
            return await asyncio.to_thread(_write_data_uri, url, dest, rules)
        rules.hosts.check(url)
        headers = client.auth_headers if client.owns(url) else {}
        try:
            async with session.get(url, headers=headers, timeout=timeout, allow_redirects=False) as resp:
                if resp.status in _REDIRECT_STATUSES:
                    url = _redirect_target(url, resp)
                    continue
                if resp.status != 200:
                    body = await read_body(resp)
                    raise error_from_response(resp.status, body, resp.content_type, resp.headers, stage=Stage.CONTENT)
                if resp.content_type == "application/json":
                    url = _url_from_json(await read_body(resp))
                    continue
                if is_html(resp.content_type, b"") or not resp.content_type.startswith(_ACCEPTED_TYPES):
                    raise GatewayProtocolError(f"the result came as {resp.content_type!r}, not a video")
                try:
                    return await _stream_to(resp, dest, rules)
                except OSError as exc:
                    raise GatewayBadResultError(f"the result could not be written to disk: {exc.strerror}") from exc
        except TimeoutError as exc:
            raise GatewayUnavailableError("the result download stalled") from exc
        except aiohttp.ClientPayloadError as exc:
            raise GatewayBadResultError(f"the result stream was cut short ({exc})") from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefusedError):
                raise GatewayResultRefusedError(
                    f"{exc.os_error} (RESULT_URL_ALLOW can allow it)", user_message=PRIVATE_ADDRESS_MESSAGE
                ) from exc
            raise GatewayUnavailableError(f"result download failed: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise GatewayUnavailableError(f"result download failed: {type(exc).__name__}") from exc
    raise GatewayResultRefusedError(f"the result link led through more than {MAX_LINKS_FOLLOWED} redirects and links")


def _redirect_target(url: str, resp: aiohttp.ClientResponse) -> str:
    location = resp.headers.get("Location")
    if not location:
        raise GatewayProtocolError(f"HTTP {resp.status} redirect without a Location")
    return urljoin(url, location)


async def _stream_to(resp: aiohttp.ClientResponse, dest: Path, rules: ResultRules) -> int:
    expected = resp.content_length
    if expected is not None and expected > rules.max_bytes:
        raise rules.too_large(expected)
    _check_free_space(dest.parent, (rules.max_bytes if expected is None else expected) + FREE_DISK_MARGIN_BYTES)
    partial = _partial_path(dest)
    received = 0
    try:
        with partial.open("wb") as out:
            async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                received += len(chunk)
                if received > rules.max_bytes:
                    raise rules.too_large()
                out.write(chunk)
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())  # flushing 100 MB to disk must not stall other jobs
        # The gateway's proxy can cut a stream and still have said 200: count what arrived.
        if expected is not None and received != expected:
            raise GatewayBadResultError(f"received {received} of {expected} bytes")
        await asyncio.to_thread(check_mp4, partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return received


def _check_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise GatewayBadResultError(
            f"only {free} bytes are free in {folder}; the result needs {needed} with a margin",
            user_message=NO_DISK_MESSAGE,
        )


def _write_data_uri(url: str, dest: Path, rules: ResultRules) -> int:
    """Decode, write and check a data-URI result (in a thread: decoding megabytes must not stall other jobs)."""
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise GatewayProtocolError("the result is a data URI that is not base64")
    decoded_size = len(payload) // 4 * 3
    if decoded_size > rules.max_bytes:  # refused before anything is decoded
        raise rules.too_large(decoded_size)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GatewayProtocolError("the result data URI is not valid base64") from exc
    partial = _partial_path(dest)
    try:
        partial.write_bytes(data)
        check_mp4(partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return len(data)


def _url_from_json(body: bytes) -> str:
    try:
        payload = decode_json(body)
    except ValueError as exc:
        raise GatewayProtocolError("the content route sent JSON that could not be read") from exc
    if isinstance(payload, dict):
        for key in ("url", "video_url"):
            value = payload.get(key)
            if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
                return value
    raise GatewayProtocolError("the content route sent JSON without a video link")


def check_mp4(path: Path) -> None:
    """Raise GatewayBadResultError unless ``path`` is a complete MP4: ftyp first, a moov, boxes end at EOF.

    Constant memory, and at most MAX_MP4_BOXES header reads whatever the file holds.
    """
    size = path.stat().st_size
    first: bytes | None = None
    has_moov = False
    boxes = 0
    offset = 0
    with path.open("rb") as fh:
        while offset < size:
            boxes += 1
            if boxes > MAX_MP4_BOXES:
                raise GatewayBadResultError(f"more than {MAX_MP4_BOXES} top-level MP4 boxes: not a video")
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                raise GatewayBadResultError(f"truncated MP4 box header at byte {offset}")
            box_size, box_type = struct.unpack(">I4s", header[:8])
            if box_size == 1:
                if len(header) < 16:
                    raise GatewayBadResultError(f"truncated MP4 box header at byte {offset}")
                (box_size,) = struct.unpack(">Q", header[8:16])
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8 or offset + box_size > size:
                raise GatewayBadResultError(f"MP4 box {box_type!r} at byte {offset} runs past the end: file cut short")
            first = first or box_type
            has_moov = has_moov or box_type == b"moov"
            offset += box_size
    if first != b"ftyp":
        raise GatewayBadResultError("not an MP4 file (no ftyp box at the start)")
    if not has_moov:
        raise GatewayBadResultError("MP4 without a moov box: the file is incomplete")


def _partial_path(dest: Path) -> Path:
    # Unique, so two processes fetching the same result never write into one file.
    return dest.with_name(f"{dest.name}.{secrets.token_hex(4)}.part")


def _loggable(url: str) -> str:
    return url if not url.startswith("data:") else "a data URI"
