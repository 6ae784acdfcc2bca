"""Several processes on one PostgreSQL database: each store here has a pool of its own, as a process would.

No two claim one job, a dead holder's leases pass to the others once they run out, and reservations spread over
the processes never overdraw a balance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator

import pytest

from bot.domain import DeliveryState, GenerationRequest, Job, JobStatus, NewJob, Orientation, Transition, WireFormat
from bot.services import lifecycle
from bot.services.quotas import QuotaRefusal
from bot.storage import JobStore
from bot.storage.store import Claim
from tests.conftest import DatabaseFactory
from tests.helpers import FakeClock
from tests.quotarig import count, make_settings, open_rig, submit

LEASE = 90.0
DUE_AT = 1_000.0


def poll_lease(now: float, holder: str) -> Claim:
    return functools.partial(lifecycle.lease_poll, until=now + LEASE, holder=holder)


def a_job(n: int) -> NewJob:
    request = GenerationRequest(prompt=f"job {n}", model="sora-2", orientation=Orientation.PORTRAIT, duration=4)
    return NewJob(request=request, origin="discord", requester_id=42, guild_id=7, channel_id=9)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DUE_AT)


@pytest.fixture
async def stores(pg_url: str, clock: FakeClock) -> AsyncIterator[list[JobStore]]:
    opened = [await JobStore.open(pg_url, clock) for _ in range(3)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


async def add_due(store: JobStore, clock: FakeClock, n: int) -> list[Job]:
    return [await store.add(lifecycle.created(a_job(i), WireFormat.OPENAI, clock.now, DUE_AT)) for i in range(n)]


async def test_processes_claiming_at_once_never_take_the_same_job(stores: list[JobStore], clock: FakeClock) -> None:
    jobs = await add_due(stores[0], clock, 120)

    async def claim_all(store: JobStore, holder: str) -> list[Job]:
        taken: list[Job] = []
        while batch := await store.claim_due("discord", DUE_AT, 4, poll_lease(DUE_AT, holder)):
            taken.extend(batch)
        return taken

    claimed = await asyncio.gather(*(claim_all(store, f"process-{i}") for i, store in enumerate(stores)))

    ids = [job.id for taken in claimed for job in taken]
    assert sorted(ids) == sorted(job.id for job in jobs)  # every job claimed once, none twice
    for i, taken in enumerate(claimed):
        for job in taken:
            stored = await stores[0].get(job.id)
            assert stored is not None
            assert stored.lease_holder == f"process-{i}"


async def test_a_dead_holders_jobs_pass_to_another_once_its_lease_runs_out(
    stores: list[JobStore], clock: FakeClock
) -> None:
    (job,) = await add_due(stores[0], clock, 1)
    first, other = stores[0], stores[1]
    assert [j.id for j in await first.claim_due("discord", DUE_AT, 10, poll_lease(DUE_AT, "dead"))] == [job.id]
    await first.close()  # the holder dies: nothing of it is left but its lease

    almost = DUE_AT + LEASE - 1
    assert await other.claim_due("discord", almost, 10, poll_lease(almost, "alive")) == []
    expired = DUE_AT + LEASE
    (taken,) = await other.claim_due("discord", expired, 10, poll_lease(expired, "alive"))
    assert (taken.id, taken.lease_holder, taken.next_poll_at) == (job.id, "alive", expired + LEASE)


async def test_deliveries_claimed_at_once_are_handed_to_one_process_each(
    stores: list[JobStore], clock: FakeClock
) -> None:
    finished = []
    for job in await add_due(stores[0], clock, 40):
        done = dataclasses.replace(
            job,
            status=JobStatus.SUCCEEDED,
            next_poll_at=None,
            finished_at=DUE_AT,
            delivery_state=DeliveryState.PENDING,
            deliver_at=DUE_AT,
        )
        await stores[0].apply(Transition(before=job, job=done))
        finished.append(done)

    async def claim_all(store: JobStore, holder: str) -> list[Job]:
        handover = functools.partial(lifecycle.lease_delivery, now=DUE_AT, until=DUE_AT + LEASE, holder=holder)
        taken: list[Job] = []
        while batch := await store.claim_deliveries("discord", DUE_AT, 3, handover):
            taken.extend(batch)
        return taken

    claimed = await asyncio.gather(*(claim_all(store, f"process-{i}") for i, store in enumerate(stores)))

    attempts = [(job.id, job.delivery_attempts) for taken in claimed for job in taken]
    assert sorted(attempts) == sorted((job.id, 1) for job in finished)


@pytest.mark.parametrize(
    ("user_daily", "guild_daily", "members", "fit"),
    [(12, 100_000, 1, 3), (100_000, 20, 50, 5)],
    ids=["one-member-daily-cap-binds", "fifty-members-server-pool-binds"],
)
async def test_fifty_reservations_over_two_processes_overdraw_nothing(
    pg_url: str, user_daily: int, guild_daily: int, members: int, fit: int
) -> None:
    clock = FakeClock(1_700_000_000.0)
    settings = make_settings(
        QUOTA_USER_DAILY_CREDITS=user_daily,
        QUOTA_GUILD_DAILY_CREDITS=guild_daily,
        QUOTA_GUILD_MONTHLY_CREDITS=100_000,
    )
    rigs = [await open_rig(pg_url, clock, settings) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(submit(rigs[n % 2], 4, user_id=1_000 + n % members) for n in range(50)), return_exceptions=True
        )
        stored = [r for r in results if isinstance(r, Job)]
        refused = [r for r in results if isinstance(r, QuotaRefusal)]
        assert (len(stored), len(refused)) == (fit, 50 - fit)
        assert await count(rigs[0], "SELECT COUNT(*) FROM reservations WHERE state = 'held'") == fit
        assert await count(rigs[1], "SELECT COUNT(*) FROM jobs") == fit
    finally:
        for rig in rigs:
            await rig.db.close()


async def test_a_flag_set_by_two_processes_at_once_is_reported_changed_to_one(new_database: DatabaseFactory) -> None:
    location = await new_database()
    clock = FakeClock(DUE_AT)
    rigs = [await open_rig(location, clock, make_settings()) for _ in range(2)]
    try:
        for value in ("balance", None):
            changed = await asyncio.gather(*(rigs[n % 2].guilds.set_flag("gateway_pause", value) for n in range(20)))
            assert changed.count(True) == 1
            assert await rigs[1].guilds.get_flag("gateway_pause") == value
    finally:
        for rig in rigs:
            await rig.db.close()


async def test_of_two_processes_pausing_for_the_gateway_for_different_reasons_one_is_told(
    new_database: DatabaseFactory,
) -> None:
    location = await new_database()
    clock = FakeClock(DUE_AT)
    rigs = [await open_rig(location, clock, make_settings()) for _ in range(2)]
    try:
        reasons = ["balance", "auth"] * 10
        claimed = await asyncio.gather(
            *(rigs[n % 2].guilds.claim_flag("gateway_pause", r) for n, r in enumerate(reasons))
        )
        assert claimed.count(True) == 1
        assert await rigs[1].guilds.get_flag("gateway_pause") == reasons[claimed.index(True)]
        assert not await rigs[0].guilds.claim_flag("gateway_pause", "auth")
        assert await rigs[0].guilds.set_flag("gateway_pause", None)
        assert await rigs[1].guilds.claim_flag("gateway_pause", "auth")  # once lifted, the next pause is told again
    finally:
        for rig in rigs:
            await rig.db.close()
