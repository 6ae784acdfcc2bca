"""Scale-out benchmark: N jobs in flight over P processes on one PostgreSQL database, against the simulator.

``python -m bench.scale [--jobs 10000] [--processes 4] [--baseline 1] [--timeout 1800]``

One run per process count (``--processes``, then ``--baseline`` for comparison unless 0): a throwaway PostgreSQL
cluster (tests/pgcluster.py) with a fresh database, the simulator (``python -m bot.devtools.gateway``, the real
gateway's 15 s refresh tick spread over the tasks, and 120 s tasks), and P processes, each opening an engine on
that database (``DATABASE_URL``; the migrations under their advisory lock) and running the poller a worker runs.
Once every process is ready, each submits its share of the jobs at once; every poller then claims due polls and
deliveries from the shared database (``FOR UPDATE SKIP LOCKED``), whoever submitted the job. A process reports each
delivery on its stdout; the parent counts them per job until every job is delivered, waits ``--settle`` seconds
for late duplicates, and stops the processes.

Figures: jobs delivered exactly once, more than once, never; simulator polls per job (mean, max), against the
baseline's; database round trips per job (every statement a process sent, BEGIN and COMMIT included, from the
first submit to the end, summed over the processes); peak RSS per process; CPU seconds per process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import asyncpg

from bench.common import (
    REPO_ROOT,
    RESULTS_DIR,
    SimProcess,
    count_log_levels,
    machine,
    poller_arguments,
    poller_env,
    rusage_self,
    source_digest,
    worker_arguments,
    worker_settings,
    write_json,
)
from bot.catalog import Catalog
from bot.domain import Job, NewJob
from bot.engine import open_engine
from tests.pgcluster import PgCluster

MODEL = "veo-3.1-fast-generate-preview"
TICK_SECONDS = 15.0
# Longer than the real gateway's 20 s: submitting 10,000 jobs takes longer than that on a 2-core machine, and every
# job must still be running when the last is submitted, so that all are in flight together.
TASK_SECONDS = 120.0
DEFAULT_RPS = 1000.0  # per process: the engine's limiter must not be what limits the run
DEFAULT_POLL_CONCURRENCY = 16
READY_TIMEOUT_SECONDS = 120.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the ``--worker`` options are internal)."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in flight at once (default 10000)")
    parser.add_argument("--processes", type=int, default=4, help="processes sharing the database (default 4)")
    parser.add_argument("--baseline", type=int, default=1, help="processes of the comparison run (default 1; 0: none)")
    poller_arguments(parser, rps=DEFAULT_RPS, concurrency=DEFAULT_POLL_CONCURRENCY, log_level="WARNING")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait for duplicates after the last")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give a run up after this many seconds")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "scale.json", help="where to write the results")
    worker_arguments(parser)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def _line(reader: asyncio.StreamReader) -> str:
    return (await reader.readline()).decode().strip()


async def work(args: argparse.Namespace) -> dict[str, Any]:
    """One process: an engine on the shared database, its poller, and its share of the jobs."""
    settings = worker_settings(
        args, args.workdir / f"process-{args.index}", **poller_env(args), DATABASE_URL=args.database_url
    )
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    delivered: list[str] = []

    async def deliver(job: Job) -> int | None:
        delivered.append(job.id)
        sys.stdout.write(f"delivered {job.id}\n")
        sys.stdout.flush()
        return None

    async with open_engine(settings, Catalog.load()) as engine:
        db = engine.store._db  # the shared Database: only its statement counter is read
        poller = engine.poller(origin="bench", deliver=deliver)
        requests = [engine.jobs.build_request(prompt=f"job {args.index}-{i}", model=MODEL) for i in range(args.jobs)]
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        if await _line(stdin) != "go":
            raise SystemExit("the benchmark stopped before it started")
        trips = db.round_trips
        before = rusage_self()
        started = time.monotonic()
        poller_task = asyncio.create_task(poller.run())
        jobs = await asyncio.gather(*(engine.jobs.submit(NewJob(request=r, origin="bench")) for r in requests))
        submitted = time.monotonic()
        await _line(stdin)  # "stop", or the end of the pipe
        poller_task.cancel()
        await asyncio.gather(poller_task, return_exceptions=True)
        after = rusage_self()
        return {
            "index": args.index,
            "submitted": [job.task_id for job in jobs],
            "delivered": delivered,
            "submit_seconds": submitted - started,
            "round_trips": db.round_trips - trips,
            "cpu_seconds": after["user"] + after["sys"] - before["user"] - before["sys"],
            "maxrss_mb": after["maxrss_mb"],
        }


class Process:
    """One benchmark process, its stdout read on a thread: "ready", then one "delivered ID" line per delivery."""

    def __init__(self, argv: list[str], log: IO[bytes], deliveries: Counter[str], lock: threading.Lock) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        self.ready = threading.Event()
        self._deliveries = deliveries
        self._lock = lock
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                self.ready.set()
            elif line.startswith("delivered "):
                with self._lock:
                    self._deliveries[line.split()[1]] += 1

    def say(self, line: str) -> None:
        """Send a line to the process (it waits for "go", then for "stop")."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


