"""What tests (and bench/) share: ports, engine settings, waiting, running `python -m bot`, checking results.

No pytest at run time here: bench/ imports this module too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type information
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bot.domain import Job
from bot.gateway.download import check_mp4
from bot.services.poller import Poller

if TYPE_CHECKING:
    import pytest

    from bot.devtools.gateway import Simulator


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeClock:
    """A clock that only moves when told."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def gateway_env(base_url: str, key: str, workdir: Path, **overrides: str) -> dict[str, str]:
    """Settings.from_env input for an engine on the gateway at ``base_url``, its database and results under ``workdir``.

    Everything not given here keeps the bot's default (bench/ measures with those).
    """
    env = {
        "GATEWAY_BASE_URL": base_url,
        "GATEWAY_API_KEY": key,
        "DATABASE_PATH": str(workdir / "reelbot.sqlite3"),
        "RESULTS_DIR": str(workdir / "results"),
    }
    env.update(overrides)
    return env


def engine_env(sim: Simulator, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Environment variables for an engine pointed at ``sim``, with its files under ``tmp_path``, polling fast."""
    fast = {
        "POLL_INTERVAL_MIN_SECONDS": "0.1",
        "POLL_INTERVAL_MAX_SECONDS": "0.3",
        "GATEWAY_REFRESH_SECONDS": "0",
        "JOB_LEASE_SECONDS": "2",
        "COOLDOWN_SECONDS": "0",  # tests that exercise limits set their own
        "LOG_LEVEL": "DEBUG",
    }
    return gateway_env(sim.base_url, sim.key, tmp_path, **{**fast, **overrides})


def database_env(location: Path | str) -> dict[str, str]:
    """The settings that point a process at a test's database (a SQLite file, or a PostgreSQL URL)."""
    return {"DATABASE_PATH": str(location)} if isinstance(location, Path) else {"DATABASE_URL": location}


def body_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test's body failed (for fixtures that show logs only then)."""
    report = getattr(request.node, "report_call", None)
    return report is not None and report.failed


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 30.0) -> None:
    """Wait until ``check()`` holds, for state another process changes (files, its HTTP answers): no event to await."""
    async with asyncio.timeout(within):
        while not await _holds(check):  # noqa: ASYNC110 - the change happens in another process
            await asyncio.sleep(0.05)


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = check()
    return await result if inspect.isawaitable(result) else result


class Deliveries:
    """Records what a poller delivers, so tests can wait for a job to arrive."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._changed = asyncio.Condition()

    async def __call__(self, job: Job) -> int | None:
        async with self._changed:
            self.jobs.append(job)
            self._changed.notify_all()
        return None

    def of(self, job_id: str) -> list[Job]:
        """Every delivery of one job."""
        return [j for j in self.jobs if j.id == job_id]

    async def wait_for(self, job_id: str, within: float = 30.0) -> Job:
        """The first delivery of ``job_id``, waiting up to ``within`` seconds."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: bool(self.of(job_id)))
        return self.of(job_id)[0]


async def run_until(poller: Poller, done: Awaitable[Job]) -> Job:
    """Run a poller's loop until ``done`` resolves, let its work in hand finish, then stop it."""
    task = asyncio.create_task(poller.run())
    try:
        result = await done
        await poller.drain(grace=30)
        return result
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@dataclass(frozen=True)
class Ran:
    """What a command printed and how it exited."""

    code: int
    out: str
    err: str


async def run_bot(cwd: Path, env: dict[str, str], *args: str) -> Ran:
    """Run `python -m bot ARGS` in ``cwd`` with only ``env`` as configuration."""
    proc = await start_bot(cwd, env, *args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def bot_process_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without the bot's settings from the developer's shell, then ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "DISCORD_", "DATABASE_", "POLL_"))}
    return {**base, **env}


async def start_bot(cwd: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """Start `python -m bot ARGS` in ``cwd`` with only ``env`` as configuration, its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=bot_process_env(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f0d6a30000000049454e44ae426082"
)


def assert_playable(path: Path) -> None:
    """The file is a complete MP4 that ffmpeg decodes without an error."""
    check_mp4(path)
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def png(width: int, height: int) -> bytes:
    """A real PNG of the given size, with a text chunk that must not survive processing."""
    out = io.BytesIO()
    info = PngInfo()
    info.add_text("Author", "secret-camera-owner")
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in 65 bytes: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def delivered_jobs(tmp_path: Path) -> int:
    """How many jobs the bot's database records as delivered (read from the test's side)."""
    with contextlib.closing(sqlite3.connect(tmp_path / "reelbot.sqlite3")) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE delivery_state = 'delivered'").fetchone()[0])


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as the (red, green, blue) of a decoded pixel."""
    value = int(colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF
