"""JobStore on a real SQLite file: persistence, leases, delivery bookkeeping."""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import (
    DeliveryState,
    ErrorKind,
    GenerationRequest,
    Job,
    JobStatus,
    NewJob,
    Orientation,
    Transition,
    WireFormat,
)
from bot.media import retention
from bot.media.store import LocalMedia
from bot.metrics import Metrics
from bot.services import lifecycle
from bot.services.housekeeping import Housekeeper
from bot.storage import JobStore
from bot.storage import store as store_module
from bot.storage.connect import open_database
from bot.storage.migrate import bundled_migrations
from bot.storage.store import Claim
from tests.helpers import FakeClock
from tests.jobs import COUNTED_REASON, PAUSED_REASON

LEASE = 60.0
DAY = 86400.0
HOLDER = "host:1:test"


def poll_lease(now: float) -> Claim:
    return functools.partial(lifecycle.lease_poll, until=now + LEASE, holder=HOLDER)


def delivery_lease(now: float) -> Claim:
    return functools.partial(lifecycle.lease_delivery, now=now, until=now + LEASE, holder=HOLDER)


async def save(store: JobStore, before: Job, after: Job) -> None:
    """Store ``after`` over ``before``, with no effects."""
    await store.apply(Transition(before=before, job=after))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(database_location: Path | str, clock: FakeClock) -> AsyncIterator[JobStore]:
    opened = await JobStore.open(database_location, clock)
    try:
        yield opened
    finally:
        await opened.close()


def new_job(
    *, origin: str = "discord", requester_id: int | None = 42, prompt: str = "a cat on a skateboard", images: int = 0
) -> NewJob:
    request = GenerationRequest(
        prompt=prompt,
        model="sora-2",
        orientation=Orientation.PORTRAIT,
        duration=8,
        hd=True,
        images=tuple(f"data:image/png;base64,{i}" for i in range(images)),
    )
    return NewJob(request=request, origin=origin, requester_id=requester_id, guild_id=7, channel_id=9)


async def add(
    store: JobStore,
    clock: FakeClock,
    *,
    first_poll_at: float = 1_000.0,
    origin: str = "discord",
    requester_id: int | None = 42,
    prompt: str = "a cat on a skateboard",
    images: int = 0,
) -> Job:
    new = new_job(origin=origin, requester_id=requester_id, prompt=prompt, images=images)
    return await store.add(lifecycle.created(new, WireFormat.OPENAI, clock.now, first_poll_at))


