"""The Encoder: probes, posters and size-fitting re-encodes run as niced, time-limited ffmpeg processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type information

from bot.media.fit import FitPlan, budget_bps, encode_args, plan_fit, retry_bps
from bot.media.probe import ProbeParseError, VideoInfo, opening_failure, parse_progress_duration, parse_report

log = logging.getLogger(__name__)

NICENESS = 19
KEEP_HEAD = 256 * 1024  # bytes of a process's output kept from the start (probe reports are at the top)
KEEP_TAIL = 16 * 1024  # and from the end (the reason for a failure is at the bottom)
READ_CHUNK = 16 * 1024
FIT_ATTEMPTS = 2  # a first encode and, if that overshoots, one at a lower rate


class MediaError(Exception):
    """A video could not be probed or re-encoded; `user_message` is plain words, `detail` is for the log."""

    default_message = "The video could not be processed."

    def __init__(self, user_message: str | None = None, *, detail: str = "") -> None:
        self.user_message = user_message or self.default_message
        self.detail = detail
        super().__init__(f"{self.user_message} ({detail})" if detail else self.user_message)


class CannotFit(MediaError):
    """Even a re-encode cannot bring the video under the size limit without ruining it."""

    default_message = "The video is too long to shrink under this server's upload limit."


class FfmpegMissing(MediaError):
    """The ffmpeg program is not installed or cannot be run."""

    default_message = (
        "The bot's video tool (ffmpeg) is missing, so videos cannot be resized. "
        "The operator needs to install the imageio-ffmpeg package or fix the ffmpeg path."
    )


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """An ffmpeg process starting or ending; `task` is probe, poster or encode; `at` is time.monotonic()."""

    kind: Literal["start", "end"]
    task: str
    pid: int
    at: float
    returncode: int | None = None


@dataclass(frozen=True, slots=True)
class FitResult:
    """A video at `path` that fits the limit, what it is now, what it was, and how many encodes it took."""

    path: Path
    info: VideoInfo
    original: VideoInfo
    attempts: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A finished ffmpeg process: its exit code and the kept parts of its output."""

    returncode: int
    stdout: str
    stderr: str


def default_ffmpeg() -> str | None:
    """The ffmpeg binary shipped by the imageio-ffmpeg wheel, or None when it cannot be found."""
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        return None


