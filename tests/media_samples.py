"""Real sample clips made with ffmpeg (test pattern, noise, sine tone), cached on disk by their parameters."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
from pathlib import Path

import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type information

log = logging.getLogger(__name__)

AUDIO_BPS = 128_000
FRAME_RATE = 30
GENERATE_TIMEOUT_SECONDS = 300
VERSION = 1  # bump when the recipe changes, so cached clips are made again


def clip_name(*, seconds: float, width: int, height: int, target_bytes: int | None, audio: bool) -> str:
    """The cache file name for a clip with these parameters."""
    size = f"{target_bytes}b" if target_bytes is not None else "plain"
    sound = "sine" if audio else "silent"
    return f"clip-v{VERSION}-{seconds:g}s-{width}x{height}-{size}-{sound}.mp4"


def make_clip(
    path: Path, *, seconds: float, width: int, height: int, target_bytes: int | None = None, audio: bool = True
) -> Path:
    """Return a real MP4 clip in the cache directory `path`, generating it first if it is not there yet.

    With `target_bytes` the picture is covered in moving noise and encoded at the bit rate that lands near that size;
    without it the clip is a plain test pattern and small.
    """
    path.mkdir(parents=True, exist_ok=True)
    name = clip_name(seconds=seconds, width=width, height=height, target_bytes=target_bytes, audio=audio)
    clip = path / name
    with open(path / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test workers wait for one generator instead of racing it
        if clip.is_file() and clip.stat().st_size > 0:
            return clip
        part = path / f".{name}.{os.getpid()}.part"
        command = clip_command(
            part, seconds=seconds, width=width, height=height, target_bytes=target_bytes, audio=audio
        )
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=GENERATE_TIMEOUT_SECONDS)
            os.replace(part, clip)
        finally:
            part.unlink(missing_ok=True)
    log.info("generated sample clip %s (%d bytes)", clip, clip.stat().st_size)
    return clip


def clip_command(
    dest: Path, *, seconds: float, width: int, height: int, target_bytes: int | None, audio: bool
) -> list[str]:
    """The ffmpeg command that writes such a clip to `dest`."""
    picture = f"testsrc2=size={width}x{height}:rate={FRAME_RATE}:duration={seconds:g}"
    if target_bytes is not None:
        picture += ",noise=alls=40:allf=t"  # fresh noise every frame, so the bits cannot be compressed away
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    command += ["-f", "lavfi", "-i", picture]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds:g}"]
        command += ["-c:a", "aac", "-b:a", str(AUDIO_BPS), "-ac", "2"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if target_bytes is not None:
        audio_bits = AUDIO_BPS * seconds if audio else 0
        video_bps = max(100_000, int((target_bytes * 8 - audio_bits) / seconds))
        command += ["-b:v", str(video_bps), "-maxrate", str(video_bps), "-bufsize", str(video_bps)]
    return [*command, "-shortest", "-movflags", "+faststart", "-f", "mp4", str(dest)]
