"""Cancelling: credits back or committed with no strike, one winner against a completion (on a real database),
and how cancelled jobs are shown and counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from bot.domain import ErrorKind, Job, JobStatus, NewJob, RemoteState, SubmitResult, TaskSnapshot, Transition
from bot.engine import Engine
from bot.errors import UserFacingError
from bot.front import render
from bot.media.store import LocalMedia
from bot.metrics import Metrics
from bot.services import lifecycle
from bot.services.housekeeping import Housekeeper
from bot.services.jobs import SentMeanwhile
from bot.services.phase import PollTiming
from bot.storage.guilds import LedgerKind
from tests.conftest import DatabaseFactory
from tests.helpers import FakeClock
from tests.jobs import fresh_job
from tests.quotarig import GUILD, START, USER, Rig, count, make_settings, open_rig, submit, usage

POLICY = lifecycle.PollPolicy(
    timing=PollTiming(period=15.0, min_interval=5.0, max_interval=30.0),
    notice_after_seconds=600.0,
    timeout_after_seconds=3600.0,
)
MODERATOR = 99
HOLDER = "test:1:cancel"


@pytest.fixture
async def rig(new_database: DatabaseFactory) -> AsyncIterator[Rig]:
    """A rig on each backend in turn (SQLite, then PostgreSQL)."""
    opened = await open_rig(await new_database(), FakeClock(START), make_settings(MAX_JOBS_PER_USER=1))
    try:
        yield opened
    finally:
        await opened.db.close()


async def running(rig: Rig) -> Job:
    """A member's 4-credit job the gateway took, as the store holds it."""
    job = await submit(rig, 4)
    accepted = SubmitResult("task-1", TaskSnapshot(state=RemoteState.RUNNING, raw_status="in_progress", progress=10))
    sent = lifecycle.after_submit(job, accepted, rig.clock(), POLICY)
    await rig.jobs.apply(sent)
    return sent.job


async def state_of(rig: Rig, job_id: str) -> tuple[str, list[LedgerKind], int]:
    """The job's reservation state, its ledger rows and the member's strikes."""
    reserved = str(await rig.db.scalar("SELECT state FROM reservations WHERE job_id = ?", (job_id,)))
    rows = await rig.db.fetchall("SELECT kind FROM ledger WHERE job_id = ? ORDER BY id", (job_id,))
    strikes = await count(rig, "SELECT COUNT(*) FROM strikes WHERE guild_id = ? AND user_id = ?", (GUILD, USER))
    return reserved, [LedgerKind(row[0]) for row in rows], strikes


async def test_a_job_not_yet_sent_is_cancelled_with_every_credit_back(rig: Rig) -> None:
    job = await submit(rig, 4)
    assert (await usage(rig)).user_in_flight == 1
    rig.clock.advance(2)
    await rig.jobs.apply(lifecycle.cancel(job, USER, rig.clock()))

    stored = await rig.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and stored.cancelled_by == USER
    assert await state_of(rig, job.id) == ("refunded", [LedgerKind.RESERVE, LedgerKind.REFUND], 0)
    spent = await usage(rig)
    assert (spent.user_today, spent.user_in_flight) == (0, 0)
    # A sender that had not got to it yet does not send it.
    assert not await rig.jobs.extend_submit(job, rig.clock() + 60)


async def test_a_started_job_is_cancelled_with_its_credits_committed_and_its_slot_freed(rig: Rig) -> None:
    job = await running(rig)
    rig.clock.advance(30)
    assert await rig.jobs.apply(lifecycle.cancel(job, MODERATOR, rig.clock())) == 4.0

    stored = await rig.jobs.get(job.id)
    assert stored is not None and (stored.status, stored.cancelled_by) == (JobStatus.CANCELLED, MODERATOR)
    assert stored.next_poll_at is None
    assert (
        await rig.jobs.claim_due("discord", rig.clock() + 3600, 10, lambda j: lifecycle.lease_poll(j, 0, holder=HOLDER))
        == []
    )
    assert await state_of(rig, job.id) == ("committed", [LedgerKind.RESERVE, LedgerKind.COMMIT], 0)
    spent = await usage(rig)
    assert (spent.user_today, spent.user_in_flight, spent.guild_in_flight) == (4, 0, 0)
    assert await rig.jobs.list_unfinished_by_requester(GUILD, USER) == []


