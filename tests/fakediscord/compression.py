"""Gateway transport compression: zlib-stream (always) and zstd-stream (when a zstd module is importable)."""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from typing import Any

Compressor = Callable[[bytes], bytes]


def zlib_stream() -> Compressor:
    """One zlib context per connection; every payload is flushed with Z_SYNC_FLUSH (ends 00 00 ff ff)."""
    ctx = zlib.compressobj()
    return lambda raw: ctx.compress(raw) + ctx.flush(zlib.Z_SYNC_FLUSH)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def zstd_stream() -> Compressor | None:
    """One zstd stream per connection, each payload flushed as a complete block; None if zstd is unavailable."""
    zstandard = _import("zstandard")
    if zstandard is not None:
        cobj = zstandard.ZstdCompressor().compressobj()
        flush_block = zstandard.COMPRESSOBJ_FLUSH_BLOCK
        return lambda raw: cobj.compress(raw) + cobj.flush(flush_block)
    stdlib_zstd = _import("compression.zstd")
    if stdlib_zstd is not None:
        comp = stdlib_zstd.ZstdCompressor()
        return lambda raw: comp.compress(raw, mode=stdlib_zstd.ZstdCompressor.FLUSH_BLOCK)
    return None


def make_compressor(kind: str | None) -> Compressor | None:
    """Return the compressor for the ``compress`` query value, or None for plain text frames."""
    if kind == "zlib-stream":
        return zlib_stream()
    if kind == "zstd-stream":
        return zstd_stream()
    return None