async def finish(store: JobStore, job: Job, deliver_at: float) -> Job:
    """Save the job as finished and waiting for delivery at ``deliver_at``."""
    done = dataclasses.replace(
        job,
        status=JobStatus.SUCCEEDED,
        finished_at=deliver_at,
        next_poll_at=None,
        delivery_state=DeliveryState.PENDING,
        deliver_at=deliver_at,
    )
    await save(store, job, done)
    return done


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_open_twice_keeps_data_and_schema_version(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "jobs.sqlite3"
    first = await JobStore.open(path, clock)
    try:
        job = await add(first, clock)
    finally:
        await first.close()
    second = await JobStore.open(path, clock)
    try:
        assert await second.get(job.id) == job
    finally:
        await second.close()
    assert user_version(path) == len(bundled_migrations()) >= 1


async def test_journal_mode_is_wal(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "jobs.sqlite3"
    await (await JobStore.open(path, clock)).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_check_writable(store: JobStore) -> None:
    await store.check_writable()


async def test_add_stores_a_submitting_job(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock, first_poll_at=1_120.0, images=2)
    assert len(job.id) == 8
    assert job.id == job.id.lower()
    assert job.status is JobStatus.SUBMITTING
    assert job.origin == "discord"
    assert (job.requester_id, job.guild_id, job.channel_id) == (42, 7, 9)
    assert job.prompt == "a cat on a skateboard"
    assert job.model == "sora-2"
    assert job.wire_format is WireFormat.OPENAI
    assert job.orientation is Orientation.PORTRAIT
    assert job.duration == 8
    assert job.hd is True
    assert job.image_count == 2
    assert job.created_at == job.updated_at == clock.now
    assert job.next_poll_at == 1_120.0
    assert job.task_id is None
    assert job.delivery_state is DeliveryState.NONE
    assert job.deliver_at is None
    assert (job.poll_count, job.poll_errors, job.download_attempts, job.delivery_attempts) == (0, 0, 0, 0)
    assert job.maybe_delivered is False
    assert job.slow_notified is False


async def test_ids_are_distinct(store: JobStore, clock: FakeClock) -> None:
    ids = {(await add(store, clock)).id for _ in range(20)}
    assert len(ids) == 20


async def test_get_unknown_is_none(store: JobStore) -> None:
    assert await store.get("nosuchid") is None
    assert await store.find("nosuchid") is None


async def test_find_by_bot_id_ignores_case_and_spaces(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    assert await store.find(job.id) == job
    assert await store.find(f"  {job.id.upper()} ") == job


async def test_find_by_task_id_is_exact(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    saved = dataclasses.replace(job, task_id="Video_AbC123", status=JobStatus.QUEUED)
    await save(store, job, saved)
    assert await store.find("Video_AbC123") == saved
    assert await store.find(" Video_AbC123 ") == saved
    assert await store.find("video_abc123") is None


async def test_save_round_trips_every_field(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    changed = dataclasses.replace(
        job,
        task_id="task-xyz",
        status=JobStatus.FAILED,
        remote_status="in_progress",
        progress=37,
        submitted_at=1_001.25,
        updated_at=1_050.5,
        finished_at=1_060.75,
        next_poll_at=1_070.125,
        last_poll_at=1_049.0,
        poll_count=11,
        poll_errors=2,
        poll_error_kind=ErrorKind.UNAVAILABLE,
        download_attempts=1,
        refresh_start=1_040.5,
        refresh_end=1_041.5,
        slow_notified=True,
        error_kind=ErrorKind.CONTENT_POLICY,
        error_message="refused",
        result_path="/tmp/results/x.mp4",
        result_bytes=123_456_789,
        delivery_state=DeliveryState.PENDING,
        deliver_at=1_061.0,
    )
    await save(store, job, changed)
    assert await store.get(job.id) == changed


async def test_save_can_clear_optional_fields(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    lost = dataclasses.replace(job, error_kind=ErrorKind.LOST, error_message="gone", progress=5)
    await save(store, job, lost)
    cleared = dataclasses.replace(job, error_kind=None, error_message=None, progress=None, next_poll_at=None)
    await save(store, lost, cleared)
    assert await store.get(job.id) == cleared


async def test_claim_due_leases_jobs(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock, first_poll_at=1_000.0)
    claimed = await store.claim_due("discord", 1_000.0, 10, poll_lease(1_000.0))
    assert [j.id for j in claimed] == [job.id]
    assert claimed[0].next_poll_at == 1_000.0 + LEASE
    assert await store.claim_due("discord", 1_000.0, 10, poll_lease(1_000.0)) == []
    assert await store.claim_due("discord", 1_000.0 + LEASE - 0.5, 10, poll_lease(1_000.0 + LEASE - 0.5)) == []
    again = await store.claim_due("discord", 1_000.0 + LEASE, 10, poll_lease(1_000.0 + LEASE))
    assert [j.id for j in again] == [job.id]


async def test_a_submit_cannot_extend_a_job_the_poller_took_to_give_up(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock, first_poll_at=1_000.0)  # its submit's deadline has come
    assert [j.id for j in await store.claim_due("discord", 1_000.0, 10, poll_lease(1_000.0))] == [
        job.id
    ]  # to give it up
    assert await store.extend_submit(job, 1_150.0) is False  # the submit must not go out now
    assert (await store.get(job.id)).next_poll_at == 1_000.0 + LEASE  # type: ignore[union-attr]


async def test_an_extended_submit_is_not_given_up(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock, first_poll_at=1_000.0)
    assert await store.extend_submit(job, 1_150.0) is True
    assert await store.claim_due("discord", 1_000.0, 10, poll_lease(1_000.0)) == []
    assert await store.extend_submit(job, 1_200.0) is False  # once: it was extended from a deadline since moved


async def test_claim_due_skips_jobs_not_yet_due(store: JobStore, clock: FakeClock) -> None:
    await add(store, clock, first_poll_at=1_100.0)
    assert await store.claim_due("discord", 1_099.0, 10, poll_lease(1_099.0)) == []
    assert len(await store.claim_due("discord", 1_100.0, 10, poll_lease(1_100.0))) == 1


async def test_claim_due_is_per_origin(store: JobStore, clock: FakeClock) -> None:
    cli_job = await add(store, clock, origin="cli")
    discord_job = await add(store, clock, origin="discord")
    assert [j.id for j in await store.claim_due("discord", 2_000.0, 10, poll_lease(2_000.0))] == [discord_job.id]
    assert [j.id for j in await store.claim_due("cli", 2_000.0, 10, poll_lease(2_000.0))] == [cli_job.id]
    assert await store.claim_due("elsewhere", 2_000.0, 10, poll_lease(2_000.0)) == []


async def test_claim_due_takes_the_earliest_up_to_the_limit(store: JobStore, clock: FakeClock) -> None:
    late = await add(store, clock, first_poll_at=1_030.0)
    early = await add(store, clock, first_poll_at=1_010.0)
    middle = await add(store, clock, first_poll_at=1_020.0)
    first = await store.claim_due("discord", 1_050.0, 2, poll_lease(1_050.0))
    assert {j.id for j in first} == {early.id, middle.id}
    assert [j.id for j in await store.claim_due("discord", 1_050.0, 2, poll_lease(1_050.0))] == [late.id]


async def test_claim_due_ignores_jobs_with_nothing_to_poll(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    await finish(store, job, deliver_at=1_000.0)
    assert await store.claim_due("discord", 10_000.0, 10, poll_lease(10_000.0)) == []


async def test_next_poll_at_per_origin(store: JobStore, clock: FakeClock) -> None:
    assert await store.next_poll_at("discord") is None
    await add(store, clock, first_poll_at=1_300.0)
    soonest = await add(store, clock, first_poll_at=1_200.0)
    await add(store, clock, origin="cli", first_poll_at=1_050.0)
    assert await store.next_poll_at("discord") == 1_200.0
    assert await store.next_poll_at("cli") == 1_050.0
    assert await store.next_poll_at("other") is None
    await save(store, soonest, dataclasses.replace(soonest, next_poll_at=None))
    assert await store.next_poll_at("discord") == 1_300.0


async def test_claim_deliveries_leases_and_counts_attempts(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    assert await store.next_delivery_at("discord") == 1_000.0
    assert await store.next_delivery_at("cli") is None
    claimed = await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0))
    assert [j.id for j in claimed] == [job.id]
    assert claimed[0].delivery_state is DeliveryState.DELIVERING
    assert claimed[0].delivery_attempts == 1
    assert claimed[0].maybe_delivered is False
    assert claimed[0].deliver_at == 1_000.0 + LEASE
    assert await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0)) == []
    assert await store.claim_deliveries("cli", 5_000.0, 10, delivery_lease(5_000.0)) == []


async def test_claim_after_a_cut_off_delivery_says_maybe_delivered(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0))
    # The process stops here: the delivery is neither marked nor retried, so only the lease brings it back.
    assert await store.claim_deliveries("discord", 1_000.0 + LEASE - 1, 10, delivery_lease(1_000.0 + LEASE - 1)) == []
    again = await store.claim_deliveries("discord", 1_000.0 + LEASE, 10, delivery_lease(1_000.0 + LEASE))
    assert [j.id for j in again] == [job.id]
    assert again[0].maybe_delivered is True
    assert again[0].delivery_attempts == 2
    assert again[0].delivery_started_at == 1_000.0  # where the search for the earlier post starts


async def test_retry_delivery_puts_it_back(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    (attempt,) = await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0))
    clock.advance(5)
    retry = lifecycle.delivery_failed(attempt, clock.now)
    at = retry.job.deliver_at
    assert at is not None and at > clock.now
    await store.apply(retry)
    retried = await store.get(job.id)
    assert retried is not None
    assert retried.delivery_state is DeliveryState.PENDING
    assert retried.deliver_at == at
    assert retried.updated_at == clock.now
    assert await store.claim_deliveries("discord", at - 1, 10, delivery_lease(at - 1)) == []
    claimed = await store.claim_deliveries("discord", at, 10, delivery_lease(at))
    assert [j.id for j in claimed] == [job.id]
    assert claimed[0].maybe_delivered is True  # the failed attempt may have posted before its answer was lost
    assert claimed[0].delivery_attempts == 2


async def test_maybe_delivered_survives_a_failed_retry(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0))  # attempt 1: cut off by a crash
    second = await store.claim_deliveries("discord", 1_000.0 + LEASE, 10, delivery_lease(1_000.0 + LEASE))
    assert second[0].maybe_delivered is True
    retry = lifecycle.delivery_failed(second[0], 1_000.0 + LEASE)  # attempt 2 raised before it could check
    await store.apply(retry)
    at = retry.job.deliver_at
    assert at is not None
    third = await store.claim_deliveries("discord", at, 10, delivery_lease(at))
    assert [j.id for j in third] == [job.id]
    assert third[0].maybe_delivered is True


async def test_mark_delivered_is_final(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    (attempt,) = await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0))
    clock.advance(3)
    await store.apply(lifecycle.delivered(attempt, 555, clock.now))
    done = await store.get(job.id)
    assert done is not None
    assert done.delivery_state is DeliveryState.DELIVERED
    assert done.deliver_at is None
    assert done.delivered_at == clock.now
    assert done.result_message_id == 555
    assert await store.claim_deliveries("discord", 1e12, 10, delivery_lease(1e12)) == []
    assert await store.next_delivery_at("discord") is None


