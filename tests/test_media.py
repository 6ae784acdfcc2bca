"""The media Encoder against the real ffmpeg: probing, posters, fitting under upload limits, and process hygiene."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type information
import pytest
from PIL import Image

from bot.media import CannotFit, Encoder, FfmpegMissing, MediaError, MediaEvent, VideoInfo
from bot.media.fit import SHORT_SIDE_TIERS, budget_bps, encode_args, plan_fit, retry_bps, scaled_size
from bot.media.probe import parse_report
from tests.media_samples import make_clip

MIB = 1024 * 1024
DISCORD_LIMIT = 10 * MIB


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip cache shared by this run's test workers."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "media-samples"


@pytest.fixture(scope="session")
def big_clip(samples: Path) -> Path:
    """An 8 s 1080p clip of about 30 MB with sound: three times Discord's unboosted limit."""
    return make_clip(samples, seconds=8, width=1920, height=1080, target_bytes=30_000_000)


@pytest.fixture(scope="session")
def small_clip(samples: Path) -> Path:
    """A 2 s 640x360 clip of about 1.5 MB with sound."""
    return make_clip(samples, seconds=2, width=640, height=360, target_bytes=1_500_000)


@pytest.fixture(scope="session")
def silent_clip(samples: Path) -> Path:
    """A 2 s 640x360 clip of about 1.5 MB without sound."""
    return make_clip(samples, seconds=2, width=640, height=360, target_bytes=1_500_000, audio=False)


class Recorder:
    """Collects an Encoder's process events and each process's niceness, as the OS and /proc/<pid>/stat say."""

    def __init__(self) -> None:
        self.events: list[MediaEvent] = []
        self.nice: dict[int, tuple[int, int] | None] = {}
        self.running = 0
        self.most_running = 0

    def __call__(self, event: MediaEvent) -> None:
        self.events.append(event)
        if event.kind == "start":
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            try:
                self.nice[event.pid] = (os.getpriority(os.PRIO_PROCESS, event.pid), stat_nice(event.pid))
            except OSError:  # a short probe may already be gone
                self.nice[event.pid] = None
        else:
            self.running -= 1

    def of(self, task: str) -> list[MediaEvent]:
        return [event for event in self.events if event.task == task]


