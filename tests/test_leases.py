"""Leases held across processes while the work takes longer than one lease: two stores (or two engines) on one
database are two processes. A holder renews its lease while it works; once it has passed to another process, what
the old holder would write or post is not written or posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.domain import (
    DeliveryState,
    GenerationRequest,
    Job,
    JobStatus,
    NewJob,
    Orientation,
    TaskSnapshot,
    Transition,
    WireFormat,
)
from bot.engine import Engine, open_engine
from bot.services import lifecycle
from bot.settings import Settings
from bot.storage import JobStore
from bot.storage.store import Claim
from tests.conftest import DatabaseFactory
from tests.helpers import Deliveries, FakeClock, engine_env, eventually

LEASE = 90.0
START = 1_000.0
MODEL = "veo-3.1-fast-generate-preview"


Work = Literal["poll", "delivery"]


def lease(work: Work, now: float, holder: str, seconds: float = LEASE) -> Claim:
    """How ``holder`` takes a job's poll (or delivery) at ``now`` for ``seconds``."""
    if work == "poll":
        return functools.partial(lifecycle.lease_poll, until=now + seconds, holder=holder)
    return functools.partial(lifecycle.lease_delivery, now=now, until=now + seconds, holder=holder)


async def take(store: JobStore, clock: FakeClock, holder: str, work: Work) -> list[Job]:
    """The jobs whose poll (or delivery) is due now, claimed by ``holder`` for a lease, as a process's poller takes
    them."""
    claim = store.claim_due if work == "poll" else store.claim_deliveries
    return await claim("discord", clock.now, 1, lease(work, clock.now, holder))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def processes(new_database: DatabaseFactory, clock: FakeClock) -> AsyncIterator[tuple[JobStore, JobStore]]:
    """Two processes' stores, each with connections of its own, on one database."""
    location = await new_database()
    first = await JobStore.open(location, clock)
    second = await JobStore.open(location, clock)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def running_job(store: JobStore, clock: FakeClock) -> Job:
    """A job the gateway took, due for its next poll now."""
    request = GenerationRequest(prompt="a heron", model="sora-2", orientation=Orientation.PORTRAIT, duration=4)
    new = NewJob(request=request, origin="discord", requester_id=42, guild_id=7, channel_id=9)
    job = await store.add(lifecycle.created(new, WireFormat.OPENAI, clock.now, clock.now))
    running = dataclasses.replace(job, status=JobStatus.RUNNING, task_id="task-1", submitted_at=clock.now)
    await store.apply(Transition(before=job, job=running))
    return running


async def finished_job(store: JobStore, clock: FakeClock) -> Job:
    """A job whose video is in, waiting to be delivered now."""
    running = await running_job(store, clock)
    done = lifecycle.downloaded(running, "/results/video.mp4", 1234, clock.now)
    await store.apply(done)
    return done.job


async def test_a_delivery_whose_lease_passed_renews_and_records_nothing(
    processes: tuple[JobStore, JobStore], clock: FakeClock
) -> None:
    first, second = processes
    job = await finished_job(first, clock)
    (mine,) = await take(first, clock, "first", "delivery")
    clock.advance(LEASE)  # the first process stalls for a whole lease
    (theirs,) = await take(second, clock, "second", "delivery")
    assert (theirs.id, theirs.delivery_attempts, theirs.maybe_delivered) == (job.id, 2, True)

    assert await first.renew_lease(mine, clock.now + LEASE) is False
    assert await first.apply_held(lifecycle.delivered(mine, 111, clock.now), "first") is None
    assert await first.apply_held(lifecycle.delivery_failed(mine, clock.now), "first") is None
    stored = await second.get(job.id)
    assert stored is not None
    assert (stored.delivery_state, stored.lease_holder, stored.deliver_at) == (
        DeliveryState.DELIVERING,
        "second",
        theirs.deliver_at,
    )

    assert await second.renew_lease(theirs, clock.now + LEASE) is True
    assert await second.apply_held(lifecycle.delivered(theirs, 222, clock.now), "second") == 0.0
    stored = await first.get(job.id)
    assert stored is not None and (stored.delivery_state, stored.result_message_id) == (DeliveryState.DELIVERED, 222)
    assert await second.renew_lease(theirs, clock.now + LEASE) is False  # delivered: nothing left to hold


