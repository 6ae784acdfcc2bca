"""Shared fixtures: a gateway simulator on 127.0.0.1 and an engine wired to it over real HTTP."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import asyncpg
import discord
import pytest
import yarl

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator, SimulatorConfig
from bot.engine import Engine, open_engine
from bot.settings import Settings
from tests.botproc import BotProcess, private_text, start_bot
from tests.fakediscord import FakeDiscord
from tests.helpers import body_failed, engine_env
from tests.pgcluster import ClusterError, PgCluster
from tests.s3server import moto_server


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

    ``@pytest.mark.sim(task_seconds=N)`` makes a test's tasks run longer; ``model_task_seconds={MODEL: N}`` those of
    one model only.
    """
    marker = request.node.get_closest_marker("sim")
    options = marker.kwargs if marker else {}
    media = tmp_path_factory.getbasetemp() / "sim-media"
    config = SimulatorConfig(
        tick_seconds=0,
        task_seconds=options.get("task_seconds", FAST_TASK_SECONDS),
        model_task_seconds=options.get("model_task_seconds", {}),
        media_dir=str(media),
    )
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


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeDiscord]:
    """A fake Discord: one guild with #general, the guild's owner and a member.

    ``@pytest.mark.fake(channels=[NAME, ...], preferred_locale=LOCALE, **options)`` adds text channels to the (first)
    guild, sets its preferred locale, and passes the options (``token``, ``guilds``, ``recommended_shards``, ...) to
    ``FakeDiscord``.
    """
    marker = request.node.get_closest_marker("fake")
    options = dict(marker.kwargs) if marker else {}
    channels = options.pop("channels", ())
    locale = options.pop("preferred_locale", None)
    async with FakeDiscord(**options) as discord_fake:
        for name in channels:
            discord_fake.create_channel(discord_fake.guild.id, name)
        if locale is not None:
            discord_fake.guild.preferred_locale = locale
        yield discord_fake


@pytest.fixture
def discord_targets(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py (its process-global Route.BASE and DEFAULT_GATEWAY) at the fake; restore them after."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.rest_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
def bot_settings(request: pytest.FixtureRequest, fake: FakeDiscord) -> dict[str, str]:
    """The settings the ``bot`` fixture adds to ``bot_env``'s: the keyword arguments of the test's ``bot`` mark.

    ``@pytest.mark.bot(owner=True)`` makes the fake's guild owner one of the bot's owners (OWNER_IDS). A module
    whose settings depend on other fixtures overrides this fixture.
    """
    marker = request.node.get_closest_marker("bot")
    settings = {key: value for key, value in (marker.kwargs if marker else {}).items() if key != "log_channel"}
    if settings.pop("owner", False):
        settings["OWNER_IDS"] = str(fake.owner_user.id)
    return settings


@pytest.fixture
async def bot(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, bot_settings: dict[str, str], request: pytest.FixtureRequest
) -> AsyncIterator[BotProcess]:
    """The bot process against the fakes, ready for commands; its log is shown if the test fails.

    ``@pytest.mark.bot(log_channel=NAME)`` has the owner make the channel of that name the audit log first.
    """
    marker = request.node.get_closest_marker("bot")
    log_channel = marker.kwargs.get("log_channel") if marker else None
    proc = await start_bot(fake, sim, tmp_path, **bot_settings)
    async with proc:
        if log_channel is not None:
            rec = await fake.invoke_slash(
                name="video-admin",
                subcommand="server log-channel",
                options={"channel": fake.channel(name=log_channel).id},
                user_id=fake.owner_user.id,
            )
            await private_text(fake, rec, "audit log goes to")  # stored before the test starts
        yield proc
        if body_failed(request):
            sys.stderr.write(f"--- bot log ---\n{proc.output()[-20000:]}\n")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 API (moto's server) on loopback, one per test worker; each test makes its own bucket."""
    with moto_server(tmp_path_factory.getbasetemp()) as url:
        yield url


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
