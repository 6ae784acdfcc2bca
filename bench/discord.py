"""Discord-side delivery: 30 jobs in one channel finishing at once, through the fake Discord's rate limits.

    python -m bench.discord [--jobs 30] [--runs 3]

Per run, the real bot process (``python -m bot``) runs against the fake Discord, with Discord's rate limits on
(5 message creates and 5 edits per 5 s per channel, 50 requests per second globally), and the gateway
simulator in this process. Every job is started with ``/video create`` in one channel, so the 30 status
messages share the parent channel's buckets while each result goes into a thread of its own. The simulator's
tasks run for an hour until every job is set up; then its clock jumps and all of them finish at the same
instant, and the bot's polls (every 0.5 to 1 s) see them within about a second.

Per job: the result's lag is from the moment the simulator answered the poll that saw the job complete to the
moment the fake Discord received the post that created the result (both in this process, on its monotonic
clock); it includes the result's download. The gateway's request limiter is raised out of the way
(``GATEWAY_REQUESTS_PER_SECOND``, as in ``bench.poller``): 30 jobs polled every 0.5 to 1 s would otherwise queue
behind the default 20 requests per second, which is the gateway side's business, not Discord's.

Also reported: the Discord side alone (from the result saved on disk, ``finished_at``, to the post); posts lost
or doubled; every 429 the fake answered (discord.py waits on an exhausted bucket by itself, so each is one it
could not foresee); and how long the status messages took to show the result (they share one edit bucket, so
they follow at about one a second, after the posts).

Target (issue 11): every result posted, none twice, lag p95 <= 2 s, no avoidable 429.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.ack import NO_QUOTA_LIMITS, bot_ready
from bench.common import RESULTS_DIR, machine, percentile, source_digest, write_json
from bot.devtools.gateway import Simulator, SimulatorConfig
from tests.botproc import BotProcess, bot_env, has_video
from tests.fakediscord import FakeDiscord, Message

MODEL = "veo-3.1-fast-generate-preview"
HOUR = 3600.0
TARGET_LAG_P95 = 2.0
WAIT = 300.0
GATEWAY_RPS = "1000"


class JumpClock:
    """The simulator's clock: monotonic time, plus a jump that makes every running task finish at once."""

    def __init__(self) -> None:
        self.jump = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.jump


def shows_result(message: Message) -> bool:
    """Whether a status message links its result."""
    return "Open the video" in str(message.embeds)


