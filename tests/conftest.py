"""Shared fixtures: a gateway simulator on 127.0.0.1 and an engine wired to it over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
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


class PgDatabases:
    """Fresh databases on the test cluster, each dropped at the end of the test that made it."""

    def __init__(self, cluster: PgCluster) -> None:
        self._cluster = cluster
        self._made: list[str] = []

    async def new(self) -> str:
        """The DATABASE_URL of a new, empty database."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self._made.append(name)
        return self._cluster.url(name)

    async def drop_all(self) -> None:
        """Drop every database made, with whatever is still connected to them."""
        for name in self._made:
            await self._admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        self._made.clear()

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self._cluster.url())
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


@pytest.fixture
async def pg_databases(pg_cluster: PgCluster) -> AsyncIterator[PgDatabases]:
    """Makes PostgreSQL databases for this test (``await pg_databases.new()``), dropped after it."""
    databases = PgDatabases(pg_cluster)
    yield databases
    await databases.drop_all()


@pytest.fixture
async def pg_url(pg_databases: PgDatabases) -> str:
    """The DATABASE_URL of a new, empty PostgreSQL database of its own for this test, dropped after it."""
    return await pg_databases.new()


DatabaseFactory = Callable[[], Awaitable[Path | str]]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database a store test runs on: the test runs once on each."""
    assert isinstance(request.param, str)
    return request.param


@pytest.fixture
def new_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseFactory:
    """Makes a new database on the test's backend: a SQLite file's path, or a PostgreSQL URL."""
    made = 0

    async def sqlite_file() -> Path | str:
        nonlocal made
        made += 1
        return tmp_path / "db" / f"store{made}.sqlite3"

    if backend == "sqlite":
        return sqlite_file
    databases = request.getfixturevalue("pg_databases")
    assert isinstance(databases, PgDatabases)
    return databases.new


@pytest.fixture
async def database_location(new_database: DatabaseFactory) -> Path | str:
    """Where a store test's database is: a SQLite file, then (the same test again) a PostgreSQL database."""
    return await new_database()