def finishing(job: Job, rig: Rig, how: str) -> Transition:
    """The poller's outcome for a poll it claimed before the cancel: the video, or a content refusal."""
    if how == "video":
        return lifecycle.downloaded(job, "/results/video.mp4", 1234, rig.clock())
    return lifecycle.fail(job, ErrorKind.CONTENT_POLICY, "refused", rig.clock())


@pytest.mark.parametrize("how", ["video", "refusal"])
async def test_a_cancel_that_lands_first_wins_over_the_polls_outcome(rig: Rig, how: str) -> None:
    job = await running(rig)
    polled = finishing(job, rig, how)  # the poll was under way when the member cancelled
    await rig.jobs.apply(lifecycle.cancel(job, USER, rig.clock()))
    assert await rig.jobs.apply(polled) == 0.0  # too late: not recorded, nothing settled again

    stored = await rig.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and stored.result_path is None
    assert await state_of(rig, job.id) == ("committed", [LedgerKind.RESERVE, LedgerKind.COMMIT], 0)


@pytest.mark.parametrize("how", ["video", "refusal"])
async def test_an_outcome_that_lands_first_wins_over_the_cancel(rig: Rig, how: str) -> None:
    job = await running(rig)
    cancel = lifecycle.cancel(job, USER, rig.clock())
    await rig.jobs.apply(finishing(job, rig, how))
    assert await rig.jobs.apply(cancel) == 0.0

    stored = await rig.jobs.get(job.id)
    assert stored is not None and stored.cancelled_by is None
    if how == "video":
        assert stored.status is JobStatus.SUCCEEDED
        assert await state_of(rig, job.id) == ("committed", [LedgerKind.RESERVE, LedgerKind.COMMIT], 0)
    else:
        assert stored.status is JobStatus.FAILED
        assert await state_of(rig, job.id) == ("refunded", [LedgerKind.RESERVE, LedgerKind.REFUND], 1)


async def test_a_cancel_racing_a_completion_has_exactly_one_winner(rig: Rig) -> None:
    job = await running(rig)
    cancel, video = lifecycle.cancel(job, USER, rig.clock()), finishing(job, rig, "video")
    committed = await asyncio.gather(rig.jobs.apply(cancel), rig.jobs.apply(video))

    stored = await rig.jobs.get(job.id)
    assert stored is not None and stored.status in (JobStatus.CANCELLED, JobStatus.SUCCEEDED)
    assert (stored.status is JobStatus.CANCELLED) == (stored.cancelled_by == USER)
    assert (stored.status is JobStatus.SUCCEEDED) == (stored.result_path is not None)
    assert sorted(committed) == [0.0, 4.0]  # the credits are committed once, by the winner
    assert await state_of(rig, job.id) == ("committed", [LedgerKind.RESERVE, LedgerKind.COMMIT], 0)


async def test_housekeeping_counts_cancelled_jobs_and_lets_their_files_go_once_shown(rig: Rig, tmp_path: Path) -> None:
    job = await running(rig)
    cancelled = lifecycle.cancel(job, USER, rig.clock())
    await rig.jobs.apply(cancelled)
    metrics = Metrics(runtime=False)
    media = LocalMedia(tmp_path / "results")
    keeper = Housekeeper(rig.jobs, metrics, media, retention_seconds=0, max_bytes=0, clock=rig.clock)
    await keeper.run_once()
    state = {"state": "cancelled", "model": job.model}
    assert metrics.registry.get_sample_value("reelbot_jobs_in_state", state) == 1
    assert metrics.registry.get_sample_value("reelbot_queue_depth") == 0  # not waiting, not running
    assert job.id in await rig.jobs.ids_in_progress()  # until the status message shows the cancel

    leased = lifecycle.lease_delivery(cancelled.job, rig.clock(), rig.clock() + 60, holder=HOLDER)
    await rig.jobs.apply(leased.then(lifecycle.delivered(leased.job, None, rig.clock())))
    assert job.id not in await rig.jobs.ids_in_progress()


