"""`Simulator`: start and stop one simulated gateway, and reach its faults, stats and tasks from Python."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from types import TracebackType

from aiohttp import web

from bot.devtools.gateway.app import build_app
from bot.devtools.gateway.clock import Clock, Sleep, real_sleep
from bot.devtools.gateway.config import SimulatorConfig
from bot.devtools.gateway.injection import Faults
from bot.devtools.gateway.media import sample_video
from bot.devtools.gateway.state import SimState
from bot.devtools.gateway.stats import Stats, TaskStats
from bot.devtools.gateway.tasks import Schedule, TaskRegistry

log = logging.getLogger(__name__)


class Simulator:
    """A running fake gateway; use `async with Simulator(config) as sim:` and point a client at `sim.base_url`."""

    def __init__(
        self, config: SimulatorConfig | None = None, *, clock: Clock | None = None, sleep: Sleep | None = None
    ) -> None:
        """Prepare a simulator; `clock` (default `time.monotonic`) drives refreshes, `sleep` serves delay faults."""
        self.config = config or SimulatorConfig()
        self.clock: Clock = clock or time.monotonic
        schedule = Schedule(self.clock(), self.config.tick_seconds, self.config.tick_spacing_seconds)
        self.tasks = TaskRegistry(schedule, self.clock)
        self.faults = Faults(self.config.faults)
        self.stats = Stats()
        self.state = SimState(
            self.config, self.tasks, self.faults, self.stats, sleep or real_sleep, list(self.config.models)
        )
        self.app = build_app(self.state)
        self._runner: web.AppRunner | None = None
        self.port = self.config.port

    @property
    def base_url(self) -> str:
        """Return the root URL to use as GATEWAY_BASE_URL (no `/v1`)."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def key(self) -> str:
        """Return the API key clients must send."""
        return self.config.key

    async def start(self) -> None:
        """Make the sample video, then listen on the configured host and port (0 = any free port)."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        await asyncio.to_thread(sample_video, self.config.media_dir)
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("gateway simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await runner.cleanup()
        log.info("gateway simulator on %s stopped", self.base_url)

    async def __aenter__(self) -> Simulator:
        """Start the simulator."""
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the simulator."""
        await self.stop()

    def now(self) -> float:
        """Return the simulator clock."""
        return self.clock()

    def task_stats(self, task_id: str) -> TaskStats | None:
        """Return one task's polls, downloads and completion times, or None for an unknown id."""
        task = self.tasks.get(task_id)
        return None if task is None else TaskStats.of(self.tasks, task)

    def all_task_stats(self) -> list[TaskStats]:
        """Return the stats of every task in creation order."""
        return [TaskStats.of(self.tasks, task) for task in self.tasks]

    def serve_models(self, models: Sequence[str]) -> None:
        """Change which models the gateway's channels serve (GET /v1/models and creates), as an operator would."""
        self.state.models[:] = list(models)

    def lose_task(self, task_id: str) -> bool:
        """Make a task answer `task_not_exist` from now on; return whether it existed."""
        return self.tasks.lose(task_id)
