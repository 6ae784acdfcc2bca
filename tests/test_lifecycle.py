"""The job state machine: submit, observe, failures, timeouts, slowness and the hand-over to delivery."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain import (
    DeliveryState,
    ErrorKind,
    Job,
    JobStatus,
    Notify,
    Refund,
    RemoteState,
    Settle,
    Strike,
    SubmitResult,
    TaskSnapshot,
    Transition,
)
from bot.errors import (
    GatewayAuthError,
    GatewayBadResultError,
    GatewayError,
    GatewayRateLimitedError,
    GatewayTaskLostError,
    GatewayUnavailableError,
)
from bot.services import lifecycle
from bot.services.lifecycle import (
    DELIVERY_BACKOFF,
    DOWNLOAD_ATTEMPTS,
    LOST_AFTER_POLLS,
    MAX_DELIVERY_ATTEMPTS,
    PollPolicy,
)
from bot.services.phase import PollTiming
from tests.jobs import fresh_job

MIN, MAX = 5.0, 30.0
NOTICE = 600.0
TIMEOUT = 3_600.0
POLICY = PollPolicy(
    timing=PollTiming(period=15.0, min_interval=MIN, max_interval=MAX),
    notice_after_seconds=NOTICE,
    timeout_after_seconds=TIMEOUT,
)
CREATED = 1_000.0
SUBMITTED = 1_002.0


def stored_job(**changes: object) -> Job:
    """A job as the store hands it back right after ``add``."""
    return fresh_job(created_at=CREATED, updated_at=CREATED, next_poll_at=CREATED + 120, **changes)


def snap(
    status: str = "in_progress",
    progress: int | None = None,
    *,
    state: RemoteState = RemoteState.RUNNING,
    result_url: str | None = None,
    error: str | None = None,
    error_code: str | None = None,
) -> TaskSnapshot:
    return TaskSnapshot(
        state=state, raw_status=status, progress=progress, result_url=result_url, error=error, error_code=error_code
    )


def submitted_job() -> Job:
    result = SubmitResult(task_id="video_Task-123", snapshot=snap("queued", 0))
    return lifecycle.after_submit(stored_job(), result, SUBMITTED, POLICY).job


def assert_finished(job: Job, now: float) -> None:
    assert job.status.is_terminal
    assert job.finished_at == now
    assert job.updated_at == now
    assert job.next_poll_at is None
    assert job.delivery_state is DeliveryState.PENDING
    assert job.deliver_at == now


def test_after_submit_records_the_task_and_schedules_a_poll() -> None:
    job = submitted_job()
    assert job.task_id == "video_Task-123"
    assert job.submitted_at == SUBMITTED
    assert job.updated_at == SUBMITTED
    assert job.last_poll_at == SUBMITTED
    assert job.status is JobStatus.QUEUED
    assert job.remote_status == "queued"
    assert job.progress == 0
    assert (job.refresh_start, job.refresh_end) == (SUBMITTED, SUBMITTED + 15.0)
    assert job.next_poll_at is not None
    assert SUBMITTED + MIN <= job.next_poll_at <= SUBMITTED + MAX


def test_after_submit_with_progress_is_running() -> None:
    result = SubmitResult(task_id="t", snapshot=snap("in_progress", 10))
    assert lifecycle.after_submit(stored_job(), result, SUBMITTED, POLICY).job.status is JobStatus.RUNNING


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        ("queued", None, JobStatus.QUEUED),
        ("QUEUED", 0, JobStatus.QUEUED),
        ("pending", None, JobStatus.QUEUED),
        ("NOT_START", None, JobStatus.QUEUED),
        ("unknown", None, JobStatus.QUEUED),
        ("in_progress", None, JobStatus.RUNNING),
        ("video_generating", None, JobStatus.RUNNING),
        ("queued", 20, JobStatus.RUNNING),
    ],
)
def test_observe_running_keeps_polling(status: str, progress: int | None, expected: JobStatus) -> None:
    job = submitted_job()
    now = SUBMITTED + 7.5
    step = lifecycle.observe(job, snap(status, progress), now, POLICY)
    seen = step.job
    assert seen.status is expected
    assert seen.remote_status == status
    assert seen.poll_count == job.poll_count + 1
    assert seen.last_poll_at == now
    assert seen.updated_at == now
    assert seen.next_poll_at is not None
    assert now + MIN <= seen.next_poll_at <= now + MAX
    assert seen.finished_at is None
    assert seen.delivery_state is DeliveryState.NONE
    assert step.download is False
    assert step.became_slow is False


def test_observe_learns_the_refresh_window() -> None:
    job = submitted_job()
    changed = lifecycle.observe(job, snap("in_progress", 30), SUBMITTED + 7.5, POLICY).job
    assert (changed.refresh_start, changed.refresh_end) == (SUBMITTED, SUBMITTED + 7.5)
    quiet = lifecycle.observe(job, snap("queued", 0), SUBMITTED + 7.5, POLICY).job
    assert (quiet.refresh_start, quiet.refresh_end) == (SUBMITTED + 7.5, SUBMITTED + 15.0)


def test_observe_keeps_progress_the_snapshot_leaves_out() -> None:
    job = lifecycle.observe(submitted_job(), snap("in_progress", 40), SUBMITTED + 7.5, POLICY).job
    assert lifecycle.observe(job, snap("in_progress", None), SUBMITTED + 20, POLICY).job.progress == 40


def test_observe_resets_failed_attempts() -> None:
    job = dataclasses.replace(
        submitted_job(), poll_errors=2, poll_error_kind=ErrorKind.UNAVAILABLE, download_attempts=1
    )
    seen = lifecycle.observe(job, snap(), SUBMITTED + 10, POLICY).job
    assert (seen.poll_errors, seen.poll_error_kind, seen.download_attempts) == (0, None, 0)


def test_succeeded_asks_for_a_download() -> None:
    now = SUBMITTED + 40
    url = "https://cdn.example.com/v/abc.mp4?sig=1"
    step = lifecycle.observe(
        submitted_job(), snap("completed", 100, state=RemoteState.SUCCEEDED, result_url=url), now, POLICY
    )
    assert step.download is True
    assert step.download_url == url
    assert step.job.progress == 100
    assert step.job.status is not JobStatus.SUCCEEDED  # only a verified file on disk makes it succeed
    assert step.job.finished_at is None


def test_succeeded_without_a_url_still_downloads() -> None:
    step = lifecycle.observe(submitted_job(), snap("completed", state=RemoteState.SUCCEEDED), SUBMITTED + 40, POLICY)
    assert step.download is True
    assert step.download_url is None


def test_downloaded_succeeds_and_queues_delivery() -> None:
    now = SUBMITTED + 45
    job = lifecycle.downloaded(submitted_job(), "/data/results/abcd2345.mp4", 1_234_567, now).job
    assert job.status is JobStatus.SUCCEEDED
    assert job.result_path == "/data/results/abcd2345.mp4"
    assert job.result_bytes == 1_234_567
    assert job.error_kind is None
    assert_finished(job, now)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("Your request was blocked by our moderation system.", None),
        ("", "content_policy_violation"),
        ("The prompt violates our usage guidelines", "400"),
    ],
)
def test_moderation_failure_is_content_policy(error: str, code: str | None) -> None:
    now = SUBMITTED + 30
    failed = snap("failed", state=RemoteState.FAILED, error=error, error_code=code)
    job = lifecycle.observe(submitted_job(), failed, now, POLICY).job
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.CONTENT_POLICY
    assert job.error_message is not None
    assert "content policy" in job.error_message
    assert_finished(job, now)


def test_other_failure_explains_the_reason() -> None:
    now = SUBMITTED + 30
    failed = snap("failed", state=RemoteState.FAILED, error="upstream returned unrecognized message")
    step = lifecycle.observe(submitted_job(), failed, now, POLICY)
    assert step.download is False
    assert step.job.status is JobStatus.FAILED
    assert step.job.error_kind is ErrorKind.GENERATION_FAILED
    assert step.job.error_message is not None
    assert "upstream returned unrecognized message" in step.job.error_message
    assert_finished(step.job, now)


def test_failure_reason_is_scrubbed_and_shortened() -> None:
    reason = "auth failed for sk-live1234567890abcdef " + "x" * 1_000
    failed = snap("failed", state=RemoteState.FAILED, error=reason)
    message = lifecycle.observe(submitted_job(), failed, SUBMITTED + 30, POLICY).job.error_message
    assert message is not None
    assert "sk-live1234567890abcdef" not in message
    assert len(message) < 500


def test_failure_without_a_reason_gets_the_generic_message() -> None:
    failed = snap("failed", state=RemoteState.FAILED)
    job = lifecycle.observe(submitted_job(), failed, SUBMITTED + 30, POLICY).job
    assert job.error_kind is ErrorKind.GENERATION_FAILED
    assert job.error_message == lifecycle.GENERIC_FAILURE


def test_running_past_the_timeout_times_out() -> None:
    now = SUBMITTED + TIMEOUT
    job = lifecycle.observe(submitted_job(), snap("in_progress", 50), now, POLICY).job
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.TIMED_OUT
    assert job.error_message == lifecycle.TIMED_OUT_MESSAGE
    assert_finished(job, now)


def test_timeout_counts_from_creation_when_never_submitted() -> None:
    job = stored_job(task_id="t", status=JobStatus.QUEUED)
    assert lifecycle.deadline(job, POLICY) == CREATED + TIMEOUT
    assert lifecycle.deadline(submitted_job(), POLICY) == SUBMITTED + TIMEOUT


def test_next_poll_never_passes_the_deadline() -> None:
    now = SUBMITTED + TIMEOUT - 2
    job = lifecycle.observe(submitted_job(), snap("in_progress", 50), now, POLICY).job
    assert job.status is JobStatus.RUNNING
    assert job.next_poll_at == SUBMITTED + TIMEOUT


def test_crossing_the_notice_threshold_is_reported_once() -> None:
    job = submitted_job()
    before = lifecycle.observe(job, snap("in_progress", 10), SUBMITTED + NOTICE - 1, POLICY)
    assert before.became_slow is False
    assert before.job.slow_notified is False

    now = SUBMITTED + NOTICE + 3
    crossed = lifecycle.observe(before.job, snap("in_progress", 20), now, POLICY)
    assert crossed.became_slow is True
    assert crossed.job.slow_notified is True
    assert crossed.job.next_poll_at == now + MAX

    later = now + MAX
    after = lifecycle.observe(crossed.job, snap("in_progress", 30), later, POLICY)
    assert after.became_slow is False
    assert after.job.slow_notified is True
    assert after.job.next_poll_at == later + MAX


@pytest.mark.parametrize(
    "error", [GatewayUnavailableError("502"), GatewayRateLimitedError("429"), GatewayTaskLostError("not found")]
)
def test_poll_failed_backs_off_within_bounds(error: GatewayError) -> None:
    job = submitted_job()
    now = SUBMITTED + 10
    failed = lifecycle.poll_failed(job, error, now, POLICY).job
    assert failed.poll_errors == 1
    assert failed.status is job.status
    assert failed.updated_at == now
    assert failed.last_poll_at == job.last_poll_at  # nothing was observed
    assert failed.next_poll_at is not None
    assert now + MIN <= failed.next_poll_at <= now + MAX


def test_poll_failed_keeps_backing_off_within_bounds() -> None:
    job = submitted_job()
    now = SUBMITTED
    for attempt in range(1, 12):
        now += 7
        job = lifecycle.poll_failed(job, GatewayUnavailableError("503"), now, POLICY).job
        assert job.poll_errors == attempt
        assert job.next_poll_at is not None
        assert now + MIN <= job.next_poll_at <= now + MAX
        assert not job.status.is_terminal


def test_poll_failed_honours_retry_after_up_to_four_max_intervals() -> None:
    now = SUBMITTED + 10
    asked = lifecycle.poll_failed(submitted_job(), GatewayRateLimitedError("429", retry_after=50.0), now, POLICY).job
    assert asked.next_poll_at == now + 50.0
    huge = lifecycle.poll_failed(submitted_job(), GatewayRateLimitedError("429", retry_after=10_000.0), now, POLICY).job
    assert huge.next_poll_at is not None
    assert now + MIN <= huge.next_poll_at <= now + 4 * MAX


def test_lost_task_fails_only_after_repeated_polls() -> None:
    job = submitted_job()
    now = SUBMITTED
    for _ in range(LOST_AFTER_POLLS - 1):
        now += 10
        job = lifecycle.poll_failed(job, GatewayTaskLostError("task_not_exist"), now, POLICY).job
        assert not job.status.is_terminal
        assert job.next_poll_at is not None
    now += 10
    job = lifecycle.poll_failed(job, GatewayTaskLostError("task_not_exist"), now, POLICY).job
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.LOST
    assert job.error_message == str(GatewayTaskLostError.default_message)
    assert_finished(job, now)


def test_a_successful_poll_resets_the_lost_count() -> None:
    job = submitted_job()
    for i in range(LOST_AFTER_POLLS - 1):
        job = lifecycle.poll_failed(job, GatewayTaskLostError(), SUBMITTED + i + 1, POLICY).job
    job = lifecycle.observe(job, snap("in_progress", 10), SUBMITTED + 20, POLICY).job
    job = lifecycle.poll_failed(job, GatewayTaskLostError(), SUBMITTED + 30, POLICY).job
    assert not job.status.is_terminal


def test_outage_then_one_lost_answer_is_not_yet_lost() -> None:
    job = submitted_job()
    job = lifecycle.poll_failed(job, GatewayUnavailableError("502"), SUBMITTED + 10, POLICY).job
    job = lifecycle.poll_failed(job, GatewayUnavailableError("502"), SUBMITTED + 20, POLICY).job
    job = lifecycle.poll_failed(job, GatewayTaskLostError("task_not_exist"), SUBMITTED + 30, POLICY).job
    assert not job.status.is_terminal


def test_poll_failed_past_the_deadline_times_out() -> None:
    now = SUBMITTED + TIMEOUT + 1
    job = lifecycle.poll_failed(submitted_job(), GatewayUnavailableError("502"), now, POLICY).job
    assert job.error_kind is ErrorKind.TIMED_OUT
    assert_finished(job, now)


def test_download_failed_retries_then_fails_bad_result() -> None:
    job = lifecycle.observe(submitted_job(), snap("completed", state=RemoteState.SUCCEEDED), SUBMITTED + 30, POLICY).job
    now = SUBMITTED + 30
    for attempt in range(1, DOWNLOAD_ATTEMPTS):
        now += 10
        job = lifecycle.download_failed(job, GatewayBadResultError("cut short"), now, POLICY).job
        assert job.download_attempts == attempt
        assert not job.status.is_terminal
        assert job.next_poll_at is not None
        assert now + MIN <= job.next_poll_at <= now + MAX
    now += 10
    job = lifecycle.download_failed(job, GatewayBadResultError("cut short"), now, POLICY).job
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.BAD_RESULT
    assert job.error_message == str(GatewayBadResultError.default_message)
    assert_finished(job, now)


def test_download_failed_without_retry_fails_at_once() -> None:
    now = SUBMITTED + 40
    job = lifecycle.download_failed(submitted_job(), GatewayAuthError("401"), now, POLICY).job
    assert job.error_kind is ErrorKind.BAD_RESULT
    assert_finished(job, now)


def test_download_retries_through_polls_end() -> None:
    job = submitted_job()
    now = SUBMITTED
    done = snap("completed", state=RemoteState.SUCCEEDED, result_url="https://cdn.example.com/expired.mp4")
    for _ in range(DOWNLOAD_ATTEMPTS * 3):
        now += 30
        step = lifecycle.observe(job, done, now, POLICY)
        assert step.download
        job = lifecycle.download_failed(step.job, GatewayBadResultError("502 from the CDN"), now, POLICY).job
        if job.status.is_terminal:
            break
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.BAD_RESULT


def test_unconfirmed() -> None:
    now = CREATED + 120
    job = lifecycle.unconfirmed(stored_job(), now).job
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.UNCONFIRMED
    assert job.error_message == lifecycle.UNCONFIRMED_MESSAGE
    assert job.task_id is None
    assert_finished(job, now)


def test_fail_with_uses_the_errors_kind_and_message() -> None:
    now = SUBMITTED + 5
    job = lifecycle.fail_with(submitted_job(), GatewayAuthError("401 from gateway"), now).job
    assert job.error_kind is ErrorKind.AUTH
    assert job.error_message == str(GatewayAuthError.default_message)
    assert_finished(job, now)


def test_a_quiet_poll_rules_out_refreshes_only_until_it_was_sent() -> None:
    # Sent at +6, answered at +7.5: a refresh at +7 may have landed after the gateway read the task.
    job = lifecycle.observe(submitted_job(), snap("queued", 0), SUBMITTED + 7.5, POLICY, sent_at=SUBMITTED + 6).job
    assert (job.refresh_start, job.refresh_end) == (SUBMITTED + 6, SUBMITTED + 15)


def test_a_quiet_poll_rules_out_refreshes_only_after_the_previous_answer() -> None:
    # The previous poll, sent at +5 and answered at +6.5, saw a refresh at +6 (the gateway read the task late):
    # a quiet poll now must not rule out (+5, +6.5], or the window would lose that refresh.
    seen = lifecycle.observe(submitted_job(), snap("in_progress", 30), SUBMITTED + 6.5, POLICY, sent_at=SUBMITTED + 5)
    assert (seen.job.refresh_start, seen.job.refresh_end) == (SUBMITTED, SUBMITTED + 6.5)
    quiet = lifecycle.observe(seen.job, snap("in_progress", 30), SUBMITTED + 9, POLICY, sent_at=SUBMITTED + 8.5).job
    assert (quiet.refresh_start, quiet.refresh_end) == (SUBMITTED, SUBMITTED + 6.5)


def test_a_change_is_placed_before_the_answer() -> None:
    job = lifecycle.observe(submitted_job(), snap("in_progress", 30), SUBMITTED + 7.5, POLICY, sent_at=SUBMITTED + 6)
    assert (job.job.refresh_start, job.job.refresh_end) == (SUBMITTED, SUBMITTED + 7.5)


# What comes with each transition: the store carries these out with the job's new state, nothing else.


def member_job() -> Job:
    """A submitted job a member asked for on a server (content refusals strike them)."""
    return dataclasses.replace(submitted_job(), guild_id=7, requester_id=42)


def finished_job(status: JobStatus = JobStatus.SUCCEEDED) -> Job:
    if status is JobStatus.SUCCEEDED:
        return lifecycle.downloaded(member_job(), "/data/results/x.mp4", 10, SUBMITTED + 40).job
    return lifecycle.fail(member_job(), ErrorKind.GENERATION_FAILED, "no", SUBMITTED + 40).job


def test_a_download_settles_the_credits_and_tells_listeners() -> None:
    move = lifecycle.downloaded(member_job(), "/data/results/x.mp4", 10, SUBMITTED + 40)
    assert move.before == member_job()
    assert move.effects == (Settle(), Notify())


def test_a_content_refusal_refunds_and_strikes_the_member() -> None:
    refused = snap("failed", state=RemoteState.FAILED, error_code="content_policy_violation")
    move = lifecycle.observe(member_job(), refused, SUBMITTED + 30, POLICY).transition
    assert move.effects == (Refund(), Strike(7, 42, lifecycle.STRIKE_REASON), Notify())


def test_a_content_refusal_of_nobodys_job_strikes_nobody() -> None:
    move = lifecycle.fail(submitted_job(), ErrorKind.CONTENT_POLICY, "refused", SUBMITTED + 30)
    assert move.effects == (Refund(), Notify())


@pytest.mark.parametrize("kind", [ErrorKind.TIMED_OUT, ErrorKind.LOST, ErrorKind.UNCONFIRMED, ErrorKind.AUTH])
def test_every_other_failure_only_refunds(kind: ErrorKind) -> None:
    move = lifecycle.fail(member_job(), kind, "it did not work", SUBMITTED + 30)
    assert move.effects == (Refund(), Notify())


def test_a_failure_already_told_is_recorded_as_delivered() -> None:
    now = SUBMITTED + 5
    move = lifecycle.fail_with(stored_job(), GatewayAuthError("401"), now, told=True)
    assert move.job.delivery_state is DeliveryState.DELIVERED
    assert (move.job.deliver_at, move.job.delivered_at) == (None, now)
    assert Refund() in move.effects


def test_a_finished_job_is_never_settled_again() -> None:
    for done in (finished_job(JobStatus.SUCCEEDED), finished_job(JobStatus.FAILED)):
        again = lifecycle.fail(done, ErrorKind.CONTENT_POLICY, "refused", SUBMITTED + 50)
        assert not {Settle(), Refund()} & set(again.effects)
        assert not any(isinstance(effect, Strike) for effect in again.effects)


def test_a_running_poll_settles_nothing_and_tells_only_of_a_visible_change() -> None:
    job = submitted_job()
    quiet = lifecycle.observe(job, snap("queued", 0), SUBMITTED + 7.5, POLICY).transition
    assert quiet.effects == ()
    moved = lifecycle.observe(job, snap("in_progress", 30), SUBMITTED + 7.5, POLICY).transition
    assert moved.effects == (Notify(),)
    failed = lifecycle.poll_failed(job, GatewayUnavailableError("502"), SUBMITTED + 7.5, POLICY)
    assert failed.effects == ()


def test_becoming_slow_tells_listeners_so() -> None:
    crossed = lifecycle.observe(submitted_job(), snap("in_progress", 20), SUBMITTED + NOTICE + 3, POLICY)
    assert crossed.transition.effects == (Notify(became_slow=True),)
    assert crossed.transition.notify == Notify(became_slow=True)


def test_submit_results() -> None:
    result = SubmitResult(task_id="t", snapshot=snap("queued", 0))
    accepted = lifecycle.after_submit(stored_job(), result, SUBMITTED, POLICY)
    assert accepted.effects == (Notify(),)  # queued now: nothing to settle yet
    refused = lifecycle.fail_with(stored_job(), GatewayAuthError("401"), SUBMITTED)
    assert refused.job.delivery_state is DeliveryState.PENDING
    assert refused.effects == (Refund(), Notify())


def test_a_poll_lease_moves_only_the_next_poll_and_names_its_holder() -> None:
    job = stored_job()
    move = lifecycle.lease_poll(job, until=CREATED + 500, holder="host-a:12:f00d")
    assert move.job == dataclasses.replace(job, next_poll_at=CREATED + 500, lease_holder="host-a:12:f00d")
    assert move.effects == ()


def test_a_delivery_lease_counts_the_attempt_and_remembers_a_cut_off_one() -> None:
    done = finished_job()
    first = lifecycle.lease_delivery(done, SUBMITTED + 41, SUBMITTED + 131, holder="test").job
    assert (first.delivery_state, first.lease_holder) == (DeliveryState.DELIVERING, "test")
    assert (first.delivery_attempts, first.maybe_delivered) == (1, False)
    assert (first.deliver_at, first.delivery_started_at) == (SUBMITTED + 131, SUBMITTED + 41)
    # The first attempt was cut off (still 'delivering' when its lease ran out): the next one must look first.
    second = lifecycle.lease_delivery(first, SUBMITTED + 131, SUBMITTED + 221, holder="test")
    assert (second.job.delivery_attempts, second.job.maybe_delivered) == (2, True)
    assert second.job.delivery_started_at == SUBMITTED + 41
    assert second.effects == ()


def test_a_failed_delivery_is_retried_later_each_time() -> None:
    job = lifecycle.lease_delivery(finished_job(), SUBMITTED + 41, SUBMITTED + 131, holder="test").job
    now = SUBMITTED + 50
    waits = []
    for _ in range(MAX_DELIVERY_ATTEMPTS - 1):
        retry = lifecycle.delivery_failed(job, now)
        assert retry.job.delivery_state is DeliveryState.PENDING
        assert retry.job.maybe_delivered is True  # the failed attempt may have posted before its answer was lost
        assert retry.effects == ()
        assert retry.job.deliver_at is not None
        waits.append(retry.job.deliver_at - now)
        job = lifecycle.lease_delivery(retry.job, now, now + 90, holder="test").job
    assert waits == [DELIVERY_BACKOFF.delay(attempt) for attempt in range(1, MAX_DELIVERY_ATTEMPTS)]
    assert waits == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_the_last_failed_delivery_gives_up_and_refunds_a_video_nobody_got() -> None:
    job = dataclasses.replace(finished_job(), delivery_attempts=MAX_DELIVERY_ATTEMPTS)
    gave_up = lifecycle.delivery_failed(job, SUBMITTED + 99)
    assert gave_up.job.delivery_state is DeliveryState.FAILED
    assert gave_up.job.deliver_at is None
    assert gave_up.job.error_message == lifecycle.UNDELIVERABLE_MESSAGE
    assert gave_up.effects == (Refund(),)


def test_giving_up_a_failed_jobs_delivery_refunds_nothing_more_and_keeps_its_reason() -> None:
    failed = finished_job(JobStatus.FAILED)
    gave_up = lifecycle.give_up_delivery(failed, "could not post", SUBMITTED + 99)
    assert gave_up.job.error_message == "no"
    assert gave_up.effects == ()


def test_delivered_is_final_and_keeps_an_earlier_message_id() -> None:
    now = SUBMITTED + 60
    first = lifecycle.delivered(finished_job(), 555, now)
    assert first.job.delivery_state is DeliveryState.DELIVERED
    assert (first.job.deliver_at, first.job.delivered_at, first.job.result_message_id) == (None, now, 555)
    assert first.effects == ()
    assert lifecycle.delivered(first.job, None, now + 1).job.result_message_id == 555


def test_transitions_chain_from_where_the_last_ended() -> None:
    job = submitted_job()
    seen = lifecycle.observe(job, snap("completed", state=RemoteState.SUCCEEDED), SUBMITTED + 30, POLICY)
    done = seen.transition.then(lifecycle.downloaded(seen.job, "/data/results/x.mp4", 10, SUBMITTED + 31))
    assert done.before == job
    assert done.job.status is JobStatus.SUCCEEDED
    assert done.effects == (Settle(), Notify())
    slow = Transition(before=job, job=job, effects=(Notify(became_slow=True),))
    assert slow.then(Transition(before=job, job=job, effects=(Notify(),))).effects == (Notify(became_slow=True),)
    with pytest.raises(ValueError, match="start where"):
        seen.transition.then(Transition(before=job, job=job))


# Cancelling: a member stops a job; what it costs depends on whether the gateway already has it.

MODERATOR = 99


def test_cancelling_a_job_not_yet_sent_gives_every_credit_back() -> None:
    job = dataclasses.replace(stored_job(), guild_id=7, requester_id=42)
    now = CREATED + 3
    move = lifecycle.cancel(job, MODERATOR, now)
    assert move.effects == (Refund(), Notify())  # no strike: nobody was refused anything
    cancelled = move.job
    assert cancelled.status is JobStatus.CANCELLED and cancelled.status.is_terminal
    assert (cancelled.cancelled_by, cancelled.cancelled_at, cancelled.finished_at) == (MODERATOR, now, now)
    assert cancelled.next_poll_at is None  # the poller neither gives it up nor sends it
    assert cancelled.error_kind is None
    # Delivery only shows who cancelled it on the status message.
    assert (cancelled.delivery_state, cancelled.deliver_at) == (DeliveryState.PENDING, now)


def test_cancelling_a_job_the_provider_started_commits_its_credits_with_no_strike() -> None:
    running = lifecycle.observe(member_job(), snap("in_progress", 40), SUBMITTED + 20, POLICY).job
    assert running.status is JobStatus.RUNNING and running.next_poll_at is not None
    move = lifecycle.cancel(running, 42, SUBMITTED + 25)
    assert move.effects == (Settle(), Notify())
    assert move.job.next_poll_at is None  # polling stops
    assert (move.job.status, move.job.cancelled_by, move.job.task_id) == (JobStatus.CANCELLED, 42, running.task_id)
    assert move.job.result_path is None


def test_a_cancelled_job_is_never_settled_again() -> None:
    cancelled = lifecycle.cancel(member_job(), 42, SUBMITTED + 25).job
    late = lifecycle.fail(cancelled, ErrorKind.CONTENT_POLICY, "refused", SUBMITTED + 30)
    assert not {Settle(), Refund()} & set(late.effects)
    assert not any(isinstance(effect, Strike) for effect in late.effects)


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_a_finished_job_cannot_be_cancelled(status: JobStatus) -> None:
    with pytest.raises(ValueError, match="cannot be cancelled"):
        lifecycle.cancel(finished_job(status), 42, SUBMITTED + 50)
    with pytest.raises(ValueError, match="cannot be cancelled"):
        lifecycle.cancel(lifecycle.cancel(member_job(), 42, SUBMITTED + 45).job, 42, SUBMITTED + 50)


def test_a_delivery_waits_for_the_creator_to_show_the_job_but_not_forever() -> None:
    job = fresh_job(created_at=CREATED)
    assert lifecycle.setting_up(job, CREATED + 1)  # its creator may still be opening the thread
    assert not lifecycle.setting_up(dataclasses.replace(job, set_up_at=CREATED + 2), CREATED + 3)
    # A creator that died half-way: after the wait, the video goes where it can.
    assert not lifecycle.setting_up(job, CREATED + lifecycle.SETUP_WAIT_SECONDS)