async def test_a_renewed_delivery_lease_is_not_taken_over(
    processes: tuple[JobStore, JobStore], clock: FakeClock
) -> None:
    first, second = processes
    job = await finished_job(first, clock)
    (mine,) = await take(first, clock, "first", "delivery")
    for _ in range(4):  # the delivery takes four leases' time, renewing every third of one
        for _ in range(3):
            clock.advance(LEASE / 3)
            assert await first.renew_lease(mine, clock.now + LEASE) is True
        assert await take(second, clock, "second", "delivery") == []

    assert await first.apply_held(lifecycle.delivered(mine, 111, clock.now), "first") == 0.0
    stored = await second.get(job.id)
    assert stored is not None
    assert (stored.delivery_state, stored.delivery_attempts, stored.result_message_id) == (
        DeliveryState.DELIVERED,
        1,
        111,
    )


async def test_a_poll_whose_lease_passed_writes_nothing_over_the_new_holders(
    processes: tuple[JobStore, JobStore], clock: FakeClock
) -> None:
    first, second = processes
    job = await running_job(first, clock)
    (mine,) = await take(first, clock, "first", "poll")
    clock.advance(LEASE)  # a download that outlives the lease
    (theirs,) = await take(second, clock, "second", "poll")
    assert theirs.id == job.id

    assert await first.renew_lease(mine, clock.now + LEASE) is False
    assert await first.apply_held(lifecycle.downloaded(mine, "/results/late.mp4", 1, clock.now), "first") is None
    stored = await second.get(job.id)
    assert stored is not None and (stored.status, stored.lease_holder) == (JobStatus.RUNNING, "second")

    assert await second.apply_held(lifecycle.downloaded(theirs, "/results/video.mp4", 1234, clock.now), "second") == 0.0
    stored = await first.get(job.id)
    assert stored is not None and (stored.status, stored.result_path) == (JobStatus.SUCCEEDED, "/results/video.mp4")