def stored_jobs(database: Path) -> list[sqlite3.Row]:
    """The bot's job rows (read after the run)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute("SELECT id, task_id, thread_id, finished_at, delivered_at FROM jobs"))


async def one_run(jobs: int, workdir: Path) -> dict[str, Any]:
    """Start ``jobs`` jobs in one channel, let them finish at once, and measure how their results arrive."""
    clock = JumpClock()
    config = SimulatorConfig(tick_seconds=0, task_seconds=HOUR, media_dir=str(workdir / "media"))
    async with Simulator(config, clock=clock) as sim, FakeDiscord() as fake:
        env = bot_env(
            fake,
            sim,
            workdir,
            LOG_LEVEL="INFO",
            POLL_INTERVAL_MIN_SECONDS="0.5",
            POLL_INTERVAL_MAX_SECONDS="1",
            GATEWAY_REQUESTS_PER_SECOND=GATEWAY_RPS,
            **NO_QUOTA_LIMITS,
        )
        async with BotProcess(env, workdir) as bot:
            await bot_ready(fake)
            channel = fake.channel().id
            options = [{"prompt": f"bench {n}", "model": MODEL} for n in range(jobs)]
            records = await asyncio.gather(*(fake.invoke_slash(channel_id=channel, options=o) for o in options))
            started = time.monotonic()
            await fake.state.changed.wait_for(
                lambda: (len(fake.threads()) == jobs and all(len(r.responses) >= 2 for r in records)) or None,
                WAIT,
                "every job set up",
            )
            setup_seconds = time.monotonic() - started
            wall_minus_monotonic = time.time() - time.monotonic()
            clock.jump = HOUR  # every task finishes now
            load = os.getloadavg()[0]
            finished_at = time.monotonic()
            threads = [thread.id for thread in fake.threads()]
            await fake.state.changed.wait_for(
                lambda: all(any(has_video(m) for m in fake.messages(t)) for t in threads) or None, WAIT, "results"
            )
            try:
                await fake.state.changed.wait_for(
                    lambda: sum(shows_result(m) for m in fake.messages(channel)) >= jobs or None, WAIT, "status edits"
                )
                statuses_done: float | None = time.monotonic() - finished_at
            except TimeoutError:
                statuses_done = None
            statuses_shown = sum(shows_result(m) for m in fake.messages(channel))
            await bot.terminate()
        seen = {
            task.task_id: task.first_poll_terminal_at - clock.jump
            for task in sim.tasks
            if task.first_poll_terminal_at is not None
        }
        posts = {
            thread: [r for r in fake.requests_to("POST", f"/channels/{thread}/messages") if r.status == 200]
            for thread in threads
        }
        videos = {thread: sum(has_video(m) for m in fake.messages(thread)) for thread in threads}
        elsewhere = sum(has_video(m) for m in fake.messages(channel))
        hits = Counter(f"{hit.scope} {hit.method} {hit.bucket[:8]}" for hit in fake.rate_limits.hits)
        hits_after = sum(1 for hit in fake.rate_limits.hits if hit.at >= finished_at)
    lags, discord_side, recorded = [], [], []
    for row in stored_jobs(workdir / "reelbot.sqlite3"):
        thread_posts = posts.get(row["thread_id"], [])
        if not thread_posts or row["task_id"] not in seen:
            continue
        posted = thread_posts[0].at
        lags.append(posted - seen[row["task_id"]])
        discord_side.append(posted + wall_minus_monotonic - row["finished_at"])
        if row["delivered_at"] is not None:
            recorded.append(row["delivered_at"] - wall_minus_monotonic - seen[row["task_id"]])
    return {
        "jobs": jobs,
        "loadavg_at_finish": load,
        "setup_seconds": setup_seconds,
        "lag": sorted(lags),
        "lag_p50": statistics.median(lags),
        "lag_p95": percentile(lags, 95),
        "lag_max": max(lags),
        "discord_side_p50": statistics.median(discord_side),
        "discord_side_p95": percentile(discord_side, 95),
        "recorded_p95": percentile(recorded, 95),
        "statuses_done_seconds": statuses_done,
        "statuses_shown": statuses_shown,
        "lost": sum(1 for count in videos.values() if count == 0),
        "doubled": sum(count - 1 for count in videos.values() if count > 1) + elsewhere,
        "rate_limited": dict(hits),
        "rate_limited_after_finish": hits_after,
    }


async def main(jobs: int, runs: int, out: Path) -> None:
    """Run the benchmark and print a summary."""
    results = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            result = await one_run(jobs, Path(tmp))
        results.append(result)
        print(
            f"run {run + 1}: result posted after the completing poll p50 {result['lag_p50']:.2f} s, "
            f"p95 {result['lag_p95']:.2f} s, max {result['lag_max']:.2f} s; lost {result['lost']}, "
            f"doubled {result['doubled']}; from the saved result p50 {result['discord_side_p50']:.2f} s, "
            f"p95 {result['discord_side_p95']:.2f} s; 429s {sum(result['rate_limited'].values())} "
            f"({result['rate_limited_after_finish']} after the jobs finished) {result['rate_limited']}; "
            f"set-up {result['setup_seconds']:.1f} s; status messages done {result['statuses_shown']}/{jobs}, "
            f"all after {result['statuses_done_seconds'] or math.inf:.1f} s; "
            f"load average {result['loadavg_at_finish']:.1f}"
        )
    p50 = statistics.median(r["lag_p50"] for r in results)
    p95 = statistics.median(r["lag_p95"] for r in results)
    print(
        f"median of {runs} runs, {jobs} jobs in one channel: lag p50 {p50:.2f} s, p95 {p95:.2f} s "
        f"(target <= {TARGET_LAG_P95} s), "
        f"max {max(r['lag_max'] for r in results):.2f} s; lost {sum(r['lost'] for r in results)}, "
        f"doubled {sum(r['doubled'] for r in results)}"
    )
    write_json(
        out,
        {"machine": machine(), "bot_source": source_digest(), "runs": results},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.discord", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "discord.json", help="where to write the results")
    options = parser.parse_args()
    asyncio.run(main(options.jobs, options.runs, options.json))
