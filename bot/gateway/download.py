"""Fetch a finished video to disk, streamed, and prove it is a whole MP4 before anyone sees it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import os
import secrets
import struct
from pathlib import Path
from typing import Final

import aiohttp

from bot.domain import WireFormat
from bot.errors import GatewayBadResultError, GatewayError, GatewayProtocolError, GatewayUnavailableError
from bot.gateway.client import GatewayClient
from bot.gateway.faults import Stage, error_from_response, is_html
from bot.gateway.formats import codec_for

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 256 * 1024
MAX_RESULT_BYTES: Final = 4 * 1024**3
MAX_REDIRECT_BODIES: Final = 3  # a content route answering JSON {"url": ...} is followed this many times
_JSON_LIMIT: Final = 1024 * 1024
_ACCEPTED_TYPES: Final = ("video/", "application/octet-stream", "binary/octet-stream", "application/mp4")


async def download_result(
    client: GatewayClient,
    session: aiohttp.ClientSession,
    task_id: str,
    wire_format: WireFormat,
    result_url: str | None,
    dest: Path,
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
                functools.partial(_fetch_once, client, session, url, dest), f"download of task {task_id}"
            )
        except GatewayError as exc:
            log.warning("Download of task %s from %s failed: %s", task_id, _loggable(url), exc)
            last = exc
            continue
        return size
    assert last is not None
    raise last


async def _fetch_once(client: GatewayClient, session: aiohttp.ClientSession, url: str, dest: Path) -> int:
    if url.startswith("data:"):
        return _write_data_uri(url, dest)
    timeout = aiohttp.ClientTimeout(
        total=None, connect=client.timeouts.connect, sock_read=client.timeouts.download_read
    )
    for _ in range(MAX_REDIRECT_BODIES + 1):
        headers = client.auth_headers if client.owns(url) else {}
        try:
            async with session.get(url, headers=headers, timeout=timeout) as resp:
                if resp.status != 200:
                    body = await resp.content.read(_JSON_LIMIT)
                    raise error_from_response(resp.status, body, resp.content_type, resp.headers, stage=Stage.CONTENT)
                if resp.content_type == "application/json":
                    url = _url_from_json(await resp.content.read(_JSON_LIMIT))
                    continue
                if is_html(resp.content_type, b"") or not resp.content_type.startswith(_ACCEPTED_TYPES):
                    raise GatewayProtocolError(f"the result came as {resp.content_type!r}, not a video")
                try:
                    return await _stream_to(resp, dest)
                except OSError as exc:
                    raise GatewayBadResultError(f"the result could not be written to disk: {exc.strerror}") from exc
        except TimeoutError as exc:
            raise GatewayUnavailableError("the result download stalled") from exc
        except aiohttp.ClientPayloadError as exc:
            raise GatewayBadResultError(f"the result stream was cut short ({exc})") from exc
        except aiohttp.ClientError as exc:
            raise GatewayUnavailableError(f"result download failed: {type(exc).__name__}") from exc
    raise GatewayProtocolError("the content route kept answering with links instead of the video")


async def _stream_to(resp: aiohttp.ClientResponse, dest: Path) -> int:
    expected = resp.content_length
    if expected is not None and expected > MAX_RESULT_BYTES:
        raise GatewayBadResultError(f"the result is {expected} bytes, over the {MAX_RESULT_BYTES} byte limit")
    partial = _partial_path(dest)
    received = 0
    try:
        with partial.open("wb") as out:
            async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                received += len(chunk)
                if received > MAX_RESULT_BYTES:
                    raise GatewayBadResultError(f"the result passed the {MAX_RESULT_BYTES} byte limit")
                out.write(chunk)
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())  # flushing 100 MB to disk must not stall other jobs
        # The gateway's proxy can cut a stream and still have said 200: count what arrived.
        if expected is not None and received != expected:
            raise GatewayBadResultError(f"received {received} of {expected} bytes")
        check_mp4(partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return received


def _write_data_uri(url: str, dest: Path) -> int:
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise GatewayProtocolError("the result is a data URI that is not base64")
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
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GatewayProtocolError("the content route sent JSON that could not be read") from exc
    if isinstance(payload, dict):
        for key in ("url", "video_url"):
            value = payload.get(key)
            if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
                return value
    raise GatewayProtocolError("the content route sent JSON without a video link")


def check_mp4(path: Path) -> None:
    """Raise GatewayBadResultError unless ``path`` is a complete MP4: ftyp first, a moov, boxes end at EOF."""
    size = path.stat().st_size
    seen: list[bytes] = []
    offset = 0
    with path.open("rb") as fh:
        while offset < size:
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
            seen.append(box_type)
            offset += box_size
    if not seen or seen[0] != b"ftyp":
        raise GatewayBadResultError("not an MP4 file (no ftyp box at the start)")
    if b"moov" not in seen:
        raise GatewayBadResultError("MP4 without a moov box: the file is incomplete")


def _partial_path(dest: Path) -> Path:
    # Unique, so two processes fetching the same result never write into one file.
    return dest.with_name(f"{dest.name}.{secrets.token_hex(4)}.part")


def _loggable(url: str) -> str:
    return url if not url.startswith("data:") else "a data URI"
