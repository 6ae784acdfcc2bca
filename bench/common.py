"""What both benchmarks share: the simulator as a child process, worker processes, and small statistics."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.logs import setup_logging
from bot.settings import Settings
from tests.helpers import free_port, gateway_env

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
SIM_KEY = "sk-sim"
MIB = 1024 * 1024
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14 and stime field 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rusage_self() -> dict[str, float]:
    """CPU seconds (user, system) and peak RSS in MB (ru_maxrss is in KiB on Linux) of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user": usage.ru_utime, "sys": usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024}


def current_rss_mb() -> float:
    """This process's resident set size right now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


class SimProcess:
    """``python -m bot.devtools.gateway`` on a free loopback port, started and stopped with ``with``."""

    def __init__(self, *args: str, log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The root URL to hand the engine as GATEWAY_BASE_URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The simulator's process id."""
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> SimProcess:
        """Start the simulator and wait until its control routes answer."""
        for _ in range(5):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "bot.devtools.gateway", "--port", str(self.port), *self.args],
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready(timeout=60.0):
                return self
            self._stop()
        raise RuntimeError(f"the simulator did not start; see {self.log_path}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the simulator."""
        self._stop()

    def get_json(self, path: str, timeout: float = 60.0) -> Any:
        """GET a simulator route and decode its JSON answer."""
        with urllib.request.urlopen(self.base_url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def post_json(self, path: str, body: object) -> Any:
        """POST JSON to a simulator route and decode its JSON answer."""
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def cpu_seconds(self) -> float:
        """CPU seconds the simulator process has used so far."""
        return process_cpu_seconds(self.pid)

    def _wait_ready(self, timeout: float) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                self.get_json("/_sim/config", timeout=2.0)
            except OSError:
                time.sleep(0.1)
                continue
            return True
        return False

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def run_worker(module: str, args: Sequence[str], *, workdir: Path, timeout: float) -> dict[str, Any]:
    """Run ``python -m MODULE --worker ARGS`` in a fresh process and return the JSON it wrote.

    The worker gets ``--out FILE`` and writes its result there; its stderr (the engine's log) goes to
    ``workdir/worker.log``, whose tail is shown if it fails.
    """
    out = workdir / "worker.json"
    log_path = workdir / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.run(
            [sys.executable, "-m", module, "--worker", "--out", str(out), *args],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    if proc.returncode != 0 or not out.exists():
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        raise RuntimeError(f"{module} worker exited with {proc.returncode}:\n" + "\n".join(tail))
    result: dict[str, Any] = json.loads(out.read_text())
    result["log_warnings"] = count_log_levels(log_path)
    return result


def worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The internal options ``run_worker`` starts a measured process with (``--base-url``: the simulator)."""
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)


def poller_arguments(parser: argparse.ArgumentParser, *, rps: float, concurrency: int, log_level: str) -> None:
    """The poller's options: gateway requests per second, poll concurrency and the engine's log level."""
    parser.add_argument("--rps", type=float, default=rps, help=f"GATEWAY_REQUESTS_PER_SECOND (default {rps:g})")
    parser.add_argument("--poll-concurrency", type=int, default=concurrency, help=f"POLL_CONCURRENCY ({concurrency})")
    parser.add_argument("--log-level", default=log_level, help=f"the engine's LOG_LEVEL (default {log_level})")


def poller_env(args: argparse.Namespace) -> dict[str, str]:
    """The settings the options of ``poller_arguments`` stand for."""
    return {
        "GATEWAY_REQUESTS_PER_SECOND": str(args.rps),
        "POLL_CONCURRENCY": str(args.poll_concurrency),
        "LOG_LEVEL": args.log_level,
    }


def worker_settings(args: argparse.Namespace, workdir: Path, **env: str) -> Settings:
    """A measured process's settings against the simulator at ``--base-url``, its logging set up (the key redacted)."""
    settings = Settings.from_env(gateway_env(args.base_url, SIM_KEY, workdir, **env), need_discord=False)
    setup_logging(settings.log_level_number, settings.secrets)
    return settings


def count_log_levels(log_path: Path) -> dict[str, int]:
    """How many WARNING, ERROR and CRITICAL lines a worker logged (the engine's log format names the level)."""
    counts = {"WARNING": 0, "ERROR": 0, "CRITICAL": 0}
    with log_path.open(errors="replace") as fh:
        for line in fh:
            parts = line.split(maxsplit=3)
            if len(parts) >= 3 and parts[2] in counts:
                counts[parts[2]] += 1
    return counts


def milliseconds(seconds: float | None) -> float:
    """An interaction's answer latency in ms (the fake Discord times every answer it got, so None is a bug)."""
    assert seconds is not None, "the fake Discord recorded an answer without its latency"
    return seconds * 1000


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    """The median, NaN for no values."""
    items = list(values)
    return statistics.median(items) if items else math.nan


def source_digest() -> str:
    """A short hash of the bot's source (``bot/``): the tree has no commits to name, and others edit it meanwhile."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "bot").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".toml", ".sql"):
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def write_json(path: Path, payload: object) -> None:
    """Write ``payload`` as indented JSON, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(f"results written to {path}")
