"""Command line: ``python -m bot.devtools.gateway --port 8787``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence

from bot.devtools.gateway.config import DEFAULT_KEY, DEFAULT_MODELS, SimulatorConfig
from bot.devtools.gateway.control import describe_endpoints
from bot.devtools.gateway.injection import FaultKind, FaultSpec, RouteClass
from bot.devtools.gateway.media import LONG_SIDE_PIXELS
from bot.devtools.gateway.server import Simulator
from bot.devtools.gateway.tasks import TickModel

log = logging.getLogger(__name__)


_DEFAULTS = SimulatorConfig()
FAULT_HELP: dict[FaultKind, str] = {
    FaultKind.RATE_LIMIT: "429 with an empty body (retry_after adds Retry-After) on a route class",
    FaultKind.SERVER_ERROR: "a 5xx (status, default 502; an HTML proxy page for 502/503) on a route class",
    FaultKind.HTML_PAGE: "the 200 HTML dashboard instead of the API on a route class",
    FaultKind.DELAY: "hold requests of a route class for `seconds` before answering",
    FaultKind.RAW_BODY: "answer a route class with `body` as given (status, content_type, chunk_bytes)",
    FaultKind.FAIL_TASK: "the next created tasks end failed (message, code, at_fraction of their run)",
    FaultKind.POLICY_REFUSAL: "refuse the next creates with the provider's moderation error",
    FaultKind.BALANCE_EXHAUSTED: "refuse the next creates with 403 insufficient_user_quota",
    FaultKind.LOSE_TASK: "the next created tasks answer task_not_exist after `after_polls` polls",
    FaultKind.NO_VIDEO: "the next created tasks finish completed with no video",
    FaultKind.EXPIRED_LINK: "the next downloads fail as an expired signed link",
    FaultKind.JSON_URL: 'the next content requests answer {"url": ...} instead of the bytes',
    FaultKind.OVERSIZE: "pad the next downloaded videos to `size_bytes` (still valid MP4s)",
    FaultKind.CUT_DOWNLOAD: "close the next downloads after `after_bytes`, with the full Content-Length announced",
}


def _epilog() -> str:
    kinds = "\n".join(f"  {kind:<18} {FAULT_HELP[kind]}" for kind in FaultKind)
    return f"""\
results:
  a real H.264 MP4 (made once per shape and length with imageio-ffmpeg's ffmpeg, then cached) in the aspect
  the request asked for (16:9, 9:16, 1:1 ... as the provider's adaptor reads it; {LONG_SIDE_PIXELS} pixels on the
  long side) and as many seconds long as the request's duration; --result-video serves one file instead.
  Prompts with {_DEFAULTS.fail_prompt_marker} fail, {_DEFAULTS.moderation_prompt_marker} are moderated at the \
first refresh, {_DEFAULTS.policy_prompt_marker} are refused at create.

fault kinds (--fault KIND or --fault JSON; the same JSON goes to POST /_sim/faults; route classes:
{", ".join(RouteClass)}; "count" is how many times it fires, default 1, null until cleared):
{kinds}
"""


def _fault(text: str) -> FaultSpec:
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else {"kind": text, "count": None}
        if not isinstance(data, dict):
            raise ValueError("a fault is a kind name or a JSON object")
        return FaultSpec.from_json(data)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.devtools.gateway",
        description="Run the gateway simulator: both wire formats, the gateway's validation and error shapes, "
        "its refresh tick, and real MP4 results.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=_DEFAULTS.host, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default %(default)s, 0 = any)")
    parser.add_argument("--key", default=DEFAULT_KEY, help="API key clients must send (default %(default)s)")
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=_DEFAULTS.tick_seconds,
        help="the gateway's refresh period: task states change only at refreshes (default %(default)s; 0 = every read)",
    )
    parser.add_argument(
        "--tick-spacing",
        type=float,
        default=_DEFAULTS.tick_spacing_seconds,
        help="offset between tasks inside a tick (default %(default)s)",
    )
    parser.add_argument(
        "--tick-model",
        choices=[str(model) for model in TickModel],
        default=str(TickModel.SPACED),
        help="spaced (default): tasks --tick-spacing apart within each tick; global: all at once; drifting: "
        "new-api's loop, each pass --tick-seconds after the previous one ended, --tick-spacing per unfinished task",
    )
    parser.add_argument(
        "--no-refresh-hints",
        action="store_true",
        help="leave out a running task's change time (completed_at, status_update_time)",
    )
    parser.add_argument(
        "--task-seconds",
        type=float,
        default=_DEFAULTS.task_seconds,
        help="how long a task runs before it is done (default %(default)s)",
    )
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated models served")
    parser.add_argument("--media-dir", default=None, help="where to cache the sample MP4s (default: a temp dir)")
    parser.add_argument("--result-video", default=None, help="an MP4 to serve as every result (default: samples)")
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND_OR_JSON",
        help="arm a fault from the start (a bare kind fires until cleared); repeatable; kinds below",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the simulator config from parsed arguments."""
    models = tuple(model.strip() for model in str(args.models).split(",") if model.strip())
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        key=args.key,
        models=models,
        tick_seconds=args.tick_seconds,
        tick_spacing_seconds=args.tick_spacing,
        tick_model=TickModel(args.tick_model),
        refresh_hints=not args.no_refresh_hints,
        task_seconds=args.task_seconds,
        media_dir=args.media_dir,
        result_video=args.result_video,
        faults=tuple(args.fault),
    )


async def serve(config: SimulatorConfig) -> None:
    """Run a simulator until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with Simulator(config) as sim:
        sys.stdout.write("\n".join(banner(sim)) + "\n")
        sys.stdout.flush()
        await stop.wait()


def banner(sim: Simulator) -> list[str]:
    """What the simulator says at start: how to point the bot at it, its timing, and its control endpoints."""
    config = sim.config
    tick = f"refreshes every {config.tick_seconds:g} s" if config.tick_seconds else "refreshes on every read"
    return [
        f"Gateway simulator on {sim.base_url}: set GATEWAY_BASE_URL={sim.base_url} GATEWAY_API_KEY={config.key}",
        f"  tasks take {config.task_seconds:g} s, {tick}; models: {', '.join(config.models)}",
        *(f"  fault armed: {spec.kind} (count {spec.count})" for spec in config.faults),
        "Control endpoints (no auth; `--help` lists the fault kinds):",
        *describe_endpoints(sim.base_url),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m bot.devtools.gateway``."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config_from_args(args)))


if __name__ == "__main__":
    main()
