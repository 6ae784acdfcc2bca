"""Result videos: small real H.264 MP4s in the request's aspect and length, made once each with ffmpeg (from
imageio-ffmpeg), and MP4-safe padding for oversize faults."""

from __future__ import annotations

import functools
import logging
import os
import re
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type information

log = logging.getLogger(__name__)

SAMPLE_VERSION = "v2"
CHUNK_BYTES = 64 * 1024
FFMPEG_TIMEOUT_SECONDS = 60
# Results keep the request's aspect at a small size (the long side this many pixels), so they stay fast to make.
LONG_SIDE_PIXELS = 160
FRAMES_PER_SECOND = 10
MAX_CLIP_SECONDS = 60
_ZEROS = bytes(CHUNK_BYTES)
_SMALL_BOX_LIMIT = 2**32 - 1
_RATIO = re.compile(r"^\s*(\d+)\s*[:xX*]\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Clip:
    """The shape and length of a sample result."""

    width: int
    height: int
    seconds: int

    @property
    def file_name(self) -> str:
        """The cache file's name."""
        return f"reelbot-gateway-sim-{self.width}x{self.height}-{self.seconds}s-{SAMPLE_VERSION}.mp4"


def clip_of(shape: str | None, seconds: int) -> Clip:
    """A clip of ``seconds`` (1 to 60) in the aspect of ``shape`` ("16:9", "1280x720"; landscape 16:9 if neither)."""
    match = _RATIO.match(shape or "")
    across, down = (int(match[1]), int(match[2])) if match and int(match[1]) and int(match[2]) else (16, 9)
    scale = LONG_SIDE_PIXELS / max(across, down)
    # H.264 in yuv420p needs even sides.
    width, height = (max(2, round(side * scale / 2) * 2) for side in (across, down))
    return Clip(width, height, min(max(seconds, 1), MAX_CLIP_SECONDS))


DEFAULT_CLIP = clip_of("16:9", 2)
# What a provider makes when the request names no length it reads (new-api's adaptors fall back on 5 s).
DEFAULT_SECONDS = 5


def clip_for_request(aspect_ratio: object, size: str, seconds: str) -> Clip:
    """The clip a job asked for: the provider's aspect ratio as read, else the size's, and its length."""
    shape = aspect_ratio if isinstance(aspect_ratio, str) and _RATIO.match(aspect_ratio) else size
    return clip_of(shape, int(seconds) if seconds.strip().isdigit() else DEFAULT_SECONDS)


def default_media_dir() -> Path:
    """Return the per-machine cache directory used when the config names none."""
    return Path(tempfile.gettempdir()) / "reelbot-gateway-sim"


@functools.cache
def result_video(path: str) -> bytes:
    """An operator-chosen MP4 to serve as every result (read once)."""
    return Path(path).read_bytes()


@functools.cache
def sample_video(media_dir: str | None = None, clip: Clip = DEFAULT_CLIP) -> bytes:
    """Return a sample MP4 of ``clip``'s shape and length, made with ffmpeg into ``media_dir`` once per clip."""
    directory = Path(media_dir) if media_dir else default_media_dir()
    path = directory / clip.file_name
    if path.is_file():
        data = path.read_bytes()
        if has_ftyp(data):
            return data
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{clip.file_name}.", suffix=".mp4", delete=False) as f:
        partial = Path(f.name)
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={clip.width}x{clip.height}:rate={FRAMES_PER_SECOND}:duration={clip.seconds}",
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
    # The command is fixed; only numbers we computed and the output path (ours) vary: no untrusted input.
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS)  # noqa: S603
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
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
