"""JobStore on a real SQLite file: persistence, leases, delivery bookkeeping."""

from __future__ import annotations

import dataclasses
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
    WireFormat,
)
from bot.storage import JobStore
from bot.storage.migrate import bundled_migrations
from tests.helpers import FakeClock

LEASE = 60.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[JobStore]:
    opened = await JobStore.open(tmp_path / "db" / "jobs.sqlite3", clock)
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
    *,
    first_poll_at: float = 1_000.0,
    origin: str = "discord",
    requester_id: int | None = 42,
    prompt: str = "a cat on a skateboard",
    images: int = 0,
) -> Job:
    new = new_job(origin=origin, requester_id=requester_id, prompt=prompt, images=images)
    return await store.add(new, WireFormat.OPENAI, first_poll_at=first_poll_at)


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
    await store.save(done)
    return done


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_open_twice_keeps_data_and_schema_version(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "jobs.sqlite3"
    first = await JobStore.open(path, clock)
    try:
        job = await add(first)
    finally:
        await first.close()
    second = await JobStore.open(path, clock)
    try:
        assert await second.get(job.id) == job
    finally:
        await second.close()
    assert user_version(path) == len(bundled_migrations()) >= 1


async def test_journal_mode_is_wal(store: JobStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "db" / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_check_writable(store: JobStore) -> None:
    await store.check_writable()


async def test_add_stores_a_submitting_job(store: JobStore, clock: FakeClock) -> None:
    job = await add(store, first_poll_at=1_120.0, images=2)
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
    assert (job.poll_count, job.attempts, job.delivery_attempts) == (0, 0, 0)
    assert job.maybe_delivered is False
    assert job.slow_notified is False


async def test_ids_are_distinct(store: JobStore) -> None:
    ids = {(await add(store)).id for _ in range(20)}
    assert len(ids) == 20


async def test_get_unknown_is_none(store: JobStore) -> None:
    assert await store.get("nosuchid") is None
    assert await store.find("nosuchid") is None


async def test_find_by_bot_id_ignores_case_and_spaces(store: JobStore) -> None:
    job = await add(store)
    assert await store.find(job.id) == job
    assert await store.find(f"  {job.id.upper()} ") == job


async def test_find_by_task_id_is_exact(store: JobStore) -> None:
    job = await add(store)
    saved = dataclasses.replace(job, task_id="Video_AbC123", status=JobStatus.QUEUED)
    await store.save(saved)
    assert await store.find("Video_AbC123") == saved
    assert await store.find(" Video_AbC123 ") == saved
    assert await store.find("video_abc123") is None


async def test_save_round_trips_every_field(store: JobStore, clock: FakeClock) -> None:
    job = await add(store)
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
        attempts=2,
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
    await store.save(changed)
    assert await store.get(job.id) == changed


async def test_save_can_clear_optional_fields(store: JobStore) -> None:
    job = await add(store)
    await store.save(dataclasses.replace(job, error_kind=ErrorKind.LOST, error_message="gone", progress=5))
    cleared = dataclasses.replace(job, error_kind=None, error_message=None, progress=None, next_poll_at=None)
    await store.save(cleared)
    assert await store.get(job.id) == cleared


async def test_claim_due_leases_jobs(store: JobStore) -> None:
    job = await add(store, first_poll_at=1_000.0)
    claimed = await store.claim_due("discord", 1_000.0, 10, LEASE)
    assert [j.id for j in claimed] == [job.id]
    assert claimed[0].next_poll_at == 1_000.0 + LEASE
    assert await store.claim_due("discord", 1_000.0, 10, LEASE) == []
    assert await store.claim_due("discord", 1_000.0 + LEASE - 0.5, 10, LEASE) == []
    again = await store.claim_due("discord", 1_000.0 + LEASE, 10, LEASE)
    assert [j.id for j in again] == [job.id]


async def test_a_submit_cannot_extend_a_job_the_poller_took_to_give_up(store: JobStore) -> None:
    job = await add(store, first_poll_at=1_000.0)  # its submit's deadline has come
    assert [j.id for j in await store.claim_due("discord", 1_000.0, 10, LEASE)] == [job.id]  # to give it up
    assert await store.extend_submit(job, 1_150.0) is False  # the submit must not go out now
    assert (await store.get(job.id)).next_poll_at == 1_000.0 + LEASE  # type: ignore[union-attr]


async def test_an_extended_submit_is_not_given_up(store: JobStore) -> None:
    job = await add(store, first_poll_at=1_000.0)
    assert await store.extend_submit(job, 1_150.0) is True
    assert await store.claim_due("discord", 1_000.0, 10, LEASE) == []
    assert await store.extend_submit(job, 1_200.0) is False  # once: it was extended from a deadline since moved


async def test_claim_due_skips_jobs_not_yet_due(store: JobStore) -> None:
    await add(store, first_poll_at=1_100.0)
    assert await store.claim_due("discord", 1_099.0, 10, LEASE) == []
    assert len(await store.claim_due("discord", 1_100.0, 10, LEASE)) == 1


async def test_claim_due_is_per_origin(store: JobStore) -> None:
    cli_job = await add(store, origin="cli")
    discord_job = await add(store, origin="discord")
    assert [j.id for j in await store.claim_due("discord", 2_000.0, 10, LEASE)] == [discord_job.id]
    assert [j.id for j in await store.claim_due("cli", 2_000.0, 10, LEASE)] == [cli_job.id]
    assert await store.claim_due("elsewhere", 2_000.0, 10, LEASE) == []


async def test_claim_due_takes_the_earliest_up_to_the_limit(store: JobStore) -> None:
    late = await add(store, first_poll_at=1_030.0)
    early = await add(store, first_poll_at=1_010.0)
    middle = await add(store, first_poll_at=1_020.0)
    first = await store.claim_due("discord", 1_050.0, 2, LEASE)
    assert {j.id for j in first} == {early.id, middle.id}
    assert [j.id for j in await store.claim_due("discord", 1_050.0, 2, LEASE)] == [late.id]


async def test_claim_due_ignores_jobs_with_nothing_to_poll(store: JobStore) -> None:
    job = await add(store)
    await finish(store, job, deliver_at=1_000.0)
    assert await store.claim_due("discord", 10_000.0, 10, LEASE) == []


async def test_next_poll_at_per_origin(store: JobStore) -> None:
    assert await store.next_poll_at("discord") is None
    await add(store, first_poll_at=1_300.0)
    soonest = await add(store, first_poll_at=1_200.0)
    await add(store, origin="cli", first_poll_at=1_050.0)
    assert await store.next_poll_at("discord") == 1_200.0
    assert await store.next_poll_at("cli") == 1_050.0
    assert await store.next_poll_at("other") is None
    await store.save(dataclasses.replace(soonest, next_poll_at=None))
    assert await store.next_poll_at("discord") == 1_300.0


async def test_claim_deliveries_leases_and_counts_attempts(store: JobStore) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    assert await store.next_delivery_at("discord") == 1_000.0
    assert await store.next_delivery_at("cli") is None
    claimed = await store.claim_deliveries("discord", 1_000.0, 10, LEASE)
    assert [j.id for j in claimed] == [job.id]
    assert claimed[0].delivery_state is DeliveryState.DELIVERING
    assert claimed[0].delivery_attempts == 1
    assert claimed[0].maybe_delivered is False
    assert claimed[0].deliver_at == 1_000.0 + LEASE
    assert await store.claim_deliveries("discord", 1_000.0, 10, LEASE) == []
    assert await store.claim_deliveries("cli", 5_000.0, 10, LEASE) == []


async def test_claim_after_a_cut_off_delivery_says_maybe_delivered(store: JobStore) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, LEASE)
    # The process stops here: the delivery is neither marked nor retried, so only the lease brings it back.
    assert await store.claim_deliveries("discord", 1_000.0 + LEASE - 1, 10, LEASE) == []
    again = await store.claim_deliveries("discord", 1_000.0 + LEASE, 10, LEASE)
    assert [j.id for j in again] == [job.id]
    assert again[0].maybe_delivered is True
    assert again[0].delivery_attempts == 2
    assert again[0].delivery_started_at == 1_000.0  # where the search for the earlier post starts


async def test_retry_delivery_puts_it_back(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, LEASE)
    clock.advance(5)
    await store.retry_delivery(job.id, at=1_030.0)
    retried = await store.get(job.id)
    assert retried is not None
    assert retried.delivery_state is DeliveryState.PENDING
    assert retried.deliver_at == 1_030.0
    assert retried.updated_at == clock.now
    assert await store.claim_deliveries("discord", 1_029.0, 10, LEASE) == []
    claimed = await store.claim_deliveries("discord", 1_030.0, 10, LEASE)
    assert [j.id for j in claimed] == [job.id]
    assert claimed[0].maybe_delivered is True  # the failed attempt may have posted before its answer was lost
    assert claimed[0].delivery_attempts == 2


async def test_maybe_delivered_survives_a_failed_retry(store: JobStore) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, LEASE)  # attempt 1: cut off by a crash
    second = await store.claim_deliveries("discord", 1_000.0 + LEASE, 10, LEASE)
    assert second[0].maybe_delivered is True
    await store.retry_delivery(job.id, at=1_100.0)  # attempt 2 raised before it could check
    third = await store.claim_deliveries("discord", 1_100.0, 10, LEASE)
    assert [j.id for j in third] == [job.id]
    assert third[0].maybe_delivered is True


