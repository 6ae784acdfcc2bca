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
import dataclasses
import heapq
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.common import median, percentile, source_digest
from bot.devtools.gateway.config import SimulatorConfig
from bot.devtools.gateway.render import openai_created, openai_video, unified_created, unified_query
from bot.devtools.gateway.tasks import SimTask, TaskFormat, TaskRegistry, TickModel, make_schedule
from bot.domain import Job, WireFormat
from bot.gateway.formats import codec_for
from bot.services import lifecycle
from bot.services.lifecycle import PollPolicy, place_of, refresh_window, replanned
from bot.services.phase import SWEEP_REPLAN_SECONDS, PollTiming, SharedClock
from bot.services.poller import change_span
from tests.jobs import fresh_job

TICK_SECONDS = 15.0
TASK_SECONDS = 20.0
MAX_INTERVAL = 30.0
ORIGIN = "http://127.0.0.1:1"
# With --trace, the polls of the tasks whose first refresh comes this long after their create are printed.
TRACE_PHASES = (2.0, 6.0, 9.0, 11.0, 12.0, 14.0)
FORMATS = {
    "openai": (TaskFormat.OPENAI, WireFormat.OPENAI, "veo-3.1-fast-generate-preview"),
    "unified": (TaskFormat.UNIFIED, WireFormat.UNIFIED, "veo3.1-fast"),
}


class SettableClock:
    """A simulator clock the model moves to each poll (it may go back: tasks are modelled one at a time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current simulator time."""
        return self.now


def new_job(model: str, wire_format: WireFormat, now: float, job_id: str = "model") -> Job:
    """A freshly stored job, as JobStore.add makes it."""
    return fresh_job(
        id=job_id,
        origin="bench",
        prompt="benchmark job",
        model=model,
        wire_format=wire_format,
        duration=8,
        created_at=now,
        updated_at=now,
    )


def render(fmt: str, task: SimTask, registry: TaskRegistry, config: SimulatorConfig) -> dict[str, object]:
    """The answer a poll of ``task`` gets now."""
    snap = registry.snapshot(task)
    if FORMATS[fmt][0] is TaskFormat.OPENAI:
        return openai_video(task, snap, registry, config, ORIGIN)
    return unified_query(task, snap, registry, config, ORIGIN)