async def test_mark_delivered_keeps_an_earlier_message_id(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    await store.apply(lifecycle.delivered(job, 777, 1_001.0))
    stored = await store.get(job.id)
    assert stored is not None
    await store.apply(lifecycle.delivered(stored, None, 1_002.0))
    done = await store.get(job.id)
    assert done is not None
    assert done.result_message_id == 777


async def test_give_up_delivery(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store, clock), deliver_at=1_000.0)
    (attempt,) = await store.claim_deliveries("discord", 1_000.0, 10, delivery_lease(1_000.0))
    await store.apply(lifecycle.give_up_delivery(attempt, "could not post", 1_001.0))
    gave_up = await store.get(job.id)
    assert gave_up is not None
    assert gave_up.delivery_state is DeliveryState.FAILED
    assert gave_up.deliver_at is None
    assert gave_up.error_message == "could not post"
    assert await store.claim_deliveries("discord", 1e12, 10, delivery_lease(1e12)) == []


async def test_give_up_delivery_keeps_the_jobs_own_error(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    done = await finish(store, job, deliver_at=1_000.0)
    failed = dataclasses.replace(
        done,
        status=JobStatus.FAILED,
        error_kind=ErrorKind.TIMED_OUT,
        error_message="took too long",
    )
    await save(store, done, failed)
    await store.apply(lifecycle.give_up_delivery(failed, "could not post", 1_001.0))
    gave_up = await store.get(job.id)
    assert gave_up is not None
    assert gave_up.error_message == "took too long"


async def test_a_failure_reason_keeps_its_message_and_values_and_an_older_row_its_english(
    database_location: Path | str, clock: FakeClock
) -> None:
    db = await open_database(database_location)
    try:
        store = JobStore(db, clock)
        for reason in (PAUSED_REASON, COUNTED_REASON):
            job = await add(store, clock)
            failed = lifecycle.fail(job, ErrorKind.UNAVAILABLE, reason, 1_010.0)
            await store.apply(failed)
            assert await store.get(job.id) == failed.job
            assert failed.job.error_text == reason and failed.job.error_message == str(reason)
        row = await db.fetchone("SELECT error_text FROM jobs WHERE id = ?", (job.id,))
        assert row is not None
        assert json.loads(row["error_text"]) == {
            "id": "Please wait {count} more second before starting another video.",
            "plural": "",
            "count": 5,
            "fields": {"count": 5},
        }
        # A job that failed before the reason was kept with its values (migration 0017) has its English only.
        await db.execute("UPDATE jobs SET error_text = NULL WHERE id = ?", (job.id,))
        older = await store.get(job.id)
        assert older is not None and older.error_text is None and older.error_message == str(COUNTED_REASON)
    finally:
        await db.close()


async def test_set_discord_refs_only_overwrites_given_values(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, clock)
    await store.set_discord_refs(job.id, thread_id=111, status_message_id=222)
    await store.set_discord_refs(job.id, status_message_id=333)
    refs = await store.get(job.id)
    assert refs is not None
    assert (refs.thread_id, refs.status_message_id) == (111, 333)


async def test_list_by_requester_newest_first_with_limit(store: JobStore, clock: FakeClock) -> None:
    made = []
    for i in range(5):
        clock.advance(10)
        made.append(await add(store, clock, prompt=f"prompt {i}"))
    await add(store, clock, requester_id=99)
    listed = await store.list_by_requester(7, 42, limit=3)
    assert [j.id for j in listed] == [made[4].id, made[3].id, made[2].id]
    assert len(await store.list_by_requester(7, 99)) == 1
    assert await store.list_by_requester(7, 12345) == []
    assert await store.list_by_requester(8, 42) == []  # another server's jobs are not listed


async def test_list_by_requester_orders_same_second_jobs_by_insertion(store: JobStore, clock: FakeClock) -> None:
    made = [await add(store, clock) for _ in range(3)]
    listed = await store.list_by_requester(7, 42)
    assert [j.id for j in listed] == [j.id for j in reversed(made)]


async def test_list_unfinished_and_count_by_status(store: JobStore, clock: FakeClock) -> None:
    older = await add(store, clock)
    clock.advance(1)
    newer = await add(store, clock)
    clock.advance(1)
    done = await add(store, clock)
    await finish(store, done, deliver_at=clock.now)
    unfinished = await store.list_unfinished_by_requester(7, 42)
    assert await store.list_unfinished_by_requester(8, 42) == []
    assert [j.id for j in unfinished] == [older.id, newer.id]
    counts = await store.count_by_status()
    assert {status: n for (status, _model), n in counts.items()} == {JobStatus.SUBMITTING: 2, JobStatus.SUCCEEDED: 1}


async def test_in_progress_of_origin_lists_undelivered_jobs_of_that_origin_oldest_first(
    store: JobStore, clock: FakeClock
) -> None:
    older = await add(store, clock, origin="cli")
    clock.advance(1)
    undelivered = await add(store, clock, origin="cli")
    await finish(store, undelivered, deliver_at=clock.now)
    clock.advance(1)
    await add(store, clock, origin="discord")
    delivered = await add(store, clock, origin="cli")
    finished = await finish(store, delivered, deliver_at=clock.now)
    await save(store, finished, dataclasses.replace(finished, delivery_state=DeliveryState.DELIVERED))

    assert [j.id for j in await store.in_progress_of_origin("cli")] == [older.id, undelivered.id]
    assert await store.in_progress_of_origin("elsewhere") == []


async def test_planned_polls_are_the_running_jobs_on_their_refresh_schedule(store: JobStore, clock: FakeClock) -> None:
    changes: list[dict[str, object]] = [
        {"status": JobStatus.RUNNING, "next_poll_at": 1_020.0},
        {"status": JobStatus.RUNNING, "next_poll_at": 1_020.0, "poll_errors": 2},  # backing off
        {"status": JobStatus.RUNNING, "next_poll_at": 1_020.0, "slow_notified": True},
        {"status": JobStatus.QUEUED, "next_poll_at": 990.0},  # overdue
    ]
    jobs = []
    for change in changes:
        added = await add(store, clock)
        jobs.append(dataclasses.replace(added, **change))  # type: ignore[arg-type]
        await save(store, added, jobs[-1])
    assert [job.id for job in await store.planned_polls("discord", 1_000.0)] == [jobs[0].id]
    assert await store.planned_polls("elsewhere", 1_000.0) == []


async def test_replan_moves_only_polls_still_as_planned(store: JobStore, clock: FakeClock) -> None:
    first, second = await add(store, clock), await add(store, clock)
    kept = dataclasses.replace(first, status=JobStatus.RUNNING, next_poll_at=1_020.0)
    claimed = dataclasses.replace(second, status=JobStatus.RUNNING, next_poll_at=1_030.0)
    await save(store, first, kept)
    await save(store, second, claimed)
    await save(store, claimed, dataclasses.replace(claimed, next_poll_at=1_090.0))  # claimed (leased) meanwhile
    await store.replan_polls([(kept.id, 1_020.0, 1_012.5), (claimed.id, 1_030.0, 1_011.0)])
    assert (await store.get(kept.id)).next_poll_at == 1_012.5  # type: ignore[union-attr]
    assert (await store.get(claimed.id)).next_poll_at == 1_090.0  # type: ignore[union-attr]


async def test_gateway_clock_is_kept_in_meta(store: JobStore) -> None:
    assert await store.gateway_clock() is None
    await store.save_gateway_clock({"period": 15.0, "start": 1.5, "end": 2.0})
    assert await store.gateway_clock() == {"period": 15.0, "start": 1.5, "end": 2.0}
    learnt = {"period": 15.0, "learnt_period": 29.5, "gaps": [[120.0, 28.0, 31.0]]}
    await store.save_gateway_clock(learnt)
    assert await store.gateway_clock() == learnt
    await store.set_meta("gateway_clock", "not json")
    assert await store.gateway_clock() is None
    await store.set_meta("gateway_clock", "[15.0]")
    assert await store.gateway_clock() is None


async def test_a_job_id_already_taken_draws_another(
    store: JobStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await add(store, clock)
    draws = iter([first.id, first.id, "fresh234"])  # the random ids: twice one that is taken
    monkeypatch.setattr(store_module, "new_job_id", lambda: next(draws))
    second = await add(store, clock)
    assert second.id == "fresh234"
    assert await store.get(first.id) == first


async def delivered(store: JobStore, clock: FakeClock) -> Job:
    """A job made and delivered."""
    job = await finish(store, await add(store, clock), clock.now)
    done = dataclasses.replace(job, delivery_state=DeliveryState.DELIVERED)
    await save(store, job, done)
    return done


async def test_housekeeping_deletes_what_a_takedown_left_of_recent_jobs_only(
    store: JobStore, clock: FakeClock, tmp_path: Path
) -> None:
    media = LocalMedia(tmp_path / "results")
    media.working_dir.mkdir()
    long_ago, gone, kept = [await delivered(store, clock) for _ in range(3)]
    await store.mark_result_deleted(long_ago.id)
    clock.advance(8 * DAY)
    await store.mark_result_deleted(gone.id)
    for job in (long_ago, gone, kept):
        for suffix in retention.JOB_FILE_SUFFIXES:
            (media.working_dir / f"{job.id}{suffix}").write_bytes(b"video")
    assert await store.taken_down_since(clock.now - 7 * DAY) == {gone.id}

    keeper = Housekeeper(
        store, Metrics(runtime=False), media, retention_seconds=7 * DAY, max_bytes=1 << 40, clock=clock
    )
    report = await keeper.run_once()
    assert report.deleted_jobs == (gone.id,)
    left = {path.name.split(".")[0] for path in media.working_dir.iterdir()}
    assert left == {long_ago.id, kept.id}  # a takedown that old had its files deleted by age already