async def test_mark_delivered_is_final(store: JobStore, clock: FakeClock) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, LEASE)
    clock.advance(3)
    await store.mark_delivered(job.id, result_message_id=555)
    done = await store.get(job.id)
    assert done is not None
    assert done.delivery_state is DeliveryState.DELIVERED
    assert done.deliver_at is None
    assert done.delivered_at == clock.now
    assert done.result_message_id == 555
    assert await store.claim_deliveries("discord", 1e12, 10, LEASE) == []
    assert await store.next_delivery_at("discord") is None


async def test_mark_delivered_keeps_an_earlier_message_id(store: JobStore) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    await store.mark_delivered(job.id, result_message_id=777)
    await store.mark_delivered(job.id)
    done = await store.get(job.id)
    assert done is not None
    assert done.result_message_id == 777


async def test_give_up_delivery(store: JobStore) -> None:
    job = await finish(store, await add(store), deliver_at=1_000.0)
    await store.claim_deliveries("discord", 1_000.0, 10, LEASE)
    await store.give_up_delivery(job.id, "could not post")
    gave_up = await store.get(job.id)
    assert gave_up is not None
    assert gave_up.delivery_state is DeliveryState.FAILED
    assert gave_up.deliver_at is None
    assert gave_up.error_message == "could not post"
    assert await store.claim_deliveries("discord", 1e12, 10, LEASE) == []


