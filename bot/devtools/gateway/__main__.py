"""Command line: ``python -m bot.devtools.gateway --port 8787``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from bot.devtools.gateway.config import DEFAULT_KEY, DEFAULT_MODELS, SimulatorConfig
from bot.devtools.gateway.server import Simulator
from bot.devtools.gateway.tasks import TickModel

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m bot.devtools.gateway", description="Run the gateway simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787, 0 = any)")
    parser.add_argument("--key", default=DEFAULT_KEY, help=f"API key clients must send (default {DEFAULT_KEY})")
    parser.add_argument("--tick-seconds", type=float, default=15.0, help="poller refresh period; 0 = every read")
    parser.add_argument("--tick-spacing", type=float, default=1.0, help="offset between tasks inside a tick")
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
    parser.add_argument("--task-seconds", type=float, default=20.0, help="how long a task runs")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated models served")
    parser.add_argument("--media-dir", default=None, help="where to cache the sample MP4 (default: temp dir)")
    parser.add_argument("--result-video", default=None, help="an MP4 to serve as every result (default: a sample)")
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
    )


async def serve(config: SimulatorConfig) -> None:
    """Run a simulator until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with Simulator(config) as sim:
        log.info(
            "gateway simulator ready: set GATEWAY_BASE_URL=%s and GATEWAY_API_KEY=%s (models: %s)",
            sim.base_url,
            config.key,
            ", ".join(config.models),
        )
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m bot.devtools.gateway``."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config_from_args(args)))


if __name__ == "__main__":
    main()
