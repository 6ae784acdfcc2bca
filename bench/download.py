"""Download benchmark: memory and speed of fetching one 100 MB result.

``python -m bench.download [--runs 5] [--size-mb 100] [--format openai|unified]``

The simulator runs in its own process with instant tasks (``--tick-seconds 0 --task-seconds 0``) and an
``oversize`` fault of ``--size-mb`` MB with ``count: null``, so every result it serves is that big (a valid MP4
padded with a ``free`` box). Each measurement is a fresh worker process: it opens an engine, submits one job and
polls it once (warm-up: the HTTP session, codecs and database are in use, nothing big has been read yet), notes
its peak RSS (``ru_maxrss``), then calls ``bot.gateway.download.download_result`` for the task, as the poller
does, and notes the peak RSS again. A second download in the same process shows whether memory keeps growing.
MB here is 2**20 bytes, as in the fault's size.

Target (from the issue): peak RSS grows by less than 20 MB for a 100 MB result.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    MIB,
    RESULTS_DIR,
    SimProcess,
    current_rss_mb,
    machine,
    median,
    percentile,
    run_worker,
    rusage_self,
    source_digest,
    worker_arguments,
    worker_settings,
    write_json,
)
from bench.poller import LoopProbe
from bot.catalog import Catalog
from bot.domain import NewJob
from bot.engine import open_engine
from bot.gateway import download

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

MODELS = {"openai": "veo-3.1-fast-generate-preview", "unified": "veo3.1-fast"}
TARGET_RSS_INCREASE_MB = 20.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the ``--worker`` options are internal)."""
    parser = argparse.ArgumentParser(prog="python -m bench.download", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements, each in a fresh process (default 5)")
    parser.add_argument("--size-mb", type=int, default=100, help="result size in MB of 2**20 bytes (default 100)")
    parser.add_argument("--format", choices=tuple(MODELS), default="openai", help="wire format (default openai)")
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the results (default bench/results/download*.json)"
    )
    worker_arguments(parser)
    return parser.parse_args(argv)


class FsyncTimer:
    """Wraps os.fsync to time it: the download path calls it on the event loop before renaming the file."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._real = os.fsync

    def __call__(self, fd: FileDescriptorLike) -> None:
        """Call the real fsync and note how long it took."""
        start = time.monotonic()
        self._real(fd)
        self.seconds.append(time.monotonic() - start)


async def work(args: argparse.Namespace) -> dict[str, Any]:
    """The measured side: warm up an engine, then download the same big result twice."""
    settings = worker_settings(args, args.workdir, LOG_LEVEL="INFO")
    bot_source = source_digest()
    fsync = FsyncTimer()
    os.fsync = fsync
    async with open_engine(settings, Catalog.load()) as engine:
        request = engine.jobs.build_request(prompt="benchmark download", model=MODELS[args.format])
        job = await engine.jobs.submit(NewJob(request=request, origin="bench"))
        assert job.task_id is not None, job.error_message
        snapshot = await engine.client.fetch(job.task_id, job.wire_format)
        gc.collect()
        measured: list[dict[str, float]] = []
        for number in (1, 2):
            before = rusage_self()
            rss_before = current_rss_mb()
            probe = LoopProbe(interval=0.01)
            probe_task = asyncio.create_task(probe.run())
            start = time.monotonic()
            size = await download.download_result(
                engine.client,
                engine.session,
                job.task_id,
                job.wire_format,
                snapshot.result_url,
                args.workdir / "results" / f"{job.id}-{number}.mp4",
                engine.result_rules,
            )
            elapsed = time.monotonic() - start
            after = rusage_self()
            probe_task.cancel()
            await asyncio.gather(probe_task, return_exceptions=True)
            measured.append(
                {
                    "bytes": size,
                    "seconds": elapsed,
                    "fsync_seconds": fsync.seconds[-1] if fsync.seconds else 0.0,
                    "maxrss_before_mb": before["maxrss_mb"],
                    "maxrss_after_mb": after["maxrss_mb"],
                    "rss_before_mb": rss_before,
                    "rss_after_mb": current_rss_mb(),
                    "cpu_seconds": after["user"] + after["sys"] - before["user"] - before["sys"],
                    "loop_delay_max": max(probe.delays, default=0.0),
                    "loop_delay_p99": percentile(probe.delays, 99),
                }
            )
    return {
        "model": MODELS[args.format],
        "bot_source": bot_source,
        "result_url": snapshot.result_url,
        "downloads": measured,
    }


def figures(worker: dict[str, Any]) -> dict[str, Any]:
    """One measurement's headline figures."""
    first, second = worker["downloads"]
    return {
        "bytes": first["bytes"],
        "maxrss_before_mb": first["maxrss_before_mb"],
        "maxrss_increase_mb": first["maxrss_after_mb"] - first["maxrss_before_mb"],
        "second_download_maxrss_increase_mb": second["maxrss_after_mb"] - second["maxrss_before_mb"],
        # ru_maxrss only moves once RSS passes its earlier peak: this much could be hidden below that peak.
        "maxrss_headroom_mb": first["maxrss_before_mb"] - first["rss_before_mb"],
        "rss_increase_mb": first["rss_after_mb"] - first["rss_before_mb"],
        "mb_per_second": first["bytes"] / MIB / first["seconds"],
        "seconds": first["seconds"],
        "fsync_seconds": first["fsync_seconds"],
        "cpu_seconds": first["cpu_seconds"],
        "loop_delay_max": first["loop_delay_max"],
        "second_mb_per_second": second["bytes"] / MIB / second["seconds"],
        "log_warnings": worker["log_warnings"],
        "bot_source": worker["bot_source"],
    }


