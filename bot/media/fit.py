"""Planning a re-encode that fits a byte limit: bitrates, buffer, picture size and the ffmpeg arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.media.probe import VideoInfo

HEADROOM = 0.92  # aim the average total bitrate at this share of the limit (container overhead, rate error)
CEILING = 0.97  # the worst case the rate buffer allows must stay under this share of the limit
MIN_TOTAL_BPS = 100_000
MIN_VIDEO_BPS = 36_000
AUDIO_BPS = 96_000
TIGHT_AUDIO_BPS = 64_000
TIGHT_BUDGET_BPS = 1_000_000  # below this total, audio drops to TIGHT_AUDIO_BPS
RETRY_MARGIN = 0.93  # the second try shrinks the rate by the measured overshoot and then this much more
VBV_INIT = 0.9  # x264 starts with its rate buffer this full, so a clip may spend that much over the average
# (minimum video bits per second, largest short side in pixels), best first; the last row catches the rest.
SHORT_SIDE_TIERS: tuple[tuple[int, int], ...] = (
    (4_000_000, 1080),
    (1_800_000, 720),
    (800_000, 480),
    (350_000, 360),
    (0, 240),
)
LOW_RATE_FPS = 30  # under 1.8 Mb/s of video, frame rates above this are reduced to it


@dataclass(frozen=True, slots=True)
class FitPlan:
    """One encode's settings: bit rates in bits per second and the output picture size."""

    total_bps: int
    video_bps: int
    audio_bps: int | None
    buffer_bits: int
    width: int
    height: int
    max_fps: int | None


def budget_bps(limit_bytes: int, duration_seconds: float, share: float = HEADROOM) -> int:
    """The average total bitrate that spends `share` of `limit_bytes` over the clip."""
    return int(limit_bytes * 8 * share / duration_seconds)


def plan_fit(info: VideoInfo, limit_bytes: int, total_bps: int) -> FitPlan | None:
    """Settings for an encode averaging `total_bps`, or None when that leaves too little for a picture."""
    if total_bps < MIN_TOTAL_BPS:
        return None
    audio_bps = None
    if info.has_audio:
        audio_bps = AUDIO_BPS if total_bps >= TIGHT_BUDGET_BPS else TIGHT_AUDIO_BPS
    video_bps = total_bps - (audio_bps or 0)
    if video_bps < MIN_VIDEO_BPS:
        return None
    seconds = info.duration_seconds
    slack_bits = limit_bytes * 8 * CEILING - total_bps * seconds
    buffer_bits = int(min(2 * video_bps, max(video_bps / 4, slack_bits / VBV_INIT)))
    short_cap = next(side for floor, side in SHORT_SIDE_TIERS if video_bps >= floor)
    width, height = scaled_size(info.width, info.height, short_cap)
    max_fps = LOW_RATE_FPS if video_bps < SHORT_SIDE_TIERS[1][0] else None
    return FitPlan(total_bps, video_bps, audio_bps, buffer_bits, width, height, max_fps)


def retry_bps(plan: FitPlan, limit_bytes: int, actual_bytes: int) -> int:
    """A lower total bitrate for a second try, after a try at `plan` came out `actual_bytes` long."""
    return int(plan.total_bps * min(1.0, limit_bytes * HEADROOM / actual_bytes) * RETRY_MARGIN)


def scaled_size(width: int, height: int, short_cap: int) -> tuple[int, int]:
    """The picture size with its shorter side at most `short_cap`, aspect kept and both sides even."""
    scale = min(1.0, short_cap / min(width, height))
    return _even(width * scale), _even(height * scale)


def encode_args(src: Path, dest: Path, plan: FitPlan) -> list[str]:
    """The ffmpeg arguments (after the program name) for one single-pass H.264/AAC encode of `plan`."""
    video_rate = str(plan.video_bps)
    args = ["-threads", "1", "-i", str(src), "-filter_threads", "1", "-map", "0:v:0"]
    if plan.audio_bps is not None:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(plan.audio_bps)]
    args += [
        "-vf",
        f"scale={plan.width}:{plan.height}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-threads",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-b:v",
        video_rate,
        "-maxrate",
        video_rate,
        "-bufsize",
        str(plan.buffer_bits),
    ]
    if plan.max_fps is not None:
        args += ["-fpsmax", str(plan.max_fps)]
    return [*args, "-map_metadata", "-1", "-sn", "-dn", "-movflags", "+faststart", "-f", "mp4", str(dest)]


def _even(value: float) -> int:
    """Round to the nearest even number of pixels, at least 2 (H.264 in yuv420p needs even sides)."""
    return max(2, round(value / 2) * 2)