async def test_a_renewed_poll_lease_is_not_taken_over_and_a_cancel_ends_it(
    processes: tuple[JobStore, JobStore], clock: FakeClock
) -> None:
    first, second = processes
    job = await running_job(first, clock)
    (mine,) = await take(first, clock, "first", "poll")
    for _ in range(3):
        clock.advance(LEASE * 2 / 3)
        assert await first.renew_lease(mine, clock.now + LEASE) is True
        assert await take(second, clock, "second", "poll") == []

    await second.apply(lifecycle.cancel(job, 42, clock.now))  # a member cancels through the other process
    assert await first.renew_lease(mine, clock.now + LEASE) is False  # the poll has nothing left to do
    assert await first.apply_held(lifecycle.downloaded(mine, "/results/video.mp4", 1, clock.now), "first") is None
    stored = await second.get(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED


# The poller itself: two engines ("processes") on one database, and work that outlasts a lease.

EnginePair = Callable[..., contextlib.AbstractAsyncContextManager[tuple[Engine, Engine]]]


@pytest.fixture
def engines(sim: Simulator, tmp_path: Path, new_database: DatabaseFactory) -> EnginePair:
    """Opens two engines on one new database, each with its own lease holder name as two processes have."""

    @contextlib.asynccontextmanager
    async def pair(**env: str) -> AsyncIterator[tuple[Engine, Engine]]:
        location = await new_database()
        where = {"DATABASE_PATH": str(location)} if isinstance(location, Path) else {"DATABASE_URL": location}
        settings = Settings.from_env(engine_env(sim, tmp_path, **where, **env), need_discord=False)
        async with open_engine(settings, Catalog.load()) as first, open_engine(settings, Catalog.load()) as second:
            assert first.lease_holder != second.lease_holder
            yield first, second

    return pair


class HeldDeliveries(Deliveries):
    """Deliveries that do not return until released: a long set-up wait, re-encode or upload."""

    def __init__(self, message_id: int) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self._message_id = message_id

    async def __call__(self, job: Job) -> int | None:
        await super().__call__(job)
        await self.release.wait()
        return self._message_id


async def stored(engine: Engine, job_id: str) -> Job:
    job = await engine.store.get(job_id)
    assert job is not None
    return job


def counted(engine: Engine, name: str, **labels: str) -> float:
    return engine.metrics.registry.get_sample_value(f"reelbot_{name}_total", labels) or 0.0


async def test_a_delivery_longer_than_its_lease_keeps_it_and_is_delivered_once(engines: EnginePair) -> None:
    async with engines() as (first, second):
        lease = first.settings.job_lease_seconds
        held, others = HeldDeliveries(111), Deliveries()
        job = await first.jobs.submit(NewJob(request=first.jobs.build_request(prompt="a long upload", model=MODEL)))
        task = asyncio.create_task(first.poller(origin="discord", deliver=held).run())
        try:
            claimed = await held.wait_for(job.id)
            assert claimed.deliver_at is not None
            claimed_until = claimed.deliver_at

            async def renewed_past_its_first_lease() -> bool:
                deliver_at = (await stored(first, job.id)).deliver_at
                return deliver_at is not None and deliver_at >= claimed_until + lease

            await eventually(renewed_past_its_first_lease)  # without renewing, the lease had run out by then
            await second.poller(origin="discord", deliver=others).poll_once()
            assert others.jobs == []  # the other process found nothing to take over
            held.release.set()

            async def recorded() -> bool:
                return (await stored(first, job.id)).delivery_state is DeliveryState.DELIVERED

            await eventually(recorded)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        done = await stored(second, job.id)
    assert (done.delivery_attempts, done.result_message_id, done.lease_holder) == (1, 111, first.lease_holder)
    assert len(held.of(job.id)) == 1


async def test_a_delivery_whose_lease_was_taken_over_records_nothing_of_its_own(
    engines: EnginePair, caplog: pytest.LogCaptureFixture
) -> None:
    async with engines() as (first, second):
        held = HeldDeliveries(111)
        job = await first.jobs.submit(NewJob(request=first.jobs.build_request(prompt="a stall", model=MODEL)))
        task = asyncio.create_task(first.poller(origin="discord", deliver=held).run())
        try:
            claimed = await held.wait_for(job.id)
            assert claimed.deliver_at is not None
            # The first process stalls for an hour (its renewals do not get through): the second takes the job over.
            later = claimed.deliver_at + 3600
            handover = lease("delivery", later, second.lease_holder, 60)
            (theirs,) = await second.store.claim_deliveries("discord", later, 1, handover)
            assert theirs.maybe_delivered  # it looks for the first one's post before posting its own
            held.release.set()  # the first one's delivery ends after all: what it would record is not recorded
            await eventually(lambda: "the delivery was not recorded" in caplog.text)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        taken_over = await stored(second, job.id)
        assert (taken_over.delivery_state, taken_over.lease_holder, taken_over.result_message_id) == (
            DeliveryState.DELIVERING,
            second.lease_holder,
            None,
        )
        assert f"Job {job.id}: delivered" not in caplog.text
        assert await second.store.apply_held(lifecycle.delivered(theirs, 111, later), second.lease_holder) == 0.0
        assert (await stored(first, job.id)).delivery_state is DeliveryState.DELIVERED


async def test_a_poll_outcome_that_was_not_written_is_not_counted(
    engines: EnginePair, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with engines(JOB_LEASE_SECONDS="600") as (first, second):
        job = await first.jobs.submit(NewJob(request=first.jobs.build_request(prompt="cancelled", model=MODEL)))
        asked, answer = asyncio.Event(), asyncio.Event()
        fetch = first.client.fetch

        async def held_fetch(task_id: str, wire_format: WireFormat) -> TaskSnapshot:
            asked.set()
            await answer.wait()
            return await fetch(task_id, wire_format)

        monkeypatch.setattr(first.client, "fetch", held_fetch)
        task = asyncio.create_task(first.poller(origin="discord", deliver=Deliveries()).run())
        try:
            await asyncio.wait_for(asked.wait(), timeout=30)
            cancelled = await second.jobs.cancel(job, by=42, spend=True)  # confirmed, via the other process
            assert cancelled.status is JobStatus.CANCELLED
            answer.set()  # the task is done by now: the poll brings the video in, too late to be recorded
            await eventually(lambda: "the poll was not recorded" in caplog.text)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert (await stored(second, job.id)).status is JobStatus.CANCELLED
    assert counted(first, "jobs_finished", model=MODEL, outcome="succeeded") == 0.0
    assert counted(first, "credits_spent") == 0.0