async def test_give_up_delivery_keeps_the_jobs_own_error(store: JobStore) -> None:
    job = await add(store)
    failed = dataclasses.replace(
        await finish(store, job, deliver_at=1_000.0),
        status=JobStatus.FAILED,
        error_kind=ErrorKind.TIMED_OUT,
        error_message="took too long",
    )
    await store.save(failed)
    await store.give_up_delivery(job.id, "could not post")
    gave_up = await store.get(job.id)
    assert gave_up is not None
    assert gave_up.error_message == "took too long"


async def test_set_discord_refs_only_overwrites_given_values(store: JobStore) -> None:
    job = await add(store)
    await store.set_discord_refs(job.id, thread_id=111, status_message_id=222)
    await store.set_discord_refs(job.id, status_message_id=333)
    refs = await store.get(job.id)
    assert refs is not None
    assert (refs.thread_id, refs.status_message_id) == (111, 333)


async def test_list_by_requester_newest_first_with_limit(store: JobStore, clock: FakeClock) -> None:
    made = []
    for i in range(5):
        clock.advance(10)
        made.append(await add(store, prompt=f"prompt {i}"))
    await add(store, requester_id=99)
    listed = await store.list_by_requester(7, 42, limit=3)
    assert [j.id for j in listed] == [made[4].id, made[3].id, made[2].id]
    assert len(await store.list_by_requester(7, 99)) == 1
    assert await store.list_by_requester(7, 12345) == []
    assert await store.list_by_requester(8, 42) == []  # another server's jobs are not listed


async def test_list_by_requester_orders_same_second_jobs_by_insertion(store: JobStore) -> None:
    made = [await add(store) for _ in range(3)]
    listed = await store.list_by_requester(7, 42)
    assert [j.id for j in listed] == [j.id for j in reversed(made)]


async def test_list_unfinished_and_count_by_status(store: JobStore, clock: FakeClock) -> None:
    older = await add(store)
    clock.advance(1)
    newer = await add(store)
    clock.advance(1)
    done = await add(store)
    await finish(store, done, deliver_at=clock.now)
    unfinished = await store.list_unfinished_by_requester(7, 42)
    assert await store.list_unfinished_by_requester(8, 42) == []
    assert [j.id for j in unfinished] == [older.id, newer.id]
    counts = await store.count_by_status()
    assert {status: n for (status, _model), n in counts.items()} == {JobStatus.SUBMITTING: 2, JobStatus.SUCCEEDED: 1}