async def _create_database(cluster: PgCluster) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(cluster.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return cluster.url(name)


def one_run(args: argparse.Namespace, processes: int) -> dict[str, Any]:
    """A fresh database and simulator, ``processes`` processes sharing ``args.jobs`` jobs; the run's figures."""
    shares = [args.jobs // processes + (1 if i < args.jobs % processes else 0) for i in range(processes)]
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-scale-") as tmp:
        workdir = Path(tmp)
        cluster = PgCluster()
        cluster.start()
        try:
            url = asyncio.run(_create_database(cluster))
            sim_args = (
                *("--tick-seconds", str(TICK_SECONDS), "--tick-spacing", str(TICK_SECONDS / args.jobs)),
                *("--tick-model", "spaced", "--task-seconds", str(TASK_SECONDS), "--log-level", "WARNING"),
            )
            with SimProcess(*sim_args, log_path=workdir / "sim.log") as sim:
                deliveries: Counter[str] = Counter()
                lock = threading.Lock()
                logs = [(workdir / f"process-{i}.log").open("wb") for i in range(processes)]
                procs = [
                    Process(
                        [
                            *(sys.executable, "-m", "bench.scale", "--worker"),
                            *("--out", str(workdir / f"process-{i}.json"), "--workdir", str(workdir)),
                            *("--base-url", sim.base_url, "--database-url", url),
                            *("--index", str(i), "--jobs", str(share), "--rps", str(args.rps)),
                            *("--poll-concurrency", str(args.poll_concurrency), "--log-level", args.log_level),
                        ],
                        logs[i],
                        deliveries,
                        lock,
                    )
                    for i, share in enumerate(shares)
                ]
                try:
                    for proc in procs:
                        if not proc.ready.wait(READY_TIMEOUT_SECONDS):
                            raise RuntimeError(f"a process did not get ready; see {workdir}/process-*.log")
                    started = time.monotonic()
                    for proc in procs:
                        proc.say("go")
                    deadline = started + args.timeout
                    while len(deliveries) < args.jobs and time.monotonic() < deadline:
                        if any(proc.proc.poll() is not None for proc in procs):
                            raise RuntimeError(f"a process ended early; see {workdir}/process-*.log")
                        time.sleep(0.5)
                    all_delivered = time.monotonic() - started
                    time.sleep(args.settle)
                    for proc in procs:
                        proc.say("stop")
                    for proc in procs:
                        proc.proc.wait(timeout=120)
                finally:
                    for proc in procs:
                        if proc.proc.poll() is None:
                            proc.proc.kill()
                    for log in logs:
                        log.close()
                stats = sim.get_json("/_sim/stats?tasks=1", timeout=300)
            results = [json.loads((workdir / f"process-{i}.json").read_text()) for i in range(processes)]
            warnings = [count_log_levels(workdir / f"process-{i}.log") for i in range(processes)]
        finally:
            cluster.stop()
    return analyse(args.jobs, results, stats, dict(deliveries), all_delivered, warnings)


def analyse(
    jobs: int,
    results: list[dict[str, Any]],
    stats: dict[str, Any],
    deliveries: dict[str, int],
    all_delivered: float,
    warnings: list[dict[str, int]],
) -> dict[str, Any]:
    """One run's figures."""
    submitted = {task_id for result in results for task_id in result["submitted"] if task_id}
    polls = [task["polls"] for task in stats["task_stats"] if task["task_id"] in submitted]
    once = sum(1 for count in deliveries.values() if count == 1)
    trips = sum(result["round_trips"] for result in results)
    return {
        "processes": len(results),
        "jobs": jobs,
        "submitted": len(submitted),
        "delivered_once": once,
        "delivered_twice_or_more": sum(1 for count in deliveries.values() if count > 1),
        "never_delivered": jobs - len(deliveries),
        "polls_mean": sum(polls) / len(polls) if polls else float("nan"),
        "polls_max": max(polls, default=0),
        "round_trips": trips,
        "round_trips_per_job": trips / jobs,
        "deliveries_per_process": [len(result["delivered"]) for result in results],
        "maxrss_mb_per_process": [result["maxrss_mb"] for result in results],
        "cpu_seconds_per_process": [result["cpu_seconds"] for result in results],
        "submit_seconds_per_process": [result["submit_seconds"] for result in results],
        "seconds_to_all_delivered": all_delivered,
        "log_warnings_per_process": warnings,
    }


def show(figures: dict[str, Any]) -> str:
    """One run as two lines."""
    rss = ", ".join(f"{mb:.0f}" for mb in figures["maxrss_mb_per_process"])
    cpu = ", ".join(f"{s:.0f}" for s in figures["cpu_seconds_per_process"])
    per = ", ".join(str(n) for n in figures["deliveries_per_process"])
    submit = max(figures["submit_seconds_per_process"])
    return (
        f"{figures['processes']} process(es): {figures['jobs']} jobs, delivered once {figures['delivered_once']}, "
        f"more than once {figures['delivered_twice_or_more']}, never {figures['never_delivered']}; "
        f"polls/job mean {figures['polls_mean']:.2f} max {figures['polls_max']}; "
        f"round trips/job {figures['round_trips_per_job']:.1f}; all delivered after "
        f"{figures['seconds_to_all_delivered']:.0f} s (the submits took up to {submit:.0f} s)\n"
        f"  deliveries per process [{per}]; peak RSS MB [{rss}]; CPU s [{cpu}]"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m bench.scale``."""
    args = parse_args(argv)
    if args.worker:
        result = asyncio.run(work(args))
        args.out.write_text(json.dumps(result))
        return
    print(
        f"scale benchmark: {args.jobs} jobs over {args.processes} processes on one PostgreSQL database"
        + (f", against {args.baseline}" if args.baseline else "")
        + f"; simulator tick {TICK_SECONDS:g} s (spaced), tasks {TASK_SECONDS:g} s",
        flush=True,
    )
    report: dict[str, Any] = {
        "benchmark": "scale",
        "command": "python -m bench.scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "bot_source": source_digest(),
        "runs": [],
    }
    for processes in [args.processes, *([args.baseline] if args.baseline else [])]:
        figures = one_run(args, processes)
        report["runs"].append(figures)
        print(show(figures), flush=True)
    write_json(args.json, report)


if __name__ == "__main__":
    main()
