"""Poller benchmark: 1,000 jobs submitted at once against a gateway that refreshes every 15 s.

``python -m bench.poller [--jobs 1000] [--runs 3] [--format openai|unified|both] [--tick-model global|spaced|drifting]
[--hints on|off] [--naive] [--warm-up N]``

Per run, the simulator (``python -m bot.devtools.gateway``) runs in its own process with the real gateway's timing
(15 s refresh tick, 20 s tasks) and one of its tick models: ``global`` (every task refreshed at the same instant),
``spaced`` (each task at its own offset, ``--tick-spacing`` apart; the default) or ``drifting`` (new-api's loop:
a pass starts 15 s after the previous one ended and takes ``--tick-spacing`` per unfinished task). ``--hints off``
makes the simulator leave out a running task's change time (``completed_at``, ``status_update_time``), so the bot
learns the refresh loop from changes alone. ``--naive`` replaces the bot's schedule with a poll every 3 s (the
baseline of the issue). ``--warm-up N`` first runs N jobs to the end, so the measured jobs meet a gateway clock
that has already learnt the loop (as a bot that has been running does). A fresh worker process opens an engine
with the bot's default poll settings, starts the poller, submits every job concurrently and waits until each one
is delivered. The worker records ``time.monotonic()`` per delivery, its own CPU time (getrusage RUSAGE_SELF, all
threads) and peak RSS; afterwards the simulator's ``/_sim/stats?tasks=1`` gives each task's poll count and the
simulator-clock time of the refresh that completed it. Both sides read CLOCK_MONOTONIC, which on Linux is one
system-wide clock, so ``delivered_at - completed_at`` is the delivery lag across the two processes.

Targets (issue 11, per tick model; "hints" is any tick model with ``--hints on``): polls per job (mean and max)
and delivery lag p95 in ``TARGETS``; peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    SimProcess,
    current_rss_mb,
    machine,
    median,
    percentile,
    poller_arguments,
    poller_env,
    run_worker,
    rusage_self,
    source_digest,
    worker_arguments,
    worker_settings,
    write_json,
)
from bot.catalog import Catalog
from bot.domain import Job, NewJob
from bot.engine import open_engine

MODELS = {"openai": "veo-3.1-fast-generate-preview", "unified": "veo3.1-fast"}
TICK_SECONDS = 15.0
TASK_SECONDS = 20.0
# The engine's limiter must not be what limits the run: 1,000 jobs make ~6,000 requests in well under a minute.
DEFAULT_RPS = 1000.0
DEFAULT_POLL_CONCURRENCY = 16
TICK_MODELS = ("global", "spaced", "drifting")
# (polls mean, polls max, lag p95 in seconds) per tick model without hints, and for any tick model with them.
TARGETS = {
    "global": (3.0, 4, 1.5),
    "spaced": (3.6, 4, 2.5),
    "drifting": (4.0, 5, 3.0),
    "hints": (3.0, 4, 1.0),
}
TARGET_POLLS = 4
TARGET_RSS_MB = 150.0
NAIVE_INTERVAL = 3.0
LOOP_PROBE_SECONDS = 0.1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the ``--worker`` options are internal)."""
    parser = argparse.ArgumentParser(prog="python -m bench.poller", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs submitted at once per run (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per format (default 3)")
    parser.add_argument("--format", choices=("openai", "unified", "both"), default="both", help="wire format")
    parser.add_argument(
        "--tick-spacing",
        type=float,
        default=None,
        help="simulator offset between consecutive tasks inside the 15 s tick, or the time per task of a drifting "
        "pass (default 15/jobs: an even spread, a pass of at most 15 s)",
    )
    parser.add_argument("--tick-model", choices=TICK_MODELS, default="spaced", help="simulator tick model (spaced)")
    parser.add_argument(
        "--hints", choices=("on", "off"), default="on", help="running tasks' change times in the answers (on)"
    )
    parser.add_argument(
        "--naive", action="store_true", help=f"poll every {NAIVE_INTERVAL:g} s instead of the bot's schedule"
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=0,
        help="jobs run to the end before the measured ones, so the gateway clock starts learnt (default 0: cold)",
    )
    poller_arguments(parser, rps=DEFAULT_RPS, concurrency=DEFAULT_POLL_CONCURRENCY, log_level="INFO")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "poller.json", help="where to write the results")
    parser.add_argument("--timeout", type=float, default=900.0, help="give a run up after this many seconds")
    worker_arguments(parser)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class CountingLimiter:
    """Wraps the engine's rate limiter and notes when each gateway request was let through.

    It replaces ``GatewayClient._limiter``, a private attribute: only the request timeline depends on it.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.times: list[float] = []

    async def acquire(self) -> None:
        """Wait on the real limiter, then record the moment."""
        if self._inner is not None:
            await self._inner.acquire()
        self.times.append(time.monotonic())


class LoopProbe:
    """Measures how late the event loop wakes a task that sleeps ``interval`` seconds: a blocked loop shows here."""

    def __init__(self, interval: float = LOOP_PROBE_SECONDS) -> None:
        self.interval = interval
        self.delays: list[float] = []

    async def run(self) -> None:
        """Sleep and measure until cancelled."""
        while True:
            start = time.monotonic()
            await asyncio.sleep(self.interval)
            self.delays.append(time.monotonic() - start - self.interval)


async def work(args: argparse.Namespace) -> dict[str, Any]:
    """The measured side: one engine, one poller, ``args.jobs`` jobs submitted at once."""
    naive = (
        {
            "POLL_INTERVAL_MIN_SECONDS": str(NAIVE_INTERVAL),
            "POLL_INTERVAL_MAX_SECONDS": str(NAIVE_INTERVAL),
            "GATEWAY_REFRESH_SECONDS": "0",
        }
        if args.naive
        else {}
    )
    settings = worker_settings(args, args.workdir, **poller_env(args), **naive)
    bot_source = source_digest()
    delivered: dict[str, dict[str, Any]] = {}
    all_delivered = asyncio.Event()
    warming: set[str] = set()  # warm-up jobs not delivered yet
    warmed = asyncio.Event()

    async def deliver(job: Job) -> int | None:
        if job.id in warming:
            warming.discard(job.id)
            if not warming:
                warmed.set()
            return None
        delivered[job.id] = {"at": time.monotonic(), "status": str(job.status), "task_id": job.task_id}
        if len(delivered) >= args.jobs:
            all_delivered.set()
        return None

    async with open_engine(settings, Catalog.load()) as engine:
        limiter = CountingLimiter(getattr(engine.client, "_limiter", None))
        engine.client._limiter = limiter  # type: ignore[assignment]
        poller = engine.poller(origin="bench", deliver=deliver)
        poller_task = asyncio.create_task(poller.run())
        if args.warm_up:
            # A first wave the gateway clock learns from, delivered before the measured jobs are submitted.
            first = [
                NewJob(request=engine.jobs.build_request(prompt=f"warm-up job {i}", model=args.model), origin="bench")
                for i in range(args.warm_up)
            ]
            warming.update(job.id for job in await asyncio.gather(*(engine.jobs.submit(new) for new in first)))
            await asyncio.wait_for(warmed.wait(), timeout=args.timeout)
            limiter.times.clear()
        requests = [engine.jobs.build_request(prompt=f"benchmark job {i}", model=args.model) for i in range(args.jobs)]
        gc.collect()
        rss_idle = current_rss_mb()
        probe = LoopProbe()
        probe_task = asyncio.create_task(probe.run())
        before = rusage_self()
        started = time.monotonic()
        jobs = await asyncio.gather(*(engine.jobs.submit(NewJob(request=r, origin="bench")) for r in requests))
        submitted = time.monotonic()
        await asyncio.wait_for(all_delivered.wait(), timeout=args.timeout)
        finished = time.monotonic()
        after = rusage_self()
        for task in (poller_task, probe_task):
            task.cancel()
        await asyncio.gather(poller_task, probe_task, return_exceptions=True)
        stored = [await engine.store.get(job.id) for job in jobs]

    per_second = Counter(math.floor(t - started) for t in limiter.times)
    after_submit = Counter(math.floor(t - started) for t in limiter.times if t > submitted)
    return {
        "settings": {
            "POLL_INTERVAL_MIN_SECONDS": settings.poll_interval_min_seconds,
            "POLL_INTERVAL_MAX_SECONDS": settings.poll_interval_max_seconds,
            "GATEWAY_REFRESH_SECONDS": settings.gateway_refresh_seconds,
            "GATEWAY_REQUESTS_PER_SECOND": settings.gateway_requests_per_second,
            "POLL_CONCURRENCY": settings.poll_concurrency,
            "LOG_LEVEL": settings.log_level,
        },
        "model": args.model,
        "bot_source": bot_source,
        "started": started,
        "submit_seconds": submitted - started,
        "run_seconds": finished - started,
        "cpu_user": after["user"] - before["user"],
        "cpu_sys": after["sys"] - before["sys"],
        "maxrss_mb": after["maxrss_mb"],
        "rss_idle_mb": rss_idle,
        "requests": len(limiter.times),
        "peak_requests_per_second": max(per_second.values(), default=0),
        "peak_requests_per_second_after_submit": max(after_submit.values(), default=0),
        "loop_delay_p99": percentile(probe.delays, 99),
        "loop_delay_max": max(probe.delays, default=math.nan),
        "jobs": [
            {
                "id": job.id,
                "task_id": job.task_id,
                "submit_status": str(job.status),
                "bot_polls": s.poll_count if s is not None else None,
                "delivered_at": delivered.get(job.id, {}).get("at"),
                "status": delivered.get(job.id, {}).get("status"),
            }
            for job, s in zip(jobs, stored, strict=True)
        ],
    }


def analyse(worker: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Join the worker's deliveries with the simulator's per-task stats into one run's figures."""
    tasks = {t["task_id"]: t for t in stats["task_stats"]}
    polls: list[float] = []
    lags: list[float] = []
    seen_lags: list[float] = []
    fetch_lags: list[float] = []
    succeeded = 0
    worst: list[dict[str, Any]] = []
    for job in worker["jobs"]:
        task = tasks.get(job["task_id"])
        if job["status"] == "succeeded":
            succeeded += 1
        if task is None or task["completed_at"] is None or job["delivered_at"] is None:
            continue
        polls.append(task["polls"])
        lags.append(job["delivered_at"] - task["completed_at"])
        if task["first_poll_terminal_at"] is not None:
            seen_lags.append(task["first_poll_terminal_at"] - task["completed_at"])
            fetch_lags.append(job["delivered_at"] - task["first_poll_terminal_at"])
        worst.append(
            {
                "task_id": task["task_id"],
                "lag": lags[-1],
                "polls": task["polls"],
                "bot_polls": job["bot_polls"],
                "created": task["created_at"] - worker["started"],
                "completed": task["completed_at"] - worker["started"],
                "first_terminal_poll": (task["first_poll_terminal_at"] or math.nan) - worker["started"],
                "delivered": job["delivered_at"] - worker["started"],
            }
        )
    worst = sorted(worst, key=lambda w: w["lag"], reverse=True)[:5]
    jobs = len(worker["jobs"])
    cpu = worker["cpu_user"] + worker["cpu_sys"]
    return {
        "jobs": jobs,
        "succeeded": succeeded,
        "polls_p50": percentile(polls, 50),
        "polls_p95": percentile(polls, 95),
        "polls_max": max(polls, default=math.nan),
        "polls_mean": sum(polls) / len(polls) if polls else math.nan,
        "share_within_poll_target": sum(p <= TARGET_POLLS for p in polls) / len(polls) if polls else math.nan,
        "polls_histogram": {str(k): v for k, v in sorted(Counter(int(p) for p in polls).items())},
        "lag_p50": percentile(lags, 50),
        "lag_p95": percentile(lags, 95),
        "lag_max": max(lags, default=math.nan),
        "seen_lag_p50": percentile(seen_lags, 50),
        "seen_lag_p95": percentile(seen_lags, 95),
        "fetch_deliver_p50": percentile(fetch_lags, 50),
        "fetch_deliver_p95": percentile(fetch_lags, 95),
        "cpu_seconds": cpu,
        "cpu_user": worker["cpu_user"],
        "cpu_sys": worker["cpu_sys"],
        "cpu_ms_per_job": cpu / jobs * 1000 if jobs else math.nan,
        "maxrss_mb": worker["maxrss_mb"],
        "rss_idle_mb": worker["rss_idle_mb"],
        "submit_seconds": worker["submit_seconds"],
        "run_seconds": worker["run_seconds"],
        "requests": worker["requests"],
        "peak_requests_per_second": worker["peak_requests_per_second"],
        "peak_requests_per_second_after_submit": worker["peak_requests_per_second_after_submit"],
        "route_classes": stats["route_classes"],
        "loop_delay_p99": worker["loop_delay_p99"],
        "loop_delay_max": worker["loop_delay_max"],
        "log_warnings": worker["log_warnings"],
        "worst_lags": worst,
    }


def one_run(args: argparse.Namespace, fmt: str, spacing: float) -> dict[str, Any]:
    """Start a simulator and a worker, run ``args.jobs`` jobs of one format, and return the run's figures."""
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-poller-") as tmp:
        workdir = Path(tmp)
        sim_args: tuple[str, ...] = ("--tick-seconds", str(TICK_SECONDS), "--tick-spacing", str(spacing))
        sim_args += ("--tick-model", args.tick_model, "--task-seconds", str(TASK_SECONDS), "--log-level", "WARNING")
        if args.hints == "off":
            sim_args += ("--no-refresh-hints",)
        with SimProcess(*sim_args, log_path=workdir / "sim.log") as sim:
            sim_cpu = sim.cpu_seconds()
            worker = run_worker(
                "bench.poller",
                [
                    "--base-url",
                    sim.base_url,
                    "--workdir",
                    str(workdir),
                    "--model",
                    MODELS[fmt],
                    "--jobs",
                    str(args.jobs),
                    "--rps",
                    str(args.rps),
                    "--poll-concurrency",
                    str(args.poll_concurrency),
                    "--log-level",
                    args.log_level,
                    "--timeout",
                    str(args.timeout),
                    "--warm-up",
                    str(args.warm_up),
                    *(("--naive",) if args.naive else ()),
                ],
                workdir=workdir,
                timeout=args.timeout + 120,
            )
            sim_cpu = sim.cpu_seconds() - sim_cpu
            stats = sim.get_json("/_sim/stats?tasks=1")
    figures = analyse(worker, stats)
    figures["simulator_cpu_seconds"] = sim_cpu
    figures["settings"] = worker["settings"]
    figures["bot_source"] = worker["bot_source"]
    return figures


COLUMNS = (
    ("ok", "succeeded", "{:.0f}"),
    ("polls p50", "polls_p50", "{:.0f}"),
    ("p95", "polls_p95", "{:.0f}"),
    ("max", "polls_max", "{:.0f}"),
    ("mean", "polls_mean", "{:.2f}"),
    ("<=4", "share_within_poll_target", "{:.0%}"),
    ("lag p50", "lag_p50", "{:.2f}"),
    ("p95", "lag_p95", "{:.2f}"),
    ("max", "lag_max", "{:.2f}"),
    ("seen p95", "seen_lag_p95", "{:.2f}"),
    ("cpu s", "cpu_seconds", "{:.1f}"),
    ("rss MB", "maxrss_mb", "{:.0f}"),
    ("submit s", "submit_seconds", "{:.1f}"),
    ("run s", "run_seconds", "{:.1f}"),
    ("req/s pk", "peak_requests_per_second", "{:.0f}"),
    ("loop max", "loop_delay_max", "{:.2f}"),
)


def format_row(label: str, figures: dict[str, Any]) -> str:
    """One table row."""
    cells = [label.ljust(16)]
    for title, key, fmt in COLUMNS:
        cells.append(fmt.format(figures[key]).rjust(max(len(title), 5)))
    return " ".join(cells)


def header() -> str:
    """The table header."""
    return " ".join(["run".ljust(16), *(title.rjust(max(len(title), 5)) for title, _, _ in COLUMNS)])


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every figure over the runs, plus the min and max of the headline ones."""
    keys = [key for _, key, _ in COLUMNS] + ["cpu_ms_per_job", "seen_lag_p50", "fetch_deliver_p50"]
    keys += ["fetch_deliver_p95", "rss_idle_mb", "simulator_cpu_seconds", "requests", "loop_delay_p99"]
    keys += ["peak_requests_per_second_after_submit", "cpu_user", "cpu_sys"]
    summary: dict[str, Any] = {key: median(run[key] for run in runs) for key in keys}
    for key in ("polls_max", "lag_p95", "lag_max", "maxrss_mb", "cpu_seconds", "polls_mean"):
        summary[f"{key}_range"] = [min(run[key] for run in runs), max(run[key] for run in runs)]
    return summary


def targets(summary: dict[str, Any], target: str) -> dict[str, bool]:
    """Whether the medians meet the issue's targets for ``target`` (a tick model, or "hints")."""
    mean, most, lag = TARGETS[target]
    return {
        f"polls_mean<={mean:g}": summary["polls_mean"] <= mean,
        f"polls_max<={most}": summary["polls_max"] <= most,
        f"lag_p95<={lag:g}s": summary["lag_p95"] <= lag,
        f"maxrss<{TARGET_RSS_MB:g}MB": summary["maxrss_mb"] < TARGET_RSS_MB,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m bench.poller``."""
    args = parse_args(argv)
    if args.worker:
        result = asyncio.run(work(args))
        args.out.write_text(json.dumps(result))
        return
    spacing = args.tick_spacing if args.tick_spacing is not None else TICK_SECONDS / args.jobs
    formats = ("openai", "unified") if args.format == "both" else (args.format,)
    target = "hints" if args.hints == "on" else args.tick_model
    print(
        f"poller benchmark: {args.jobs} jobs x {args.runs} runs per format; simulator tick {TICK_SECONDS:g} s "
        f"({args.tick_model}, hints {args.hints}), spacing {spacing:g} s, tasks {TASK_SECONDS:g} s; "
        f"{'naive: a poll every 3 s; ' if args.naive else ''}{args.warm_up} warm-up jobs; "
        f"engine GATEWAY_REQUESTS_PER_SECOND={args.rps:g}, POLL_CONCURRENCY={args.poll_concurrency}, "
        f"LOG_LEVEL={args.log_level}"
    )
    print("polls: simulator polls per task; lag: delivered - completed (s); seen: first terminal poll - completed")
    report: dict[str, Any] = {
        "benchmark": "poller",
        "command": "python -m bench.poller " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "jobs": args.jobs,
        "runs": args.runs,
        "tick_seconds": TICK_SECONDS,
        "tick_spacing_seconds": spacing,
        "tick_model": args.tick_model,
        "hints": args.hints,
        "naive": args.naive,
        "warm_up_jobs": args.warm_up,
        "targets_of": target,
        "task_seconds": TASK_SECONDS,
        "formats": {},
    }
    print(header(), flush=True)
    for fmt in formats:
        runs: list[dict[str, Any]] = []
        for number in range(1, args.runs + 1):
            figures = one_run(args, fmt, spacing)
            runs.append(figures)
            print(format_row(f"{fmt} #{number}", figures), flush=True)
        summary = summarise(runs)
        print(format_row(f"{fmt} median", summary), flush=True)
        met = targets(summary, target)
        report["formats"][fmt] = {"model": MODELS[fmt], "runs": runs, "median": summary, "targets": met}
    sources = sorted({run["bot_source"] for data in report["formats"].values() for run in data["runs"]})
    report["bot_source"] = sources
    print(f"bot/ source digest: {', '.join(sources)}" + (" (CHANGED during the benchmark)" if len(sources) > 1 else ""))
    for fmt, data in report["formats"].items():
        verdicts = ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in data["targets"].items())
        print(f"{fmt}: {verdicts}")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
