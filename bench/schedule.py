"""The poll schedule on its own: polls and lag per job with zero network, database and event-loop delay.

``python -m bench.schedule [--jobs 1000] [--min-intervals 5,4,3,2,1] [--latency 0]``

No processes, sockets or sleeps: for each of ``--jobs`` tasks whose refresh phases are spread evenly over the
15 s tick, the simulator's own refresh timetable and JSON renderers (``bot.devtools.gateway``) answer each poll,
the bot's codecs parse the answer, and the bot's state machine (``lifecycle.after_submit`` / ``lifecycle.observe``)
decides the next poll, exactly as the poller would, at the instant it asks for (plus ``--latency`` seconds).
The figures are therefore the floor the schedule itself sets, which ``bench.poller`` can only add to, and the
rows for other POLL_INTERVAL_MIN_SECONDS values show the trade-off between polls and lag.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.common import median, percentile, source_digest
from bot.devtools.gateway.config import SimulatorConfig
from bot.devtools.gateway.render import openai_created, openai_video, unified_created, unified_query
from bot.devtools.gateway.tasks import Schedule, SimTask, TaskFormat, TaskRegistry
from bot.domain import Job, WireFormat
from bot.gateway.formats import codec_for
from bot.services import lifecycle
from bot.services.lifecycle import PollPolicy
from bot.services.phase import PollTiming
from tests.jobs import fresh_job

TICK_SECONDS = 15.0
TASK_SECONDS = 20.0
MAX_INTERVAL = 30.0
ORIGIN = "http://127.0.0.1:1"
# With --trace, the polls of the tasks whose first refresh comes this long after their create are printed.
TRACE_PHASES = (2.0, 6.0, 9.0, 11.0, 12.0, 14.0)
FORMATS = {
    "openai": (TaskFormat.OPENAI, WireFormat.OPENAI, "sora-2"),
    "unified": (TaskFormat.UNIFIED, WireFormat.UNIFIED, "veo3.1-fast"),
}


class SettableClock:
    """A simulator clock the model moves to each poll (it may go back: tasks are modelled one at a time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current simulator time."""
        return self.now


def new_job(model: str, wire_format: WireFormat, now: float) -> Job:
    """A freshly stored job, as JobStore.add makes it."""
    return fresh_job(
        id="model",
        origin="bench",
        prompt="benchmark job",
        model=model,
        wire_format=wire_format,
        duration=8,
        created_at=now,
        updated_at=now,
    )


def follow(
    fmt: str, task: SimTask, registry: TaskRegistry, clock: SettableClock, policy: PollPolicy, latency: float
) -> tuple[list[float], float]:
    """Poll one task the way the poller would until it is seen complete.

    Returns the poll times (seconds after the create) and the lag behind the completing refresh.
    """
    task_format, wire_format, model = FORMATS[fmt]
    codec = codec_for(wire_format)
    config = SimulatorConfig()
    clock.now = task.created
    bot_now = registry.wall(clock.now)
    created = openai_created(task) if task_format is TaskFormat.OPENAI else unified_created(task)
    job = lifecycle.after_submit(new_job(model, wire_format, bot_now), codec.parse_submit(created), bot_now, policy).job
    polls: list[float] = []
    while job.next_poll_at is not None:
        clock.now = job.next_poll_at - registry.wall(0.0) + latency
        snap = registry.snapshot(task)
        if task_format is TaskFormat.OPENAI:
            body = openai_video(task, snap, registry, config, ORIGIN)
        else:
            body = unified_query(task, snap, registry, config, ORIGIN)
        polls.append(clock.now - task.created)
        step = lifecycle.observe(job, codec.parse_snapshot(body), registry.wall(clock.now), policy)
        if step.download:
            return polls, clock.now - registry.schedule.terminal_at(task)
        job = step.job
    raise RuntimeError(f"task {task.task_id} ended without completing: {job.status}")


def model_run(fmt: str, jobs: int, min_interval: float, latency: float, trace: bool = False) -> dict[str, Any]:
    """Polls and lag of ``jobs`` tasks with phases spread evenly over the tick; ``trace`` prints some tasks' polls."""
    clock = SettableClock(1000.0)
    registry = TaskRegistry(Schedule(clock(), TICK_SECONDS, TICK_SECONDS / jobs), clock)
    timing = PollTiming(period=TICK_SECONDS, min_interval=min_interval, max_interval=MAX_INTERVAL)
    policy = PollPolicy(timing=timing, notice_after_seconds=1800.0, timeout_after_seconds=86400.0)
    task_format, _, model = FORMATS[fmt]
    polls: list[int] = []
    lags: list[float] = []
    traced = {round(phase / TICK_SECONDS * jobs) % jobs for phase in TRACE_PHASES}
    start = clock.now
    for _ in range(jobs):
        clock.now = start  # every task is created at the same instant; its sequence number sets its phase
        task = registry.create(
            task_format,
            owner="sim",
            model=model,
            prompt="benchmark job",
            size="1280x720",
            seconds="8",
            run_seconds=TASK_SECONDS,
        )
        times, lag = follow(fmt, task, registry, clock, policy, latency)
        polls.append(len(times))
        lags.append(lag)
        if trace and task.seq in traced:
            first = registry.schedule.first_refresh_at(task) - task.created
            done = registry.schedule.terminal_at(task) - task.created
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(f"  {fmt} min {min_interval:g}: first refresh +{first:5.2f} s, done +{done:5.2f} s; polls at {shown}")
    return {
        "format": fmt,
        "min_interval": min_interval,
        "polls_mean": sum(polls) / len(polls),
        "polls_max": max(polls),
        "polls_histogram": dict(sorted(Counter(polls).items())),
        "lag_p50": percentile(lags, 50),
        "lag_p95": percentile(lags, 95),
        "lag_max": max(lags),
        "lag_median": median(lags),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m bench.schedule``."""
    parser = argparse.ArgumentParser(prog="python -m bench.schedule", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="tasks, phases spread evenly over the tick")
    parser.add_argument("--min-intervals", default="5,4,3,2,1", help="POLL_INTERVAL_MIN_SECONDS values to model")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every poll (default 0)")
    parser.add_argument("--trace", action="store_true", help="print the poll times of a few tasks")
    args = parser.parse_args(argv)
    print(
        f"schedule model: {args.jobs} tasks, tick {TICK_SECONDS:g} s, tasks {TASK_SECONDS:g} s, "
        f"latency {args.latency:g} s; bot/ source digest {source_digest()}"
    )
    print(
        f"{'format':8} {'min s':>5} {'polls mean':>10} {'max':>4}  {'lag p50':>7} {'p95':>5} {'max':>5}  "
        "polls histogram"
    )
    for fmt in FORMATS:
        for min_interval in (float(v) for v in args.min_intervals.split(",")):
            row = model_run(fmt, args.jobs, min_interval, args.latency, trace=args.trace)
            hist = " ".join(f"{k}:{v}" for k, v in row["polls_histogram"].items())
            print(
                f"{fmt:8} {min_interval:5g} {row['polls_mean']:10.2f} {row['polls_max']:4d}  "
                f"{row['lag_p50']:7.2f} {row['lag_p95']:5.2f} {row['lag_max']:5.2f}  {hist}"
            )


if __name__ == "__main__":
    main()
