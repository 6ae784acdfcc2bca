"""Status message edits: newest state only, one edit per job per interval, a shared budget per channel;
final states first, nothing while a result is being posted, no channel holding up another, and no progress edit
left standing over the final state another process showed."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain import DeliveryState, Job, JobStatus, Transition
from bot.front import render
from bot.front.progress import CHANNEL_EDITS_PER_WINDOW, JOB_EDIT_INTERVAL_SECONDS, StatusEditor
from bot.storage import JobStore
from tests.jobs import fresh_job


class FakeMessage:
    """Records edits instead of calling Discord; an edit in a held channel waits until the channel is released."""

    def __init__(self, client: FakeClient, channel_id: int, message_id: int) -> None:
        self._client = client
        self._channel_id = channel_id
        self._id = message_id

    async def edit(self, **fields: Any) -> None:
        gate = self._client.held.get(self._channel_id)
        if gate is not None:
            self._client.waiting.set()
            await gate.wait()
        self._client.edits.append((self._id, fields["embed"].fields[-1].value))
        self._client.edited.set()


class FakeChannel:
    def __init__(self, client: FakeClient, channel_id: int) -> None:
        self._client = client
        self._channel_id = channel_id

    def get_partial_message(self, message_id: int) -> FakeMessage:
        return FakeMessage(self._client, self._channel_id, message_id)


class FakeClient:
    def __init__(self) -> None:
        self.edits: list[tuple[int, str]] = []
        self.held: dict[int, asyncio.Event] = {}
        self.waiting = asyncio.Event()  # set once an edit waits in a held channel
        self.edited = asyncio.Event()

    def get_partial_messageable(self, channel_id: int) -> FakeChannel:
        return FakeChannel(self, channel_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def job(number: int, progress: int, channel: int = 1) -> Job:
    return fresh_job(
        id=f"job{number:05d}",
        origin="discord",
        requester_id=7,
        guild_id=3,
        channel_id=channel,
        status_message_id=100 + number,
        task_id="task_x",
        status=JobStatus.RUNNING,
        remote_status="in_progress",
        progress=progress,
        submitted_at=900.0,
    )


async def test_only_the_newest_state_is_edited_and_at_most_once_per_interval() -> None:
    client, clock = FakeClient(), Clock()
    editor = StatusEditor(client, clock)  # type: ignore[arg-type]
    for progress in (10, 20, 30):
        await editor.on_change(job(1, progress), became_slow=False)
    await editor.edit_due()
    assert len(client.edits) == 1 and "30%" in client.edits[0][1]

    await editor.on_change(job(1, 40), became_slow=False)
    wait = await editor.edit_due()
    assert len(client.edits) == 1 and wait == JOB_EDIT_INTERVAL_SECONDS
    clock.now += JOB_EDIT_INTERVAL_SECONDS
    await editor.edit_due()
    assert len(client.edits) == 2 and "40%" in client.edits[1][1]


async def test_many_jobs_in_one_channel_share_its_budget_and_none_is_lost() -> None:
    client, clock = FakeClient(), Clock()
    editor = StatusEditor(client, clock)  # type: ignore[arg-type]
    for number in range(10):
        await editor.on_change(job(number, 50), became_slow=False)
    await editor.on_change(job(99, 50, channel=2), became_slow=False)

    await editor.edit_due()
    in_channel_one = [m for m, _ in client.edits if m != 199]
    assert len(in_channel_one) == CHANNEL_EDITS_PER_WINDOW
    assert 199 in [m for m, _ in client.edits]  # another channel is not held up
    for _ in range(5):
        clock.now += 5.0
        await editor.edit_due()
    assert sorted(m for m, _ in client.edits) == sorted([100 + n for n in range(10)] + [199])


async def test_finished_jobs_and_jobs_without_a_status_message_are_not_edited() -> None:
    client, clock = FakeClient(), Clock()
    editor = StatusEditor(client, clock)  # type: ignore[arg-type]
    await editor.on_change(dataclasses.replace(job(1, 100), status=JobStatus.SUCCEEDED), became_slow=False)
    await editor.on_change(dataclasses.replace(job(2, 10), status_message_id=None), became_slow=False)
    await editor.on_change(job(3, 10), became_slow=False)
    editor.forget("job00003")
    await editor.edit_due()
    assert client.edits == []


def finished(number: int, channel: int = 1) -> Job:
    return dataclasses.replace(job(number, 100, channel), status=JobStatus.SUCCEEDED)


def final_embed(job: Job) -> Any:
    return render.status_embed(job, result_link=f"https://discord.test/result/{job.id}")


async def test_a_final_state_goes_before_progress_edits_and_is_not_held_by_the_job_interval() -> None:
    client, clock = FakeClient(), Clock()
    editor = StatusEditor(client, clock)  # type: ignore[arg-type]
    await editor.on_change(job(1, 50), became_slow=False)
    await editor.edit_due()  # job 1 was just edited: its next progress edit would wait the interval
    for number in range(2, 2 + CHANNEL_EDITS_PER_WINDOW):
        await editor.on_change(job(number, 50), became_slow=False)
    await editor.on_change(job(1, 60), became_slow=False)

    finishing = asyncio.create_task(editor.finish(finished(1), embed=final_embed(finished(1))))
    await asyncio.sleep(0)  # let it register
    await editor.on_change(job(1, 70), became_slow=False)  # a late progress report must not replace it
    await editor.edit_due()
    await finishing  # returns once the edit was made

    assert client.edits[1] == (101, "[Open the video](https://discord.test/result/job00001)")
    assert len(client.edits) == CHANNEL_EDITS_PER_WINDOW  # the channel's budget, the final state first


async def test_no_edit_starts_while_a_result_is_being_posted() -> None:
    client, clock = FakeClient(), Clock()
    editor = StatusEditor(client, clock)  # type: ignore[arg-type]
    async with editor.posting():
        await editor.on_change(job(1, 50), became_slow=False)
        assert await editor.edit_due() is None
        assert client.edits == []
    await editor.edit_due()
    assert [message for message, _ in client.edits] == [101]


async def test_a_channel_whose_edit_waits_does_not_hold_up_another_channel() -> None:
    client, clock = FakeClient(), Clock()
    editor = StatusEditor(client, clock)  # type: ignore[arg-type]
    client.held[1] = asyncio.Event()  # channel 1's edit waits, as for an exhausted rate limit bucket
    running = asyncio.create_task(editor.run())
    try:
        await editor.on_change(job(1, 50, channel=1), became_slow=False)
        await editor.on_change(job(2, 50, channel=2), became_slow=False)
        await editor.on_change(job(3, 50, channel=1), became_slow=False)
        done = asyncio.create_task(editor.finish(finished(4, channel=2), embed=final_embed(finished(4, channel=2))))
        await asyncio.wait_for(done, timeout=10)
        assert sorted(message for message, _ in client.edits) == [102, 104]  # channel 1 still waits
        client.held[1].set()
        async with asyncio.timeout(10):
            while len(client.edits) < 4:
                client.edited.clear()
                await client.edited.wait()
        assert sorted(message for message, _ in client.edits) == [101, 102, 103, 104]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    """The jobs, as every process sees them."""
    opened = await JobStore.open(tmp_path / "jobs.sqlite3", time.time)
    yield opened
    await opened.close()


async def test_a_job_another_process_finished_gets_no_progress_edit(store: JobStore) -> None:
    client = FakeClient()
    editor = StatusEditor(client, store=store)  # type: ignore[arg-type]
    running = await store.add(job(1, 50))
    await store.apply(Transition(running, dataclasses.replace(running, status=JobStatus.SUCCEEDED)))
    await editor.on_change(running, became_slow=False)  # told of a state the store has moved past
    await editor.edit_due()
    assert client.edits == []


async def test_a_progress_edit_landing_after_another_process_showed_the_final_state_puts_it_back(
    store: JobStore,
) -> None:
    client = FakeClient()
    editor = StatusEditor(client, store=store)  # type: ignore[arg-type]
    running = await store.add(job(1, 50))
    client.held[1] = asyncio.Event()  # the progress edit is held back, as by a rate limit
    editing = asyncio.create_task(editor.run())
    try:
        await editor.on_change(running, became_slow=False)
        await asyncio.wait_for(client.waiting.wait(), timeout=10)
        # Meanwhile another process finishes the job, posts the result, shows the final state and records it.
        await store.set_result_channel(running.id, 1)
        delivered = dataclasses.replace(
            running, status=JobStatus.SUCCEEDED, delivery_state=DeliveryState.DELIVERED, result_message_id=555
        )
        await store.apply(Transition(running, delivered))
        client.edits.append((101, "the final state, from another process"))
        client.held[1].set()  # the held progress edit lands now, over it
        final = "[Open the video](https://discord.com/channels/3/1/555)"
        async with asyncio.timeout(10):
            while client.edits[-1] != (101, final):
                client.edited.clear()
                await client.edited.wait()
        assert len(client.edits) == 3 and "50%" in client.edits[1][1]  # the late progress edit, then the fix
    finally:
        editing.cancel()
        await asyncio.gather(editing, return_exceptions=True)


async def test_a_progress_edit_landing_after_a_cancelled_job_was_shown_puts_the_cancellation_back(
    store: JobStore,
) -> None:
    client = FakeClient()
    editor = StatusEditor(client, store=store)  # type: ignore[arg-type]
    running = await store.add(job(1, 50))
    client.held[1] = asyncio.Event()
    editing = asyncio.create_task(editor.run())
    try:
        await editor.on_change(running, became_slow=False)
        await asyncio.wait_for(client.waiting.wait(), timeout=10)
        # Meanwhile a member cancels it and another process shows that: nothing is posted, so there is no link.
        cancelled = dataclasses.replace(
            running,
            status=JobStatus.CANCELLED,
            delivery_state=DeliveryState.DELIVERED,
            cancelled_by=42,
            cancelled_at=1000.0,
        )
        await store.apply(Transition(running, cancelled))
        client.edits.append((101, "the cancellation, from another process"))
        client.held[1].set()
        final = render.cancelled_text(cancelled)
        async with asyncio.timeout(10):
            while client.edits[-1] != (101, final):
                client.edited.clear()
                await client.edited.wait()
        assert len(client.edits) == 3 and "50%" in client.edits[1][1]
        assert "Cancelled by <@42>" in final
    finally:
        editing.cancel()
        await asyncio.gather(editing, return_exceptions=True)
