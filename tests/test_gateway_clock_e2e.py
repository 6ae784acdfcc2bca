"""The shared gateway clock end to end: what the first jobs' polls teach it places a new job's first poll."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import ManualClock, Simulator, SimulatorConfig
from bot.devtools.gateway.tasks import TickModel
from bot.domain import Job, JobStatus, NewJob
from bot.engine import Engine, open_engine
from bot.services.phase import GatewayClock
from bot.services.poller import Poller
from bot.settings import Settings
from tests.conftest import Deliveries, engine_env

MODEL = "veo-3.1-fast-generate-preview"
TICK = 15.0


async def submit(engine: Engine) -> Job:
    return await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="a cow", model=MODEL)))


async def poll_until(engine: Engine, poller: Poller, clock: ManualClock, sim: Simulator, jobs: list[Job]) -> None:
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


async def test_a_new_jobs_first_poll_lands_in_the_learnt_window(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clock = ManualClock(1000.0)
    media = tmp_path_factory.getbasetemp() / "sim-media"
    # Every task is refreshed at 1000 + 15k; the jobs run long enough to keep being refreshed while the clock learns.
    config = SimulatorConfig(
        tick_seconds=TICK, tick_model=TickModel.GLOBAL, task_seconds=120.0, refresh_hints=False, media_dir=str(media)
    )
    async with Simulator(config, clock=clock) as sim:
        env = engine_env(
            sim,
            tmp_path,
            GATEWAY_REFRESH_SECONDS=str(TICK),
            POLL_INTERVAL_MIN_SECONDS="5",
            POLL_INTERVAL_MAX_SECONDS="30",
            JOB_LEASE_SECONDS="90",
        )
        settings = Settings.from_env(env, need_discord=False)
        async with open_engine(settings, Catalog.load(), clock=lambda: sim.tasks.wall(clock())) as engine:
            poller = engine.poller(origin="discord", deliver=Deliveries())
            first = []
            for _ in range(3):
                first.append(await submit(engine))
                clock.advance(1.7)
            await poll_until(engine, poller, clock, sim, first)
            kept = await engine.store.gateway_clock()
            assert kept is not None
            assert GatewayClock.from_record(kept) == engine.policy.timing.shared.estimate  # type: ignore[union-attr]

            # A new job created 3 s after a refresh: the refresh after it comes 12 s later. A blank window would
            # probe its middle (7.5 s in) and see nothing; the learnt window sends the first poll just after it.
            now = clock()
            clock.set(now + (1003.0 - now) % TICK)
            job = await submit(engine)
            assert job.next_poll_at is not None
            clock.set(job.next_poll_at - sim.tasks.wall(0.0))
            await poller.poll_once()
            polled = await engine.store.get(job.id)
            assert polled is not None
            assert polled.poll_count == 1
            assert polled.status is JobStatus.RUNNING  # the first poll saw the refresh that started it
            assert sim.task_stats(polled.task_id or "").polls == 1  # type: ignore[union-attr]


async def test_without_the_learnt_clock_the_first_poll_probes_the_blank_window(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same new job, with nothing learnt yet: its first poll comes before the refresh and sees nothing."""
    clock = ManualClock(1000.0)
    media = tmp_path_factory.getbasetemp() / "sim-media"
    config = SimulatorConfig(
        tick_seconds=TICK, tick_model=TickModel.GLOBAL, task_seconds=120.0, refresh_hints=False, media_dir=str(media)
    )
    async with Simulator(config, clock=clock) as sim:
        env = engine_env(
            sim,
            tmp_path,
            GATEWAY_REFRESH_SECONDS=str(TICK),
            POLL_INTERVAL_MIN_SECONDS="5",
            POLL_INTERVAL_MAX_SECONDS="30",
            JOB_LEASE_SECONDS="90",
        )
        settings = Settings.from_env(env, need_discord=False)
        async with open_engine(settings, Catalog.load(), clock=lambda: sim.tasks.wall(clock())) as engine:
            poller = engine.poller(origin="discord", deliver=Deliveries())
            clock.set(1003.0)
            job = await submit(engine)
            assert job.next_poll_at is not None
            clock.set(job.next_poll_at - sim.tasks.wall(0.0))
            await poller.poll_once()
            polled = await engine.store.get(job.id)
            assert polled is not None
            assert polled.poll_count == 1
            assert polled.status is JobStatus.QUEUED