def stat_nice(pid: int) -> int:
    """Field 19 (nice) of /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text.rsplit(")", 1)[1].split()[19 - 3])


async def decode_errors(path: Path) -> tuple[int, str]:
    """Decode every frame of `path` with ffmpeg; return its exit code and error output."""
    process = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


async def test_probe_describes_a_generated_clip(big_clip: Path) -> None:
    info = await Encoder().probe(big_clip)
    assert info.duration_seconds == pytest.approx(8.0, abs=0.1)
    assert (info.width, info.height) == (1920, 1080)
    assert info.size_bytes == big_clip.stat().st_size
    assert 25_000_000 < info.size_bytes < 35_000_000
    assert (info.has_audio, info.video_codec, info.audio_codec) == (True, "h264", "aac")


async def test_probe_of_a_silent_clip_reports_no_audio(silent_clip: Path) -> None:
    info = await Encoder().probe(silent_clip)
    assert (info.has_audio, info.audio_codec, info.width, info.height) == (False, None, 640, 360)


async def test_probe_times_a_file_whose_container_states_no_duration(small_clip: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.mkv"
    process = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(small_clip), "-c", "copy", "-live", "1", str(live)
    )
    assert await process.wait() == 0
    recorder = Recorder()
    info = await Encoder(on_event=recorder).probe(live)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert (info.width, info.height, info.has_audio) == (640, 360, True)
    assert len(recorder.of("probe")) == 4  # the report, then one timing pass


async def test_probe_rejects_missing_files_and_non_videos(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="missing") as missing:
        await Encoder().probe(tmp_path / "nothing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError) as garbage:
        await Encoder().probe(text)
    assert missing.value.user_message == "The video file is missing."
    assert garbage.value.user_message == "The file is not a playable video."
    assert "Invalid data" in garbage.value.detail


async def test_poster_is_a_scaled_jpeg_of_the_first_frame(big_clip: Path, small_clip: Path, tmp_path: Path) -> None:
    encoder = Encoder()
    poster = await encoder.poster(big_clip, tmp_path / "poster.jpg")
    narrow = await encoder.poster(small_clip, tmp_path / "narrow.jpg", max_width=1000)
    with Image.open(poster) as image:
        assert (image.format, image.size) == ("JPEG", (640, 360))
    with Image.open(narrow) as image:
        assert image.size == (640, 360)  # never enlarged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["narrow.jpg", "poster.jpg"]


async def test_a_30mb_1080p_clip_fits_under_10_mib_and_still_plays(big_clip: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    dest = tmp_path / "fitted.mp4"
    result = await Encoder(on_event=recorder).fit(big_clip, dest, DISCORD_LIMIT)
    assert result.path == dest
    assert result.original.size_bytes > 2 * DISCORD_LIMIT
    assert dest.stat().st_size == result.info.size_bytes <= DISCORD_LIMIT
    assert result.info.size_bytes > DISCORD_LIMIT * 0.7  # the budget is used, not thrown away
    assert result.attempts in (1, 2)
    assert result.info.has_audio and result.info.video_codec == "h264" and result.info.audio_codec == "aac"
    assert result.info.duration_seconds == pytest.approx(result.original.duration_seconds, rel=0.05)
    assert result.info.width % 2 == 0 and result.info.height % 2 == 0
    assert result.info.width * 1080 == result.info.height * 1920
    assert await decode_errors(dest) == (0, "")
    encodes = recorder.of("encode")
    assert [event.kind for event in encodes] == ["start", "end"] * result.attempts
    assert all(recorder.nice[event.pid] == (19, 19) for event in encodes if event.kind == "start")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fitted.mp4"]


async def test_a_clip_that_already_fits_is_copied_as_is(small_clip: Path, tmp_path: Path) -> None:
    result = await Encoder().fit(small_clip, tmp_path / "same.mp4", DISCORD_LIMIT)
    assert result.attempts == 0 and result.info == result.original
    assert (tmp_path / "same.mp4").read_bytes() == small_clip.read_bytes()


async def test_a_limit_too_small_for_the_length_raises_cannot_fit(big_clip: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with pytest.raises(CannotFit) as caught:
        await Encoder(on_event=recorder).fit(big_clip, tmp_path / "tiny.mp4", 50_000)
    assert "upload limit" in caught.value.user_message
    assert recorder.of("encode") == []
    assert list(tmp_path.iterdir()) == []


async def test_two_fits_at_once_run_one_after_the_other(small_clip: Path, silent_clip: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    encoder = Encoder(on_event=recorder)
    limit = 600_000
    loud, silent = await asyncio.gather(
        encoder.fit(small_clip, tmp_path / "loud.mp4", limit),
        encoder.fit(silent_clip, tmp_path / "silent.mp4", limit),
    )
    assert recorder.most_running == 1
    assert [event.kind for event in recorder.events] == ["start", "end"] * len(recorder.events[::2])
    assert len(recorder.of("encode")) == 2 * (loud.attempts + silent.attempts)
    assert loud.info.size_bytes <= limit and silent.info.size_bytes <= limit
    assert loud.info.has_audio and not silent.info.has_audio
    for result in (loud, silent):
        assert await decode_errors(result.path) == (0, "")


async def test_fits_wait_for_the_same_encoder_but_not_for_another(tmp_path: Path) -> None:
    fifos = [tmp_path / f"never-written-{n}.mp4" for n in range(4)]
    for fifo in fifos:
        os.mkfifo(fifo)  # ffmpeg blocks opening these until the test's timeout kills it
    shared, first, second = Recorder(), Recorder(), Recorder()
    one = Encoder(probe_timeout_seconds=1.0, on_event=shared)
    two = [Encoder(probe_timeout_seconds=1.0, on_event=recorder) for recorder in (first, second)]
    outcomes = await asyncio.gather(
        one.fit(fifos[0], tmp_path / "a.mp4", MIB),
        one.fit(fifos[1], tmp_path / "b.mp4", MIB),
        two[0].fit(fifos[2], tmp_path / "c.mp4", MIB),
        two[1].fit(fifos[3], tmp_path / "d.mp4", MIB),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, MediaError) for outcome in outcomes)
    assert [event.kind for event in shared.events] == ["start", "end", "start", "end"]
    starts = sorted(recorder.events[0].at for recorder in (first, second))
    ends = sorted(recorder.events[1].at for recorder in (first, second))
    assert starts[1] < ends[0]  # separate encoders do not share the lock: both processes ran together


async def test_processes_run_at_nice_19_and_are_killed_on_timeout(tmp_path: Path) -> None:
    fifo = tmp_path / "never-written.mp4"
    os.mkfifo(fifo)
    recorder = Recorder()
    with pytest.raises(MediaError) as caught:
        await Encoder(probe_timeout_seconds=0.3, on_event=recorder).probe(fifo)
    assert list(recorder.nice.values()) == [(19, 19)]  # read while ffmpeg sat blocked opening the pipe
    assert caught.value.user_message == "Processing the video took too long and was stopped."
    end = recorder.events[-1]
    assert end.kind == "end" and end.returncode is not None and end.returncode < 0
    assert not Path(f"/proc/{end.pid}").exists()


async def test_a_slow_encode_is_killed_and_leaves_nothing_behind(big_clip: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    with pytest.raises(MediaError, match="took too long"):
        await Encoder(timeout_seconds=0.5, on_event=recorder).fit(big_clip, tmp_path / "slow.mp4", DISCORD_LIMIT)
    encodes = recorder.of("encode")
    assert [event.kind for event in encodes] == ["start", "end"]
    assert encodes[1].returncode is not None and encodes[1].returncode < 0
    assert list(tmp_path.iterdir()) == []


async def test_cancelling_a_fit_kills_its_encode(big_clip: Path, tmp_path: Path) -> None:
    started = asyncio.Event()
    recorder = Recorder()

    def on_event(event: MediaEvent) -> None:
        recorder(event)
        if event.task == "encode" and event.kind == "start":
            started.set()

    fit = asyncio.create_task(Encoder(on_event=on_event).fit(big_clip, tmp_path / "cancelled.mp4", DISCORD_LIMIT))
    await started.wait()
    fit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fit
    end = recorder.events[-1]
    assert (end.kind, end.task) == ("end", "encode") and end.returncode is not None and end.returncode < 0
    assert not Path(f"/proc/{end.pid}").exists()
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_ffmpeg_says_so_plainly(tmp_path: Path) -> None:
    not_executable = tmp_path / "ffmpeg"
    not_executable.write_text("#!/bin/sh\n")
    for path in (tmp_path / "no-such-ffmpeg", not_executable):
        encoder = Encoder(path)
        assert not encoder.available
        with pytest.raises(FfmpegMissing) as caught:
            await encoder.fit(tmp_path / "in.mp4", tmp_path / "out.mp4", DISCORD_LIMIT)
        assert "ffmpeg" in caught.value.user_message and "Traceback" not in caught.value.user_message
    assert Encoder().available


def info(width: int, height: int, seconds: float = 8.0, *, audio: bool = True) -> VideoInfo:
    """A VideoInfo for planning tests."""
    return VideoInfo(seconds, width, height, 30 * MIB, audio, "h264", "aac" if audio else None)


def test_plans_shrink_the_picture_and_the_audio_as_the_budget_tightens() -> None:
    generous = plan_fit(info(1920, 1080), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 8))
    long_clip = plan_fit(info(1920, 1080, 60), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 60))
    portrait = plan_fit(info(1080, 1920, 120), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 120))
    silent = plan_fit(info(1920, 1080, 60, audio=False), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 60))
    assert generous is not None and long_clip is not None and portrait is not None and silent is not None
    assert (generous.width, generous.height, generous.audio_bps) == (1920, 1080, 96_000)
    assert (long_clip.width, long_clip.height, long_clip.max_fps) == (854, 480, 30)
    assert (portrait.width, portrait.height, portrait.audio_bps) == (360, 640, 64_000)
    assert silent.audio_bps is None and silent.video_bps == silent.total_bps
    for plan, seconds in ((generous, 8), (long_clip, 60), (portrait, 120)):
        worst_bits = plan.total_bps * seconds + 0.9 * plan.buffer_bits
        assert worst_bits <= DISCORD_LIMIT * 8 * 0.97
    assert plan_fit(info(1920, 1080), 50_000, budget_bps(50_000, 8)) is None
    assert plan_fit(info(1920, 1080, 3600), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 3600)) is None


def test_a_retry_aims_lower_by_the_overshoot() -> None:
    plan = plan_fit(info(1920, 1080), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 8))
    assert plan is not None
    lower = retry_bps(plan, DISCORD_LIMIT, int(DISCORD_LIMIT * 1.1))
    assert lower == pytest.approx(plan.total_bps * 0.92 / 1.1 * 0.93, rel=1e-3)
    assert retry_bps(plan, DISCORD_LIMIT, DISCORD_LIMIT + 1) < plan.total_bps


def test_scaling_keeps_the_aspect_with_even_sides() -> None:
    assert scaled_size(1921, 1081, 720) == (1280, 720)
    assert scaled_size(641, 361, 1080) == (640, 360)
    assert scaled_size(720, 1280, SHORT_SIDE_TIERS[-1][1]) == (240, 426)


def test_encode_arguments_are_single_threaded_h264_with_faststart() -> None:
    plan = plan_fit(info(1920, 1080), DISCORD_LIMIT, budget_bps(DISCORD_LIMIT, 8))
    assert plan is not None
    args = encode_args(Path("in.mp4"), Path("out.part"), plan)
    assert args.count("-threads") == 2 and "veryfast" in args and "+faststart" in args
    assert args[args.index("-c:v") + 1] == "libx264" and args[args.index("-pix_fmt") + 1] == "yuv420p"
    assert args[args.index("-b:v") + 1] == args[args.index("-maxrate") + 1] == str(plan.video_bps)


def test_rotated_phone_video_reports_its_upright_size() -> None:
    report = (
        "  Duration: 00:00:05.00, start: 0.000000, bitrate: 9000 kb/s\n"
        "  Stream #0:0[0x1](und): Video: hevc (Main) (hvc1 / 0x31637668), yuv420p(tv), 1920x1080, 8000 kb/s\n"
        "      Side data:\n        displaymatrix: rotation of -90.00 degrees\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s\n"
    )
    parsed = parse_report(report, size_bytes=1)
    assert (parsed.width, parsed.height, parsed.video_codec, parsed.duration_seconds) == (1080, 1920, "hevc", 5.0)