class Encoder:
    """Runs ffmpeg for the bot: one fit at a time, single-threaded, at the lowest CPU priority, time-limited."""

    def __init__(
        self,
        ffmpeg: str | Path | None = None,
        *,
        timeout_seconds: float = 300.0,
        probe_timeout_seconds: float = 30.0,
        on_event: Callable[[MediaEvent], None] | None = None,
    ) -> None:
        found = ffmpeg if ffmpeg is not None else default_ffmpeg()
        self.ffmpeg = Path(found) if found is not None else None
        self.timeout_seconds = timeout_seconds
        self.probe_timeout_seconds = probe_timeout_seconds
        self._on_event = on_event
        self._nice = shutil.which("nice")
        self._fit_lock = asyncio.Semaphore(1)

    @property
    def available(self) -> bool:
        """Whether the ffmpeg binary exists and may be executed."""
        return self.ffmpeg is not None and self.ffmpeg.is_file() and os.access(self.ffmpeg, os.X_OK)

    async def probe(self, path: Path) -> VideoInfo:
        """Describe the video at `path`; MediaError when it is missing or not a playable video."""
        self._require_ffmpeg()
        size = await asyncio.to_thread(_file_size, path)
        if size is None:
            raise MediaError("The video file is missing.", detail=str(path))
        outcome = await self._run("probe", ["-i", str(path)], self.probe_timeout_seconds)
        report = outcome.stderr
        duration = await self._measure_duration(path) if "Duration: N/A" in report else None
        try:
            return parse_report(report, size_bytes=size, duration=duration)
        except ProbeParseError as error:
            reason = opening_failure(report) if "Stream #" not in report else str(error)
            raise MediaError("The file is not a playable video.", detail=f"{path}: {reason}") from error

    async def _measure_duration(self, path: Path) -> float | None:
        """Time a file whose container states no duration: by copying its video, else by decoding it."""
        for mode in (["-c", "copy"], []):
            args = ["-v", "error", "-threads", "1", "-i", str(path), "-map", "0:v:0", *mode]
            timed = await self._run(
                "probe", [*args, "-f", "null", "-progress", "pipe:1", "-"], self.probe_timeout_seconds
            )
            duration = parse_progress_duration(timed.stdout)
            if duration:
                return duration
        return None

    async def poster(self, path: Path, dest: Path, max_width: int = 640) -> Path:
        """Save the first frame of `path` as a JPEG at `dest`, at most `max_width` wide, aspect kept."""
        self._require_ffmpeg()
        part = _part_path(dest)
        args = ["-v", "error", "-threads", "1", "-i", str(path), "-map", "0:v:0", "-frames:v", "1"]
        args += ["-vf", f"scale='min({max_width},iw)':-2", "-c:v", "mjpeg", "-q:v", "3"]
        args += ["-f", "image2", "-update", "1", str(part)]
        try:
            outcome = await self._run("poster", args, self.probe_timeout_seconds)
            if outcome.returncode != 0 or not await asyncio.to_thread(_file_size, part):
                raise MediaError("A preview picture could not be made from the video.", detail=_why(outcome))
            await asyncio.to_thread(part.replace, dest)
        finally:
            await asyncio.to_thread(part.unlink, missing_ok=True)
        return dest

    async def fit(self, src: Path, dest: Path, limit_bytes: int) -> FitResult:
        """Re-encode `src` into `dest` so it is under `limit_bytes`; CannotFit when that is not possible."""
        self._require_ffmpeg()
        async with self._fit_lock:
            original = await self.probe(src)
            if original.size_bytes <= limit_bytes:
                await asyncio.to_thread(_copy_unless_same, src, dest)
                return FitResult(dest, original, original, attempts=0)
            total_bps = budget_bps(limit_bytes, original.duration_seconds)
            for attempt in range(1, FIT_ATTEMPTS + 1):
                plan = plan_fit(original, limit_bytes, total_bps)
                if plan is None:
                    break
                info = await self._encode(src, dest, plan)
                if info.size_bytes <= limit_bytes:
                    log.info(
                        "fitted %s: %d -> %d bytes, try %d", src.name, original.size_bytes, info.size_bytes, attempt
                    )
                    return FitResult(dest, info, original, attempts=attempt)
                log.warning("fit of %s came out at %d bytes, over %d; retrying", src.name, info.size_bytes, limit_bytes)
                await asyncio.to_thread(dest.unlink, missing_ok=True)
                total_bps = retry_bps(plan, limit_bytes, info.size_bytes)
        limit_mib = limit_bytes / (1024 * 1024)
        raise CannotFit(
            f"The video is too long or detailed to fit this server's {limit_mib:.3g} MiB upload limit.",
            detail=f"{src}: {original.size_bytes} bytes, {original.duration_seconds:.1f} s, limit {limit_bytes}",
        )

    async def _encode(self, src: Path, dest: Path, plan: FitPlan) -> VideoInfo:
        """Run one encode of `plan` into `dest` (through a partial file) and describe the result."""
        part = _part_path(dest)
        log.debug("encoding %s as %s", src.name, plan)
        try:
            outcome = await self._run("encode", ["-v", "error", *encode_args(src, part, plan)], self.timeout_seconds)
            if outcome.returncode != 0:
                raise MediaError("The video could not be re-encoded.", detail=_why(outcome))
            await asyncio.to_thread(part.replace, dest)
        finally:
            await asyncio.to_thread(part.unlink, missing_ok=True)
        return await self.probe(dest)

    async def _run(self, task: str, args: Sequence[str], limit_seconds: float) -> _Outcome:
        """Run ffmpeg with `args` niced and time-limited, keeping only the head and tail of its output."""
        self._require_ffmpeg()
        prefix = [self._nice, "-n", str(NICENESS)] if self._nice else []
        command = [*prefix, str(self.ffmpeg), "-hide_banner", "-nostdin", "-nostats", "-y", *args]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise FfmpegMissing(detail=f"cannot start {self.ffmpeg}: {error}") from error
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.setpriority(os.PRIO_PROCESS, process.pid, NICENESS)  # also when the nice program is absent
        self._emit(MediaEvent("start", task, process.pid, time.monotonic()))
        assert process.stdout is not None and process.stderr is not None
        try:
            async with asyncio.timeout(limit_seconds):
                stdout, stderr, returncode = await asyncio.gather(
                    _keep(process.stdout), _keep(process.stderr), process.wait()
                )
        except TimeoutError:
            log.warning("ffmpeg %s (pid %d) ran over %.1f s; killed", task, process.pid, limit_seconds)
            message = "Processing the video took too long and was stopped."
            raise MediaError(message, detail=f"{task} ran over {limit_seconds} s") from None
        finally:
            if process.returncode is None:
                process.kill()
                await asyncio.shield(process.wait())
            self._emit(MediaEvent("end", task, process.pid, time.monotonic(), process.returncode))
        return _Outcome(returncode, stdout, stderr)

    def _require_ffmpeg(self) -> None:
        """Raise FfmpegMissing unless the ffmpeg binary can be run."""
        if not self.available:
            raise FfmpegMissing(detail=f"no executable ffmpeg at {self.ffmpeg}")

    def _emit(self, event: MediaEvent) -> None:
        """Tell the listener, if any, about a process starting or ending."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("media event listener failed on %s", event)


async def _keep(stream: asyncio.StreamReader) -> str:
    """Read `stream` to its end, keeping its first KEEP_HEAD and last KEEP_TAIL bytes, as text."""
    head = bytearray()
    tail = bytearray()
    while chunk := await stream.read(READ_CHUNK):
        room = KEEP_HEAD - len(head)
        head += chunk[:room]
        tail += chunk[room:]
        del tail[:-KEEP_TAIL]
    return (head + tail).decode("utf-8", errors="replace")


def _file_size(path: Path) -> int | None:
    """The size of the file at `path` in bytes, or None when there is none."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _copy_unless_same(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` in chunks, unless both name the same file."""
    if src.resolve() != dest.resolve():
        shutil.copyfile(src, dest)


def _part_path(dest: Path) -> Path:
    """A partial file beside `dest`, renamed over it only once ffmpeg has finished writing."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.part")


def _why(outcome: _Outcome) -> str:
    """A short reason for a failed ffmpeg run, for the log."""
    return f"exit {outcome.returncode}: {opening_failure(outcome.stderr)}"
