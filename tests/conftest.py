"""Shared fixtures: a gateway simulator on 127.0.0.1 and an engine wired to it over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator, SimulatorConfig
from bot.engine import Engine, open_engine
from bot.settings import Settings
from tests.helpers import engine_env
from tests.pgcluster import ClusterError, PgCluster


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# Tests run the simulator with instant refreshes and short tasks (and the engine with short intervals: engine_env).
FAST_TASK_SECONDS = 0.3


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster for this test process (one per xdist worker), started on first use.

    Without the server binaries the tests that need it fail, saying what to install: CI must not pass them by.
    """
    cluster = PgCluster()
    try:
        cluster.start()
    except ClusterError as exc:
        cluster.stop()
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
async def pg_url(pg_cluster: PgCluster) -> AsyncIterator[str]:
    """The DATABASE_URL of a new, empty PostgreSQL database of its own for this test, dropped after it."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_cluster.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield pg_cluster.url(name)
    admin = await asyncpg.connect(pg_cluster.url())
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
