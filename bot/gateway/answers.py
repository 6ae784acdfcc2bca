"""Reading the gateway's answers within bounds: bodies read to a cap, JSON decoded to a bounded depth."""

from __future__ import annotations

import json
from typing import Final

import aiohttp

from bot.errors import GatewayProtocolError

# A task, an error or the model list is a few kilobytes; the cap leaves room for a result sent inline as a data URI
# and keeps a hostile or broken answer from taking the bot's memory.
JSON_BODY_MAX_BYTES: Final = 8 * 1024 * 1024
# The deepest answer the gateway sends nests about five levels; a deeper one is refused as unreadable, so nothing
# that later walks or prints a value can run out of stack.
JSON_MAX_DEPTH: Final = 32
# An integer longer than this is larger than any float, so no parser could use it (float() would overflow).
JSON_MAX_INT_DIGITS: Final = 300


async def read_body(resp: aiohttp.ClientResponse, limit: int = JSON_BODY_MAX_BYTES) -> bytes:
    """The whole body of a small answer, however it is chunked; GatewayProtocolError once it passes ``limit``."""
    if resp.content_length is not None and resp.content_length > limit:
        raise _too_large(resp, limit)
    parts: list[bytes] = []
    size = 0
    # content.read(n) returns what one chunk brought, not n bytes: read until the end or just past the cap.
    while chunk := await resp.content.read(limit + 1 - size):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large(resp, limit)
    return b"".join(parts)


def decode_json(raw: bytes | str) -> object:
    """A JSON value; ValueError when it cannot be read, is nested deeper than JSON_MAX_DEPTH or has a huge integer."""
    try:
        value: object = json.loads(raw, parse_int=_bounded_int)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply to read") from exc
    if _deeper_than(value, JSON_MAX_DEPTH):
        raise ValueError(f"the JSON is nested more than {JSON_MAX_DEPTH} levels deep")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_INT_DIGITS:
        raise ValueError(f"the JSON has an integer of more than {JSON_MAX_INT_DIGITS} digits")
    return int(text)


def _deeper_than(value: object, limit: int) -> bool:
    # Level by level, without recursion: the work is one step per array or object.
    level: list[object] = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        if not level:
            return False
        level = [child for node in level for child in _containers_in(node)]
    return bool(level)


def _containers_in(node: object) -> list[object]:
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return [child for child in children if isinstance(child, dict | list)]


def _too_large(resp: aiohttp.ClientResponse, limit: int) -> GatewayProtocolError:
    return GatewayProtocolError(
        f"HTTP {resp.status} from {resp.url.host}: the answer is larger than the {limit} byte limit for an API reply",
        status=resp.status,
    )
