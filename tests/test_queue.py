"""The wait queue: fair order, who fits the free slots, the estimate; and on both backends, admission (waiting jobs
do not count as in progress, the queue's own limits), claims, drops, places and cancels."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import aiohttp
import pytest

from bot.catalog import Catalog
from bot.domain import ErrorKind, Job, JobStatus
from bot.engine import poll_policy
from bot.gateway.client import GatewayClient, Timeouts
from bot.services import lifecycle
from bot.services.jobs import JobService
from bot.services.moderation import OPERATOR_PAUSE, ModerationService
from bot.services.queue import FORGOTTEN_REASON, QueueService, fair_order, to_start, wait_minutes
from bot.services.quotas import Limits, QuotaRefusal
from bot.services.served import ServedList, ServedModels
from bot.storage.guilds import ListKind
from tests.conftest import DatabaseFactory
from tests.helpers import FakeClock
from tests.jobs import fresh_job
from tests.quotarig import GUILD, START, USER, Rig, count, make_settings, new_job, open_rig, succeed, unsaved

SUBMIT_TIMEOUT = Timeouts().submit
MODEL = "veo3.1-fast"  # served (the rig's own sora-2 is retired), usually 2 minutes


def limits(*, per_member: int = 0, per_server: int = 0) -> Limits:
    return Limits(0, 0, 0, per_member, per_server, 0, queue_max=20)


def waiting(job_id: str, member: int, at: float) -> Job:
    return fresh_job(id=job_id, requester_id=member, guild_id=GUILD, created_at=at, status=JobStatus.WAITING)


# --- order, fit and estimate (no database) -----------------------------------------------------------------


def test_members_take_turns_however_many_jobs_one_of_them_queued_first() -> None:
    queued = [
        waiting("a1", 1, 10),
        waiting("a2", 1, 11),
        waiting("a3", 1, 12),
        waiting("b1", 2, 13),
        waiting("c1", 3, 14),
        waiting("b2", 2, 15),
    ]
    assert [job.id for job in fair_order(queued)] == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_within_a_round_the_member_served_longest_ago_goes_first() -> None:
    queued = [waiting("a1", 1, 10), waiting("a2", 1, 11), waiting("b1", 2, 13), waiting("c1", 3, 14)]
    assert [job.id for job in fair_order(queued, {1: 5.0})] == ["b1", "c1", "a1", "a2"]  # 2 and 3: never
    assert [job.id for job in fair_order(queued, {1: 5.0, 2: 9.0, 3: 1.0})] == ["c1", "a1", "b1", "a2"]


def test_the_order_is_the_same_whatever_order_the_store_returns_them_in() -> None:
    queued = [waiting("b1", 2, 13), waiting("a2", 1, 11), waiting("a1", 1, 10)]
    assert [job.id for job in fair_order(queued)] == ["a1", "b1", "a2"]


def test_only_as_many_start_as_the_server_has_free_slots() -> None:
    ordered = fair_order([waiting("a1", 1, 10), waiting("b1", 2, 11), waiting("c1", 3, 12)])
    assert [job.id for job in to_start(ordered, {9: 2}, limits(per_server=3))] == ["a1"]
    assert to_start(ordered, {9: 3}, limits(per_server=3)) == []


def test_a_member_at_their_own_limit_is_passed_over_not_waited_for() -> None:
    ordered = fair_order([waiting("a1", 1, 10), waiting("a2", 1, 11), waiting("b1", 2, 12)])
    chosen = to_start(ordered, {1: 1}, limits(per_member=1, per_server=5))
    assert [job.id for job in chosen] == ["b1"]
    # Two free member slots for member 1, but one job each at a time: a1 and b1, never a1 and a2 together.
    assert [job.id for job in to_start(ordered, {}, limits(per_member=1))] == ["a1", "b1"]


def test_no_limit_left_starts_everything() -> None:
    ordered = fair_order([waiting("a1", 1, 10), waiting("a2", 1, 11)])
    assert len(to_start(ordered, {1: 9}, limits())) == 2


def test_the_estimate_counts_rounds_of_free_slots_ahead() -> None:
    assert wait_minutes(1, limits(per_server=2), 90.0) == 2  # one round of a 90-second video, rounded up
    assert wait_minutes(3, limits(per_server=2), 90.0) == 3  # two rounds: 180 seconds
    assert wait_minutes(1, limits(per_server=2), 5.0) == 1  # never "about 0 min"
    assert wait_minutes(2, limits(), 60.0) == 2  # no server limit: one at a time is assumed
    assert wait_minutes(1, limits(per_server=2), None) is None


# --- in the store, on both backends -------------------------------------------------------------------------


async def submit(rig: Rig, cost: float, user_id: int = USER) -> Job:
    """What the Discord front does (a holder for this member, then the job stored with it), for a served model."""
    hold = await rig.quotas.holder(GUILD, user_id, (), cost)
    new = new_job(user_id)
    new = dataclasses.replace(new, request=dataclasses.replace(new.request, model=MODEL))
    return await rig.jobs.add(unsaved(rig, new), hold=hold, wait=lifecycle.waiting)


class Queue:
    """A rig with the queue service over it."""

    def __init__(self, rig: Rig, served: ServedModels) -> None:
        self.rig = rig
        self.served = served
        self.moderation = ModerationService(rig.guilds)
        self.service = QueueService(
            store=rig.jobs,
            quotas=rig.quotas,
            moderation=self.moderation,
            models=served,
            submit_timeout=SUBMIT_TIMEOUT,
            holder="test-process",
            clock=rig.clock,
        )

    async def shown(self, job: Job) -> Job:
        """A job its creator has shown (a waiting job is not started before)."""
        await self.rig.jobs.mark_set_up(job.id)
        stored = await self.rig.jobs.get(job.id)
        assert stored is not None
        return stored

    async def status(self, job: Job) -> JobStatus:
        stored = await self.rig.jobs.get(job.id)
        assert stored is not None
        return stored.status


QueueFactory = Callable[..., Awaitable[Queue]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def make_queue(new_database: DatabaseFactory, clock: FakeClock) -> AsyncIterator[QueueFactory]:
    opened: list[Queue] = []

    async def make(**env: str | float) -> Queue:
        rig = await open_rig(await new_database(), clock, make_settings(**env))
        served = ServedModels(Catalog.load(), cast(GatewayClient, None), rig.jobs, clock=clock)
        queue = Queue(rig, served)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.moderation.close()
        await queue.rig.db.close()


async def test_over_the_limit_a_job_waits_with_its_credits_held_and_is_not_in_progress(
    make_queue: QueueFactory,
) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    first = await submit(rig, 4, user_id=1)
    second = await submit(rig, 4, user_id=2)
    assert (first.status, second.status) == (JobStatus.SUBMITTING, JobStatus.WAITING)
    assert second.next_poll_at is None  # nothing gives a waiting job up
    assert await count(rig, "SELECT COUNT(*) FROM reservations WHERE state = 'held'") == 2
    held = (await rig.quotas.status(GUILD, 2, ())).usage
    assert (held.user_in_flight, held.guild_in_flight, held.user_waiting, held.guild_waiting) == (0, 1, 1, 1)
    assert held.user_today == 4  # the credits are held at once


async def test_the_queue_holds_twenty_per_server_and_three_per_member(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=5)
    rig = queue.rig
    await submit(rig, 1, user_id=1)
    for _ in range(3):
        assert (await submit(rig, 1, user_id=2)).status is JobStatus.WAITING
    with pytest.raises(QuotaRefusal) as member_full:
        await submit(rig, 1, user_id=2)
    assert "you have 3 waiting, the most one member may" in member_full.value.user_message
    await submit(rig, 1, user_id=3)
    await submit(rig, 1, user_id=4)
    with pytest.raises(QuotaRefusal) as server_full:
        await submit(rig, 1, user_id=5)
    assert "the server's wait queue is full (5 waiting)" in server_full.value.user_message
    assert server_full.value.reason == "server in-flight limit"
    assert await count(rig, "SELECT COUNT(*) FROM jobs WHERE status = 'waiting'") == 5


async def test_a_servers_own_queue_max_wins_and_zero_means_refuse_as_before(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    config = await rig.guilds.config(GUILD)
    await rig.guilds.set_limits(GUILD, dataclasses.replace(config, queue_max=0))
    await submit(rig, 1, user_id=1)
    with pytest.raises(QuotaRefusal) as refused:
        await submit(rig, 1, user_id=2)
    assert refused.value.user_message.startswith("This server already has 1 video in progress (the limit is 1). ")
    assert (await rig.guilds.config(GUILD)).queue_max == 0


async def test_fifty_racing_members_fill_the_slots_then_the_queue_exactly(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=2, QUEUE_MAX_PER_GUILD=7)
    results = await asyncio.gather(*(submit(queue.rig, 1, user_id=1000 + n) for n in range(50)), return_exceptions=True)
    jobs = [result for result in results if isinstance(result, Job)]
    assert len([r for r in results if isinstance(r, QuotaRefusal)]) == 41
    assert sorted(job.status for job in jobs).count(JobStatus.WAITING) == 7
    assert len(jobs) == 9


async def test_a_freed_slot_starts_the_next_job_in_fair_order(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    running = await submit(rig, 1, user_id=1)
    a2 = await queue.shown(await submit(rig, 1, user_id=1))
    rig.clock.advance(1)
    a3 = await queue.shown(await submit(rig, 1, user_id=1))
    rig.clock.advance(1)
    b1 = await queue.shown(await submit(rig, 1, user_id=2))

    review = await queue.service.review(GUILD)
    assert review.started == []  # no free slot yet
    assert [(job.id, job.queue_position, job.queue_size) for job in review.moved] == [
        (b1.id, 1, 3),  # member 1's latest video started, member 2 never had one: member 2's turn first
        (a2.id, 2, 3),
        (a3.id, 3, 3),
    ]
    assert (await queue.service.review(GUILD)).moved == []  # nothing moved: nothing to show again

    await succeed(rig, running)
    review = await queue.service.review(GUILD)
    assert [job.id for job in review.started] == [b1.id]  # the order shown is the order they start in
    started = review.started[0]
    assert (started.status, started.lease_holder, started.wait_ended_at) == (
        JobStatus.SUBMITTING,
        "test-process",
        rig.clock(),
    )
    assert started.next_poll_at == lifecycle.unsent_deadline(rig.clock(), SUBMIT_TIMEOUT)
    assert [(job.id, job.queue_position, job.queue_size) for job in review.moved] == [(a2.id, 1, 2), (a3.id, 2, 2)]
    assert await rig.jobs.extend_submit(started, rig.clock() + 99)  # its sender may send it
    assert (await queue.service.review(GUILD)).started == []  # the started one holds the slot now


async def test_two_processes_reviewing_at_once_start_only_what_fits(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=2, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    running = [await submit(rig, 1, user_id=n) for n in (1, 2)]
    for n in range(3, 9):
        await queue.shown(await submit(rig, 1, user_id=n))
    for job in running:
        await succeed(rig, job)
    reviews = await asyncio.gather(*(queue.service.review(GUILD) for _ in range(4)))
    started = [job.id for review in reviews for job in review.started]
    assert len(started) == len(set(started)) == 2
    assert await count(rig, "SELECT COUNT(*) FROM jobs WHERE status = 'submitting'") == 2


async def test_a_job_still_being_shown_is_not_started_yet(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    running = await submit(rig, 1, user_id=1)
    unshown = await submit(rig, 1, user_id=2)
    await succeed(rig, running)
    assert (await queue.service.review(GUILD)).started == []
    rig.clock.advance(lifecycle.SETUP_WAIT_SECONDS + 1)  # its creator died half-way: it starts all the same
    assert [job.id for job in (await queue.service.review(GUILD)).started] == [unshown.id]


async def test_a_job_still_being_shown_counts_in_the_places_but_gets_its_own_once_shown(
    make_queue: QueueFactory,
) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    await submit(rig, 1, user_id=1)
    shown = await queue.shown(await submit(rig, 1, user_id=2))
    rig.clock.advance(1)
    unshown = await submit(rig, 1, user_id=3)
    review = await queue.service.review(GUILD)
    # Its status message may not be posted yet: a place stored now would never reach it.
    assert [(job.id, job.queue_position, job.queue_size) for job in review.moved] == [(shown.id, 1, 2)]
    await queue.shown(unshown)
    review = await queue.service.review(GUILD)
    assert [(job.id, job.queue_position, job.queue_size) for job in review.moved] == [(unshown.id, 2, 2)]


async def test_a_pause_keeps_jobs_waiting_and_says_so(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    running = await submit(rig, 1, user_id=1)
    job = await queue.shown(await submit(rig, 1, user_id=2))
    await succeed(rig, running)
    for pause, resume in (
        (lambda: rig.guilds.set_paused(GUILD, True, "maintenance"), lambda: rig.guilds.set_paused(GUILD, False, None)),
        (lambda: rig.guilds.set_flag(OPERATOR_PAUSE, "upgrade"), lambda: rig.guilds.set_flag(OPERATOR_PAUSE, None)),
    ):
        await pause()
        review = await queue.service.review(GUILD)
        assert review.started == [] and review.dropped == []
        assert await queue.status(job) is JobStatus.WAITING
        stored = await rig.jobs.get(job.id)
        assert stored is not None and stored.queue_paused
        await resume()
    review = await queue.service.review(GUILD)
    assert [started.id for started in review.started] == [job.id]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("block", "You are not allowed to make videos on this server. Reason given: spam."),
        ("disable", "The model veo3.1-fast is turned off on this server."),
        ("word", "Your prompt contains a word or phrase this server does not allow."),
        ("unserved", "Its model is no longer available on this bot."),
        ("forgotten", FORGOTTEN_REASON),
    ],
)
async def test_what_is_no_longer_allowed_is_dropped_with_a_full_refund(
    make_queue: QueueFactory, change: str, reason: str
) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20, QUOTA_USER_DAILY_CREDITS=10)
    rig = queue.rig
    await submit(rig, 1, user_id=1)
    job = await queue.shown(await submit(rig, 6, user_id=USER))
    rig.clock.advance(1)
    other = await queue.shown(await submit(rig, 1, user_id=3))
    match change:
        case "block":
            await rig.guilds.add_to_list(GUILD, ListKind.BLOCKED_USER, str(USER), "spam")
        case "disable":
            await rig.guilds.add_to_list(GUILD, ListKind.DISABLED_MODEL, MODEL)
        case "word":
            await rig.guilds.add_to_list(GUILD, ListKind.BLOCKED_WORD, "skateboard")  # the rig's prompt has it
            other_prompt = "UPDATE jobs SET prompt = 'a quiet lake' WHERE id = ?"
            await rig.db.execute(other_prompt, (other.id,))
        case "unserved":
            queue.served.served = ServedList(frozenset({"veo-3.1-fast-generate-preview"}), rig.clock())
        case "forgotten":
            await rig.guilds.forget_user(GUILD, USER)
    await rig.guilds.set_paused(GUILD, True, None)  # a pause does not save it
    review = await queue.service.review(GUILD)
    alone = change in ("block", "word", "forgotten")
    assert [dropped.id for dropped in review.dropped] == ([job.id] if alone else [job.id, other.id])
    dropped = review.dropped[0]
    assert (dropped.status, dropped.error_kind, dropped.delivery_state.value) == (
        JobStatus.FAILED,
        ErrorKind.DROPPED,
        "delivered",  # the queue tells the member privately; nothing is posted for it later
    )
    assert dropped.error_message is not None and dropped.error_message.startswith(reason)
    assert await count(rig, "SELECT COUNT(*) FROM reservations WHERE job_id = ? AND state = 'refunded'", (job.id,)) == 1
    assert (await rig.quotas.status(GUILD, USER, ())).usage.user_today == 0
    assert await count(rig, "SELECT COUNT(*) FROM strikes") == 0  # a rule that changed is not the member's strike
    assert (await queue.service.review(GUILD)).dropped == []  # told once


async def test_a_waiting_cancel_refunds_and_one_that_loses_to_the_queue_is_withdrawn(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    settings = make_settings()
    async with aiohttp.ClientSession() as session:  # nothing is sent: these jobs are never submitted
        client = GatewayClient(session, settings.gateway_base_url, settings.gateway_api_key, timeouts=Timeouts())
    service = JobService(
        store=rig.jobs, client=client, models=queue.served, policy=poll_policy(settings), clock=rig.clock
    )
    told: list[str] = []
    service.on_queue_change = lambda: told.append("moved")
    running = await submit(rig, 1, user_id=1)
    waiting_job = await queue.shown(await submit(rig, 2, user_id=2))
    cancelled = await service.cancel(waiting_job, by=2)
    assert (cancelled.status, cancelled.cancelled_by) == (JobStatus.CANCELLED, 2)
    assert (
        await count(rig, "SELECT COUNT(*) FROM reservations WHERE job_id = ? AND state = 'refunded'", (waiting_job.id,))
        == 1
    )
    assert told == ["moved"]

    # Read while waiting, started by the queue before the cancel's write: taken from its sender, still refunded.
    late = await queue.shown(await submit(rig, 2, user_id=3))
    await succeed(rig, running)
    (started,) = (await queue.service.review(GUILD)).started
    assert started.id == late.id
    cancelled = await service.cancel(late, by=3)
    assert cancelled.status is JobStatus.CANCELLED and not cancelled.sent
    assert not await rig.jobs.extend_submit(started, rig.clock() + 99)  # its sender no longer sends it
    assert (
        await count(rig, "SELECT COUNT(*) FROM reservations WHERE job_id = ? AND state = 'refunded'", (late.id,)) == 1
    )


async def test_the_estimate_comes_from_the_models_recent_videos(make_queue: QueueFactory) -> None:
    queue = await make_queue(MAX_JOBS_PER_GUILD=1, QUEUE_MAX_PER_GUILD=20)
    rig = queue.rig
    for seconds in (60.0, 120.0, 600.0):
        done = await submit(rig, 1, user_id=1)
        await rig.db.execute("UPDATE jobs SET submitted_at = ? WHERE id = ?", (rig.clock(), done.id))
        sent = await rig.jobs.get(done.id)
        assert sent is not None
        rig.clock.advance(seconds)
        await succeed(rig, sent)
    assert sorted(await rig.jobs.recent_durations(MODEL)) == [60.0, 120.0, 600.0]
    await submit(rig, 1, user_id=1)
    job = await queue.shown(await submit(rig, 1, user_id=2))
    (placed,) = (await queue.service.review(GUILD)).moved
    assert (placed.id, placed.queue_position, placed.queue_minutes) == (job.id, 1, 2)  # the median: 120 s
