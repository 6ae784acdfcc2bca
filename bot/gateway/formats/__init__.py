"""One module per gateway wire format, bundled as a codec the client picks by the model's format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest, SubmitResult, TaskSnapshot, WireFormat
from bot.gateway.formats import openai, unified


@dataclass(frozen=True, slots=True)
class WireCodec:
    """The pure request builders and response parsers of one wire format."""

    wire_format: WireFormat
    build_create: Callable[[GenerationRequest, ModelSpec], dict[str, Any]]
    create_path: Callable[[], str]
    query: Callable[[str], tuple[str, dict[str, str]]]
    content_path: Callable[[str], str]
    parse_submit: Callable[[object], SubmitResult]
    parse_snapshot: Callable[[object], TaskSnapshot]


_CODECS: dict[WireFormat, WireCodec] = {
    WireFormat.OPENAI: WireCodec(
        wire_format=WireFormat.OPENAI,
        build_create=openai.build_create,
        create_path=openai.create_path,
        query=openai.query,
        content_path=openai.content_path,
        parse_submit=openai.parse_submit,
        parse_snapshot=openai.parse_snapshot,
    ),
    WireFormat.UNIFIED: WireCodec(
        wire_format=WireFormat.UNIFIED,
        build_create=unified.build_create,
        create_path=unified.create_path,
        query=unified.query,
        content_path=unified.content_path,
        parse_submit=unified.parse_submit,
        parse_snapshot=unified.parse_snapshot,
    ),
}


def codec_for(fmt: WireFormat) -> WireCodec:
    """The codec of a wire format."""
    return _CODECS[fmt]


__all__ = ["WireCodec", "codec_for"]
