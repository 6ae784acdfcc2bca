"""What ffmpeg says about a video: its `-i` report turned into a VideoInfo, with no ffprobe needed."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DURATION = re.compile(r"^\s*Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", re.MULTILINE)
_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio): ([\w-]+)(.*)$", re.MULTILINE)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")
_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """The facts about a video file the bot needs to deliver it: length, picture size, bytes and codecs."""

    duration_seconds: float
    width: int
    height: int
    size_bytes: int
    has_audio: bool
    video_codec: str | None
    audio_codec: str | None


class ProbeParseError(ValueError):
    """ffmpeg's report did not describe a playable video; the message says what was missing."""


def parse_duration(report: str) -> float | None:
    """The container duration from an `ffmpeg -i` report, or None when it says N/A."""
    match = _DURATION.search(report)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def parse_progress_duration(progress: str) -> float | None:
    """The last `out_time_us` of an ffmpeg `-progress` log, in seconds, or None if there is none."""
    times = _OUT_TIME.findall(progress)
    return int(times[-1]) / 1_000_000 if times else None


def parse_report(report: str, *, size_bytes: int, duration: float | None = None) -> VideoInfo:
    """Build a VideoInfo from an `ffmpeg -i` report; `duration` overrides the container's when given."""
    video: tuple[str, int, int] | None = None
    audio_codec: str | None = None
    for match in _STREAM.finditer(report):
        kind, codec, rest = match.groups()
        if kind == "Audio":
            audio_codec = audio_codec or codec
        elif video is None and "(attached pic)" not in rest:
            size = _SIZE.search(rest)
            if size is not None:
                video = (codec, int(size.group(1)), int(size.group(2)))
    if video is None:
        raise ProbeParseError("no video stream with a picture size")
    codec, width, height = video
    if _quarter_turned(report):
        width, height = height, width
    seconds = duration if duration is not None else parse_duration(report)
    if seconds is None or seconds <= 0:
        raise ProbeParseError("no usable duration")
    return VideoInfo(
        duration_seconds=seconds,
        width=width,
        height=height,
        size_bytes=size_bytes,
        has_audio=audio_codec is not None,
        video_codec=codec,
        audio_codec=audio_codec,
    )


def opening_failure(report: str) -> str:
    """The last line of an ffmpeg error report, which names the reason it gave up (for the log)."""
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    useful = [line for line in lines if "output file" not in line]
    return (useful or lines or ["no output"])[-1]


def _quarter_turned(report: str) -> bool:
    """Whether the first video's display matrix turns it by 90 degrees (phones record portrait this way)."""
    match = _ROTATION.search(report)
    return match is not None and round(abs(float(match.group(1)))) % 180 == 90
