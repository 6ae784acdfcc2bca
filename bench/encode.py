"""Fitting a 30 MB 8-second 1080p clip under Discord's 10 MiB limit, and how the bot answers meanwhile.

1. Encoder.fit on its own: wall time, the fitted size against the limit, and the peak RSS of the ffmpeg process
   (RUSAGE_CHILDREN of a fresh worker process) and of the Python process doing it.
2. The real bot against the fake Discord and the simulator, serving that clip as every result: while the bot is
   re-encoding a delivery, 20 rounds of /video help are sent one at a time and their acknowledgement latency is
   measured by the fake (INTERACTION_CREATE written -> callback received), then compared with an idle bot.

    python -m bench.encode [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import milliseconds, percentile
from bot.devtools.gateway import Simulator, SimulatorConfig
from tests.botproc import BotProcess, bot_env
from tests.fakediscord import FakeDiscord
from tests.media_samples import make_clip

LIMIT = 10 * 1024 * 1024
WAIT = 300.0
ROUNDS = 20
CACHE = Path(tempfile.gettempdir()) / "reelbot-bench-media"

_WORKER = """
import asyncio, json, resource, sys, time
from pathlib import Path
from bot.media import Encoder
async def main():
    src, dest, limit = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    started = time.monotonic()
    result = await Encoder().fit(src, dest, limit)
    seconds = time.monotonic() - started
    print(json.dumps({
        "seconds": seconds, "bytes": result.info.size_bytes, "attempts": result.attempts,
        "height": result.info.height, "ffmpeg_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "python_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
asyncio.run(main())
"""


def fit_once(clip: Path, workdir: Path) -> dict[str, float]:
    """One fit in a fresh process, so RUSAGE_CHILDREN is this encode's ffmpeg alone."""
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(clip), str(workdir / "fit.mp4"), str(LIMIT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def help_latencies(fake: FakeDiscord, rounds: int) -> list[float]:
    """Ack latency (ms) of /video help sent one at a time."""
    latencies = []
    for _ in range(rounds):
        rec = await fake.invoke_slash(subcommand="help")
        call = await rec.wait_response(WAIT)
        latencies.append(milliseconds(call.latency))
    return latencies


def ffmpeg_running(pid: int) -> bool:
    """Whether the bot process (pid) has an ffmpeg child doing an encode right now."""
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "ffmpeg"], capture_output=True, check=False)
    return found.returncode == 0


async def latency_during_encode(clip: Path, workdir: Path) -> tuple[list[float], list[float]]:
    """(idle latencies, latencies while the bot re-encodes a delivery)."""
    config = SimulatorConfig(tick_seconds=0, task_seconds=0.5, result_video=str(clip), media_dir=str(CACHE))
    async with Simulator(config) as sim, FakeDiscord() as fake:
        env = bot_env(fake, sim, workdir, LOG_LEVEL="WARNING", POLL_INTERVAL_MAX_SECONDS="1")
        async with BotProcess(env, workdir) as bot:
            await fake.wait_for_request("PUT", "*/guilds/*/commands", timeout=WAIT)
            await fake.wait_connected(timeout=WAIT)
            idle = await help_latencies(fake, ROUNDS)
            await fake.invoke_slash(options={"prompt": "a big one", "model": "veo-3.1-fast-generate-preview"})
            assert bot.proc is not None
            deadline = time.monotonic() + WAIT
            while not ffmpeg_running(bot.proc.pid):  # the encode starts once the result is downloaded
                if time.monotonic() > deadline:
                    raise TimeoutError("the bot never started an encode")
                await asyncio.sleep(0.05)
            busy = await help_latencies(fake, ROUNDS)
            encoding_throughout = ffmpeg_running(bot.proc.pid)
    if not encoding_throughout:
        print("note: the encode finished before the last round; later rounds ran on an idle bot")
    return idle, busy


async def main(runs: int) -> None:
    """Run both parts and print medians."""
    clip = await asyncio.to_thread(make_clip, CACHE, seconds=8, width=1920, height=1080, target_bytes=30_000_000)
    print(f"clip: {clip.stat().st_size / 1e6:.1f} MB, 8 s, 1920x1080")
    fits = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            result = await asyncio.to_thread(fit_once, clip, Path(tmp))
        fits.append(result)
        print(f"fit {run + 1}: {json.dumps(result)}")
    print(
        f"fit, median of {runs}: {statistics.median(f['seconds'] for f in fits):.1f} s, "
        f"{statistics.median(f['bytes'] for f in fits) / LIMIT:.1%} of the 10 MiB limit, "
        f"ffmpeg peak RSS {statistics.median(f['ffmpeg_rss_mb'] for f in fits):.0f} MiB, "
        f"python peak RSS {statistics.median(f['python_rss_mb'] for f in fits):.0f} MiB"
    )
    idle_p50s, busy_p50s, busy_p99s = [], [], []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            idle, busy = await latency_during_encode(clip, Path(tmp))
        idle_p50s.append(statistics.median(idle))
        busy_p50s.append(statistics.median(busy))
        busy_p99s.append(percentile(busy, 99))
        print(
            f"latency run {run + 1}: idle p50 {statistics.median(idle):.1f} ms; during the encode p50 "
            f"{statistics.median(busy):.1f} ms, max {max(busy):.1f} ms"
        )
    print(
        f"/video help ack latency, median of {runs} runs x {ROUNDS} rounds: idle p50 "
        f"{statistics.median(idle_p50s):.1f} ms; during an encode p50 {statistics.median(busy_p50s):.1f} ms, "
        f"p99 {statistics.median(busy_p99s):.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