def model_run(
    fmt: str,
    jobs: int,
    min_interval: float,
    latency: float,
    *,
    tick_model: TickModel = TickModel.SPACED,
    hints: bool = True,
    shared: bool = True,
    submit_seconds: float = 0.0,
    start_after: float = 0.0,
    trace: bool = False,
) -> dict[str, Any]:
    """Polls and lag of ``jobs`` tasks created over ``submit_seconds``, all polled in time order.

    Every task is polled at the instant its job asks for (plus ``latency``), in one timeline, so what one task's
    polls teach the shared gateway clock is there for the others' next plans, as in the poller.
    """
    clock = SettableClock(1000.0)
    spacing = TICK_SECONDS / jobs
    registry = TaskRegistry(make_schedule(tick_model, clock(), TICK_SECONDS, spacing), clock)
    config = SimulatorConfig(refresh_hints=hints)
    timing = PollTiming(
        period=TICK_SECONDS,
        min_interval=min_interval,
        max_interval=MAX_INTERVAL,
        shared=SharedClock(TICK_SECONDS) if shared else None,
    )
    policy = PollPolicy(timing=timing, notice_after_seconds=1800.0, timeout_after_seconds=86400.0)
    task_format, wire_format, model = FORMATS[fmt]
    codec = codec_for(wire_format)
    traced = {round(phase / TICK_SECONDS * jobs) % jobs for phase in TRACE_PHASES}
    start = clock.now + start_after
    due: list[tuple[float, int]] = []
    sweep_moves, replanned_at = 0, 0.0
    tasks: list[SimTask] = []
    states: list[Job] = []
    times: list[list[float]] = []
    lags: list[float] = []
    polls: list[int] = []
    for n in range(jobs):
        clock.now = start + submit_seconds * n / jobs
        task = registry.create(
            task_format,
            owner="sim",
            model=model,
            prompt="benchmark job",
            size="1280x720",
            seconds="8",
            run_seconds=TASK_SECONDS,
        )
        created = openai_created(task) if task_format is TaskFormat.OPENAI else unified_created(task)
        bot_now = registry.wall(clock.now)
        job = lifecycle.after_submit(
            new_job(model, wire_format, bot_now, str(n)), codec.parse_submit(created), bot_now, policy
        ).job
        tasks.append(task)
        states.append(job)
        times.append([])
        assert job.next_poll_at is not None
        heapq.heappush(due, (job.next_poll_at, n))
    while due:
        at, n = heapq.heappop(due)
        task, job = tasks[n], states[n]
        clock.now = max(clock.now, at - registry.wall(0.0) + latency)
        times[n].append(clock.now - task.created)
        step = lifecycle.observe(
            job, codec.parse_snapshot(render(fmt, task, registry, config)), registry.wall(clock.now), policy
        )
        if timing.shared is not None:
            now = registry.wall(clock.now)
            trusted = timing.shared.estimate.shared_phase(now) is not None
            period = timing.shared.period
            span = change_span(job, step.job)
            timing.shared.learn_from(
                refresh_window(job),
                refresh_window(step.job),
                task=str(n),
                changed_in=span,
                place=place_of(step.job),
                planned_from=job.last_poll_at,
            )
            if step.job.status.is_terminal:
                timing.shared.forget(str(n), now)  # as the poller does: a finished task leaves the pass
            moved = timing.shared.sweep.moves != sweep_moves and now - replanned_at >= SWEEP_REPLAN_SECONDS
            if (
                moved
                or period != timing.shared.period
                or trusted != (timing.shared.estimate.shared_phase(now) is not None)
            ):
                sweep_moves, replanned_at = timing.shared.sweep.moves, now
                # As the poller does: the polls planned before the phase was learnt (or moved) are planned again.
                for index, (_, m) in enumerate(due):
                    states[m] = dataclasses.replace(states[m], next_poll_at=replanned(states[m], now, policy))
                    due[index] = (states[m].next_poll_at or now, m)
                heapq.heapify(due)
        if step.download:
            polls.append(len(times[n]))
            lags.append(clock.now - registry.schedule.terminal_at(task))
            if trace and task.seq in traced:
                shown = ", ".join(f"{t:.2f}" for t in times[n])
                done = registry.schedule.terminal_at(task) - task.created
                print(f"  {fmt} task {task.seq}: done +{done:5.2f} s; polls at {shown}")
            continue
        if step.job.next_poll_at is None:
            raise RuntimeError(f"task {task.task_id} ended without completing: {step.job.status}")
        states[n] = step.job
        heapq.heappush(due, (step.job.next_poll_at, n))
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
    parser.add_argument("--tick-model", choices=[str(m) for m in TickModel], default="spaced", help="tick model")
    parser.add_argument("--hints", choices=("on", "off"), default="off", help="running tasks' change times")
    parser.add_argument("--no-shared-clock", action="store_true", help="each task learns on its own (the old way)")
    parser.add_argument("--submit-seconds", type=float, default=1.5, help="the creates are spread over this long")
    parser.add_argument(
        "--start-after", type=float, default=0.0, help="seconds from the gateway loop's start to the first create"
    )
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
            row = model_run(
                fmt,
                args.jobs,
                min_interval,
                args.latency,
                tick_model=TickModel(args.tick_model),
                hints=args.hints == "on",
                shared=not args.no_shared_clock,
                submit_seconds=args.submit_seconds,
                start_after=args.start_after,
                trace=args.trace,
            )
            hist = " ".join(f"{k}:{v}" for k, v in row["polls_histogram"].items())
            print(
                f"{fmt:8} {min_interval:5g} {row['polls_mean']:10.2f} {row['polls_max']:4d}  "
                f"{row['lag_p50']:7.2f} {row['lag_p95']:5.2f} {row['lag_max']:5.2f}  {hist}"
            )


if __name__ == "__main__":
    main()