def test_status_message_and_history_say_who_cancelled_and_what_became_of_the_credits() -> None:
    unsent = lifecycle.cancel(fresh_job(requester_id=USER), MODERATOR, 1010.0).job
    sent = lifecycle.cancel(fresh_job(requester_id=USER, task_id="task-1"), USER, 1010.0).job

    summary = render.job_summary(unsent, "en-US")
    assert summary.startswith(f"`{unsent.id}` sora-2 · Cancelled by <@{MODERATOR}> (credits given")
    summary = render.job_summary(sent, "en-US")
    assert "(credits spent)" in summary and "being posted" not in summary
    embed = render.status_embed(sent)
    assert embed.title == "Video cancelled"
    assert f"Cancelled by <@{USER}> <t:1010:R>" in str(embed.fields) and "credits were spent" in str(embed.fields)
    assert "given back" in str(render.status_embed(unsent).fields)


async def test_a_job_cancelled_before_its_submit_is_never_sent(engine: Engine, sim: Simulator) -> None:
    request = engine.jobs.build_request(prompt="never sent", model="veo-3.1-fast-generate-preview")
    job = await engine.jobs.add(NewJob(request=request, origin="discord"))
    woken: list[bool] = []
    engine.jobs.on_submitted = lambda: woken.append(True)

    cancelled = await engine.jobs.cancel(job, MODERATOR)
    assert (cancelled.status, cancelled.cancelled_by) == (JobStatus.CANCELLED, MODERATOR)
    assert woken == [True]  # the poller looks at once: delivery shows the cancel
    finished = {"model": request.model, "outcome": "cancelled"}
    assert engine.metrics.registry.get_sample_value("reelbot_jobs_finished_total", finished) == 1
    with pytest.raises(UserFacingError, match="cancelled before it was sent"):
        await engine.jobs.send(job, request)
    assert sim.stats.route_classes["create"] == 0

    # A second press on the stale button changes nothing: the first cancel stands, counted once.
    again = await engine.jobs.cancel(job, USER)
    assert (again.status, again.cancelled_by) == (JobStatus.CANCELLED, MODERATOR)
    assert engine.metrics.registry.get_sample_value("reelbot_jobs_finished_total", finished) == 1


async def test_a_job_whose_submit_is_on_its_way_is_not_cancelled_as_if_unsent(engine: Engine, sim: Simulator) -> None:
    request = engine.jobs.build_request(prompt="on its way", model="veo-3.1-fast-generate-preview")
    job = await engine.jobs.add(NewJob(request=request, origin="discord"))
    assert job.next_poll_at is not None
    assert await engine.store.extend_submit(job, job.next_poll_at + 60)  # the sender took it: the create may be out

    with pytest.raises(UserFacingError, match="being handed to the video provider right now"):
        await engine.jobs.cancel(job, USER)
    stored = await engine.store.get(job.id)
    assert stored is not None and stored.status is JobStatus.SUBMITTING and stored.cancelled_by is None


async def test_a_cancel_that_finds_the_job_sent_since_the_press_asks_before_spending(
    engine: Engine, sim: Simulator
) -> None:
    request = engine.jobs.build_request(prompt="sent meanwhile", model="veo-3.1-fast-generate-preview")
    pressed_on = await engine.jobs.add(NewJob(request=request, origin="discord"))  # read unsent when pressed
    sent = await engine.jobs.send(pressed_on, request)  # ...then sent before the cancel's write
    assert sent.sent

    with pytest.raises(SentMeanwhile, match="started this video a moment ago") as asked:
        await engine.jobs.cancel(pressed_on, USER)
    assert asked.value.job.sent  # the front asks with the job as it is now
    stored = await engine.store.get(pressed_on.id)
    assert stored is not None and stored.status is not JobStatus.CANCELLED  # nothing settled silently

    confirmed = await engine.jobs.cancel(pressed_on, USER, spend=True)
    assert (confirmed.status, confirmed.cancelled_by, confirmed.sent) == (JobStatus.CANCELLED, USER, True)
    assert sim.stats.route_classes["create"] == 1
