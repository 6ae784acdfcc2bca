"""The result video: a tiny real H.264 MP4 made once with ffmpeg, and MP4-safe padding for oversize faults."""

from __future__ import annotations

import functools
import logging
import os
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type information

log = logging.getLogger(__name__)

SAMPLE_NAME = "reelbot-gateway-sim-sample-v1.mp4"
CHUNK_BYTES = 64 * 1024
FFMPEG_TIMEOUT_SECONDS = 60
_ZEROS = bytes(CHUNK_BYTES)
_SMALL_BOX_LIMIT = 2**32 - 1


def default_media_dir() -> Path:
    """Return the per-machine cache directory used when the config names none."""
    return Path(tempfile.gettempdir()) / "reelbot-gateway-sim"


@functools.cache
def result_video(path: str) -> bytes:
    """An operator-chosen MP4 to serve as every result (read once)."""
    return Path(path).read_bytes()


@functools.cache
def sample_video(media_dir: str | None = None) -> bytes:
    """Return the sample MP4's bytes, generating it into `media_dir` on first use in this process."""
    directory = Path(media_dir) if media_dir else default_media_dir()
    path = directory / SAMPLE_NAME
    if path.is_file():
        data = path.read_bytes()
        if has_ftyp(data):
            return data
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{SAMPLE_NAME}.{os.getpid()}.part.mp4"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x90:rate=10:duration=1.5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(partial),
    ]
    # The command is fixed; only the output path (ours) varies, so there is no untrusted input.
    subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS)  # noqa: S603
    os.replace(partial, path)
    data = path.read_bytes()
    log.info("generated sample video %s (%d bytes)", path, len(data))
    return data


def has_ftyp(data: bytes) -> bool:
    """Tell whether `data` starts with an MP4 `ftyp` box."""
    return len(data) >= 8 and data[4:8] == b"ftyp"


def padded_size(base_size: int, wanted: int | None) -> int:
    """Return the size actually served for an oversize request of `wanted` bytes (at least one `free` box)."""
    if wanted is None or wanted <= base_size:
        return base_size
    return max(wanted, base_size + 8)


def free_box_header(total_box_size: int) -> bytes:
    """Return the header of a `free` box of `total_box_size` bytes, using a 64-bit size when needed."""
    if total_box_size <= _SMALL_BOX_LIMIT:
        return struct.pack(">I4s", total_box_size, b"free")
    return struct.pack(">I4sQ", 1, b"free", total_box_size)


def iter_video(base: bytes, total: int) -> Iterator[bytes]:
    """Yield `base` and then, if `total` is larger, a trailing `free` box of zeros up to `total` bytes."""
    for start in range(0, len(base), CHUNK_BYTES):
        yield base[start : start + CHUNK_BYTES]
    pad = total - len(base)
    if pad <= 0:
        return
    if pad < 8:
        raise ValueError("padding must leave room for an 8-byte box header")
    header = free_box_header(pad)
    yield header
    remaining = pad - len(header)
    while remaining > 0:
        step = min(remaining, CHUNK_BYTES)
        yield _ZEROS[:step]
        remaining -= step


def limit_bytes(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Yield from `chunks` but stop after `limit` bytes in total."""
    left = limit
    for chunk in chunks:
        if left <= 0:
            return
        yield chunk[:left]
        left -= len(chunk)
