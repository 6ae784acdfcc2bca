"""The shared gateway clock end to end: what the first jobs' polls teach it places a new job's first poll."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import ManualClock, Simulator, SimulatorConfig
from bot.devtools.gateway.tasks import TickModel
from bot.domain import Job, JobStatus, NewJob
from bot.engine import Engine, open_engine
from bot.services.phase import GatewayClock, RefreshWindow
from bot.services.poller import Poller
from bot.settings import Settings
from tests.helpers import Deliveries, engine_env

MODEL = "veo-3.1-fast-generate-preview"
TICK = 15.0


@asynccontextmanager
async def global_gateway(tmp_path: Path, media: Path, clock: ManualClock) -> AsyncIterator[tuple[Simulator, Engine]]:
    """A simulator refreshing every task at 1000 + 15k (no change times shown), and an engine on its clock.

    The tasks run long enough to keep being refreshed while the engine's gateway clock learns.
    """
    config = SimulatorConfig(
        tick_seconds=TICK, tick_model=TickModel.GLOBAL, task_seconds=120.0, refresh_hints=False, media_dir=str(media)
    )
    async with (
        Simulator(config, clock=clock) as sim,
        open_engine(settings_for(sim, tmp_path), Catalog.load(), clock=engine_clock(sim, clock)) as engine,
    ):
        yield sim, engine


def settings_for(sim: Simulator, tmp_path: Path) -> Settings:
    """An engine's settings for ``sim``, refreshing every 15 s, with its database under ``tmp_path``."""
    env = engine_env(
        sim,
        tmp_path,
        GATEWAY_REFRESH_SECONDS=str(TICK),
        POLL_INTERVAL_MIN_SECONDS="5",
        POLL_INTERVAL_MAX_SECONDS="30",
        JOB_LEASE_SECONDS="90",
    )
    return Settings.from_env(env, need_discord=False)


def engine_clock(sim: Simulator, clock: ManualClock) -> Callable[[], float]:
    """The engine's clock: the simulator's wall time on ``clock``."""
    return lambda: sim.tasks.wall(clock())


async def submit(engine: Engine) -> Job:
    return await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="a cow", model=MODEL)))


async def poll_until_settled(
    engine: Engine, poller: Poller, clock: ManualClock, sim: Simulator, jobs: list[Job]
) -> None:
    """Poll each job at the time it asks for, in time order, until the engine's gateway clock trusts a phase."""
    shared = engine.policy.timing.shared
    assert shared is not None
    for _ in range(40):
        stored = [await engine.store.get(job.id) for job in jobs]
        due = min(job.next_poll_at for job in stored if job is not None and job.next_poll_at is not None)
        clock.set(max(clock(), due - sim.tasks.wall(0.0)))
        await poller.poll_once()
        if shared.estimate.shared_phase(sim.tasks.wall(clock())) is not None:
            return
    raise AssertionError(f"the gateway clock never settled: {shared.estimate}")


async def first_poll_of_a_job_created_at(engine: Engine, poller: Poller, clock: ManualClock, sim: Simulator) -> Job:
    """Submit a job 3 s after a refresh (the next one comes 12 s later), poll it once when it asks, return it."""
    now = clock()
    clock.set(now + (1003.0 - now) % TICK)
    job = await submit(engine)
    assert job.next_poll_at is not None
    clock.set(job.next_poll_at - sim.tasks.wall(0.0))
    await poller.poll_once()
    polled = await engine.store.get(job.id)
    assert polled is not None
    assert polled.poll_count == 1
    return polled


@pytest.mark.parametrize("learnt", [True, False], ids=["learnt-clock", "nothing-learnt"])
async def test_a_new_jobs_first_poll_lands_in_the_learnt_window(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, learnt: bool
) -> None:
    """With nothing learnt, a new job probes the middle of a blank period (7.5 s in) and sees nothing; once the
    first jobs' polls have taught the gateway clock its phase, the first poll comes just after the refresh."""
    clock = ManualClock(1000.0)
    async with global_gateway(tmp_path, tmp_path_factory.getbasetemp() / "sim-media", clock) as (sim, engine):
        poller = engine.poller(origin="discord", deliver=Deliveries())
        if learnt:
            first = []
            for _ in range(3):
                first.append(await submit(engine))
                clock.advance(1.7)
            await poll_until_settled(engine, poller, clock, sim, first)
            record = await engine.store.gateway_clock()
            assert record is not None
            assert GatewayClock.from_record(record) == engine.policy.timing.shared.estimate  # type: ignore[union-attr]
        polled = await first_poll_of_a_job_created_at(engine, poller, clock, sim)
        # Running: the first poll saw the refresh that started the task; queued: it came before it.
        assert polled.status is (JobStatus.RUNNING if learnt else JobStatus.QUEUED)
        assert sim.task_stats(polled.task_id or "").polls == 1  # type: ignore[union-attr]


async def test_the_learnt_period_is_shared_through_the_store_and_resumed_after_a_restart(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two processes on one database: the period one learnt is the other's once they merged with the store, and a
    process started later (a restart) plans with it from its first cycle."""
    clock = ManualClock(1000.0)
    async with global_gateway(tmp_path, tmp_path_factory.getbasetemp() / "sim-media", clock) as (sim, first):
        learner = first.policy.timing.shared
        assert learner is not None
        for n in range(4):  # what four tasks' consecutive changes, 30 s apart, teach
            learner.note_change(f"t{n}", RefreshWindow(1000.0 + n, 1003.0 + n))
            learner.note_change(f"t{n}", RefreshWindow(1029.0 + n, 1032.0 + n))
        assert learner.period != TICK
        async with open_engine(settings_for(sim, tmp_path), Catalog.load(), clock=engine_clock(sim, clock)) as second:
            other = second.policy.timing.shared
            assert other is not None
            await first.poller(origin="discord", deliver=Deliveries()).poll_once()
            assert other.period == TICK
            await second.poller(origin="discord", deliver=Deliveries()).poll_once()
            assert other.period == learner.period
        async with open_engine(settings_for(sim, tmp_path), Catalog.load(), clock=engine_clock(sim, clock)) as later:
            resumed = later.policy.timing.shared
            assert resumed is not None
            await later.poller(origin="discord", deliver=Deliveries()).poll_once()
            assert resumed.period == learner.period
            assert resumed.as_record() == await later.store.gateway_clock()