COLUMNS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("MB", "bytes", lambda v: f"{v / MIB:.0f}"),
    ("rss before", "maxrss_before_mb", lambda v: f"{v:.1f}"),
    ("rss +MB", "maxrss_increase_mb", lambda v: f"{v:.1f}"),
    ("2nd +MB", "second_download_maxrss_increase_mb", lambda v: f"{v:.1f}"),
    ("headroom", "maxrss_headroom_mb", lambda v: f"{v:.1f}"),
    ("MB/s", "mb_per_second", lambda v: f"{v:.0f}"),
    ("s", "seconds", lambda v: f"{v:.2f}"),
    ("fsync s", "fsync_seconds", lambda v: f"{v:.2f}"),
    ("cpu s", "cpu_seconds", lambda v: f"{v:.2f}"),
    ("loop max s", "loop_delay_max", lambda v: f"{v:.2f}"),
)


def row(label: str, values: dict[str, Any]) -> str:
    """One table row."""
    return " ".join([label.ljust(10), *(fmt(values[key]).rjust(len(title)) for title, key, fmt in COLUMNS)])


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m bench.download``."""
    args = parse_args(argv)
    if args.worker:
        args.out.write_text(json.dumps(asyncio.run(work(args))))
        return
    size = args.size_mb * MIB
    print(f"download benchmark: {args.runs} fresh processes, one {args.size_mb} MB result each ({args.format})")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-download-") as tmp:
        sim_args = ("--tick-seconds", "0", "--task-seconds", "0", "--log-level", "WARNING")
        with SimProcess(*sim_args, log_path=Path(tmp) / "sim.log") as sim:
            sim.post_json("/_sim/faults", {"kind": "oversize", "size_bytes": size, "count": None})
            print(" ".join(["run".ljust(10), *(title for title, _, _ in COLUMNS)]), flush=True)
            for number in range(1, args.runs + 1):
                with tempfile.TemporaryDirectory(prefix="run-", dir=tmp) as run_dir:
                    worker = run_worker(
                        "bench.download",
                        ["--base-url", sim.base_url, "--workdir", run_dir, "--format", args.format],
                        workdir=Path(run_dir),
                        timeout=600,
                    )
                run = figures(worker)
                runs.append(run)
                print(row(f"#{number}", run), flush=True)
    summary: dict[str, Any] = {key: median(run[key] for run in runs) for _, key, _ in COLUMNS}
    summary["maxrss_increase_mb_range"] = [
        min(r["maxrss_increase_mb"] for r in runs),
        max(r["maxrss_increase_mb"] for r in runs),
    ]
    summary["mb_per_second_range"] = [min(r["mb_per_second"] for r in runs), max(r["mb_per_second"] for r in runs)]
    print(row("median", summary))
    met = summary["maxrss_increase_mb"] < TARGET_RSS_INCREASE_MB
    print(f"target: peak RSS increase < {TARGET_RSS_INCREASE_MB:g} MB {'met' if met else 'MISSED'}")
    sources = sorted({run["bot_source"] for run in runs})
    print(f"bot/ source digest: {', '.join(sources)}" + (" (CHANGED during the benchmark)" if len(sources) > 1 else ""))
    report = {
        "benchmark": "download",
        "bot_source": sources,
        "command": "python -m bench.download " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "size_bytes": size,
        "format": args.format,
        "runs": runs,
        "median": summary,
        "targets": {f"maxrss_increase<{TARGET_RSS_INCREASE_MB:g}MB": met},
    }
    default_json = RESULTS_DIR / ("download.json" if args.format == "openai" else f"download-{args.format}.json")
    write_json(args.json or default_json, report)


if __name__ == "__main__":
    main()
