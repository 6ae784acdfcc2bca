"""Status message edits: newest state only, one edit per job per interval, a shared budget per channel."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.domain import Job, JobStatus
from bot.front.progress import CHANNEL_EDITS_PER_WINDOW, JOB_EDIT_INTERVAL_SECONDS, StatusEditor
from tests.jobs import fresh_job


class FakeMessage:
    """Records edits instead of calling Discord."""

    def __init__(self, log: list[tuple[int, str]], message_id: int) -> None:
        self._log = log
        self._id = message_id

    async def edit(self, **fields: Any) -> None:
        self._log.append((self._id, fields["embed"].fields[-1].value))


class FakeChannel:
    def __init__(self, log: list[tuple[int, str]]) -> None:
        self._log = log

    def get_partial_message(self, message_id: int) -> FakeMessage:
        return FakeMessage(self._log, message_id)


class FakeClient:
    def __init__(self) -> None:
        self.edits: list[tuple[int, str]] = []

    def get_partial_messageable(self, channel_id: int) -> FakeChannel:
        return FakeChannel(self.edits)


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
