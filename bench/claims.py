"""Claim throughput on one PostgreSQL database: claims per second with 1, 2 and 4 processes.

    python -m bench.claims [--jobs 20000] [--batch 16] [--processes 1,2,4] [--runs 3] [--url postgresql://...]

Without --url a throwaway cluster is started (tests/pgcluster.py: as the postgres user when run as root). Each
run marks every job due again, starts the processes (separate OS processes, each with its own pool of one
connection), releases them together, and each claims batches through JobStore.claim_due, as the poller does,
until nothing is due. Reported: claims per second over the whole run and per core, statements (round trips) per
claim, claims per CPU-second (the claimers' and their server backends' CPU time: flat as processes are added when
nothing waits on a lock), and a check that no job was claimed twice. SKIP LOCKED claims must not wait on each
other's rows.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

import asyncpg

from bot.domain import GenerationRequest, NewJob, Orientation, WireFormat
from bot.services import lifecycle
from bot.storage import JobStore, job_rows, queries
from bot.storage.postgres import PostgresDatabase, translate
from tests.pgcluster import PgCluster

LEASE = 90.0
DUE = 1_000.0


@dataclass(frozen=True)
class Outcome:
    """One claiming process's run: what it claimed, the CPU it and its server backend used, its statements."""

    claimed: list[str]
    cpu_seconds: float
    round_trips: int


async def _fill(url: str, jobs: int) -> None:
    """Store ``jobs`` jobs (through the store's own INSERT, in one transaction)."""
    await (await PostgresDatabase.open(url, max_size=1)).close()  # the schema
    request = GenerationRequest(prompt="bench", model="sora-2", orientation=Orientation.PORTRAIT, duration=4)
    new = NewJob(request=request, origin="discord", requester_id=1, guild_id=2, channel_id=3)
    template = lifecycle.created(new, WireFormat.OPENAI, DUE, DUE)
    rows = []
    for n in range(jobs):
        values = {name: job_rows.to_value(getattr(template, name)) for name in job_rows.COLUMNS}
        values["id"] = f"b{n:07d}"
        rows.append(tuple(values[name] for name in job_rows.COLUMNS))
    numbered, _ = translate(queries.INSERT_JOB)
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(numbered, rows)
    finally:
        await conn.close()


async def _make_due(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE jobs SET next_poll_at = $1", DUE)
        await conn.execute("VACUUM ANALYZE jobs")
    finally:
        await conn.close()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process on this machine (its server backend too: the bench runs as root or
    as the server's user)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _claimer(url: str, batch: int, holder: str, start: Event) -> Outcome:
    db = await PostgresDatabase.open(url, max_size=1)  # one connection: one server backend to measure
    store = JobStore(db, lambda: DUE)
    try:
        lease = functools.partial(lifecycle.lease_poll, until=DUE + LEASE, holder=holder)
        backend = int(await db.scalar("SELECT pg_backend_pid()"))
        start.wait()
        trips = store.round_trips
        cpu = _cpu_seconds(os.getpid()) + _cpu_seconds(backend)
        claimed: list[str] = []
        while taken := await store.claim_due("discord", DUE, batch, lease):
            claimed.extend(job.id for job in taken)
        cpu = _cpu_seconds(os.getpid()) + _cpu_seconds(backend) - cpu
        return Outcome(claimed, cpu, store.round_trips - trips)
    finally:
        await db.close()


def _worker(url: str, batch: int, holder: str, start: Event, results: multiprocessing.Queue[Outcome]) -> None:
    results.put(asyncio.run(_claimer(url, batch, holder, start)))


def _run(url: str, processes: int, batch: int) -> dict[str, float]:
    asyncio.run(_make_due(url))
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results: multiprocessing.Queue[Outcome] = context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, batch, f"bench:{n}", start, results)) for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(2.0)  # every worker connected and waiting (a benchmark, not a test: no assertion waits on this)
    began = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in workers]
    wall = time.perf_counter() - began
    for worker in workers:
        worker.join()
    ids = [job_id for outcome in outcomes for job_id in outcome.claimed]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"FAILED: {len(ids) - len(set(ids))} jobs claimed twice")
    return {
        "per_second": len(ids) / wall,
        "per_cpu_second": len(ids) / sum(outcome.cpu_seconds for outcome in outcomes),
        "trips_per_claim": sum(outcome.round_trips for outcome in outcomes) / len(ids),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=16, help="claims per statement (POLL_CONCURRENCY's default)")
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throwaway cluster)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    cluster = None
    url = args.url
    if url is None:
        cluster = PgCluster()
        cluster.start()
        asyncio.run(_create(cluster))
        url = cluster.url("bench")
    try:
        asyncio.run(_fill(url, args.jobs))
        print(f"{args.jobs} due jobs, batches of {args.batch}, {cores} cores, medians of {args.runs} runs")
        print("processes  claims/s  claims/s per core  claims per CPU-second  round trips/claim  load (1 min)")
        for processes in (int(p) for p in args.processes.split(",")):
            runs = [_run(url, processes, args.batch) for _ in range(args.runs)]
            rate, per_cpu, trips, load = (
                statistics.median(run[key] for run in runs)
                for key in ("per_second", "per_cpu_second", "trips_per_claim", "load")
            )
            print(
                f"{processes:>9}  {rate:>8.0f}  {rate / cores:>17.0f}  {per_cpu:>21.0f}  {trips:>17.3f}  {load:>12.1f}"
            )
        print("no job was claimed twice")
    finally:
        if cluster is not None:
            cluster.stop()


async def _create(cluster: PgCluster) -> None:
    conn = await asyncpg.connect(cluster.url())
    try:
        await conn.execute("CREATE DATABASE bench")
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
