"""Video handling with ffmpeg: probe a file, make a poster frame, and re-encode it to fit an upload limit."""

from __future__ import annotations

from bot.media.ffmpeg import CannotFit, Encoder, FfmpegMissing, FitResult, MediaError, MediaEvent
from bot.media.probe import VideoInfo

__all__ = ["CannotFit", "Encoder", "FfmpegMissing", "FitResult", "MediaError", "MediaEvent", "VideoInfo"]
