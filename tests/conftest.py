"""Shared fixtures: a gateway simulator on 127.0.0.1 and an engine wired to it over real HTTP."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator, SimulatorConfig
from bot.domain import Job
from bot.engine import Engine, open_engine
from bot.services.poller import Poller
from bot.settings import Settings


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def body_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test's body failed (for fixtures that show logs only then)."""
    report = getattr(request.node, "report_call", None)
    return report is not None and report.failed


# Tests run the simulator with instant refreshes and short tasks, and the engine with short intervals.
FAST_TASK_SECONDS = 0.3


def engine_env(sim: Simulator, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Environment variables for an engine pointed at ``sim``, with its files under ``tmp_path``."""
    env = {
        "GATEWAY_BASE_URL": sim.base_url,
        "GATEWAY_API_KEY": sim.key,
        "DATABASE_PATH": str(tmp_path / "reelbot.sqlite3"),
        "RESULTS_DIR": str(tmp_path / "results"),
        "POLL_INTERVAL_MIN_SECONDS": "0.1",
        "POLL_INTERVAL_MAX_SECONDS": "0.3",
        "GATEWAY_REFRESH_SECONDS": "0",
        "JOB_LEASE_SECONDS": "2",
        "COOLDOWN_SECONDS": "0",  # tests that exercise limits set their own
        "LOG_LEVEL": "DEBUG",
    }
    env.update(overrides)
    return env


@pytest.fixture
async def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Simulator]:
    """A simulator whose tasks refresh on every read and finish almost at once.

    ``@pytest.mark.sim(task_seconds=N)`` makes a test's tasks run longer.
    """
    marker = request.node.get_closest_marker("sim")
    task_seconds = marker.kwargs.get("task_seconds", FAST_TASK_SECONDS) if marker else FAST_TASK_SECONDS
    media = tmp_path_factory.getbasetemp() / "sim-media"
    config = SimulatorConfig(tick_seconds=0, task_seconds=task_seconds, media_dir=str(media))
    async with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
def settings(sim: Simulator, tmp_path: Path) -> Settings:
    """Settings for an engine pointed at the ``sim`` fixture."""
    return Settings.from_env(engine_env(sim, tmp_path), need_discord=False)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    """An engine over the ``settings`` fixture."""
    async with open_engine(settings, Catalog.load()) as opened:
        yield opened


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 30.0) -> None:
    """Wait until ``check()`` holds, for state another process changes (files, its HTTP answers): no event to await."""
    async with asyncio.timeout(within):
        while not await _holds(check):  # noqa: ASYNC110 - the change happens in another process
            await asyncio.sleep(0.05)


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = check()
    return await result if inspect.isawaitable(result) else result


class Deliveries:
    """Records what a poller delivers, so tests can wait for a job to arrive."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._changed = asyncio.Condition()

    async def __call__(self, job: Job) -> int | None:
        async with self._changed:
            self.jobs.append(job)
            self._changed.notify_all()
        return None

    def of(self, job_id: str) -> list[Job]:
        """Every delivery of one job."""
        return [j for j in self.jobs if j.id == job_id]

    async def wait_for(self, job_id: str, within: float = 30.0) -> Job:
        """The first delivery of ``job_id``, waiting up to ``within`` seconds."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: bool(self.of(job_id)))
        return self.of(job_id)[0]


async def run_until(poller: Poller, done: Awaitable[Job]) -> Job:
    """Run a poller's loop until ``done`` resolves, let its work in hand finish, then stop it."""
    task = asyncio.create_task(poller.run())
    try:
        result = await done
        await poller.drain(grace=30)
        return result
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
