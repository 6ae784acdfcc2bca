"""The job state machine: pure functions from (job, what happened, now) to the job's next state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from http import HTTPStatus
from typing import assert_never

from bot.domain import DeliveryState, ErrorKind, Job, JobStatus, RemoteState, SubmitResult, TaskSnapshot
from bot.errors import GatewayError, GatewayRateLimitedError, GatewayTaskLostError
from bot.gateway.error_answers import scrub
from bot.gateway.retry import backoff_delay
from bot.gateway.vocab import looks_like_content_policy
from bot.services.phase import PollTiming, RefreshWindow, first_window, learn, next_poll

# A task the gateway says it does not know is given this many more polls before it counts as lost:
# the gateway's own database can lag a fresh create.
LOST_AFTER_POLLS = 3
# A result that cannot be fetched intact is tried again on this many polls before the job fails.
DOWNLOAD_ATTEMPTS = 4
_QUEUED_WORDS = frozenset({"", "queued", "pending", "submitted", "not_start", "unknown", "not started"})

GENERIC_FAILURE = "The video provider could not make this video. Try again, perhaps with a different prompt."
NO_VIDEO_MESSAGE = (
    "The video provider reported this video finished but sent no video: providers do this when their safety "
    "filter withholds a result. Nothing was charged; try again with a different prompt or image."
)
TIMED_OUT_MESSAGE = "The video took too long and was given up. Nothing was delivered; try again later."
UNCONFIRMED_MESSAGE = (
    "The bot stopped while sending this job, so it cannot tell whether the video service received it. "
    "It was not sent again, to avoid paying twice. Try again."
)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Timing rules for one gateway."""

    timing: PollTiming
    notice_after_seconds: float
    timeout_after_seconds: float


@dataclass(frozen=True, slots=True)
class Step:
    """The job after an observation, and what the poller must do next."""

    job: Job
    download_url: str | None = None
    download: bool = False
    became_slow: bool = False


def after_submit(job: Job, result: SubmitResult, now: float, policy: PollPolicy) -> Job:
    """The gateway accepted the job: remember its task id and schedule the first poll."""
    window = first_window(now, policy.timing.period)
    return dataclasses.replace(
        job,
        task_id=result.task_id,
        submitted_at=now,
        updated_at=now,
        remote_status=result.snapshot.raw_status,
        progress=result.snapshot.progress,
        status=_running_status(result.snapshot),
        refresh_start=window.start,
        refresh_end=window.end,
        last_poll_at=now,
        next_poll_at=next_poll(now, window, policy.timing),
    )


def fail(job: Job, kind: ErrorKind, message: str, now: float) -> Job:
    """End the job as failed and queue it for delivery (the requester is told why)."""
    return _finish(job, JobStatus.FAILED, now, error_kind=kind, error_message=message)


def fail_with(job: Job, error: GatewayError, now: float) -> Job:
    """End the job with a gateway error's kind and plain-words message."""
    return fail(job, error.kind, error.user_message, now)


def unconfirmed(job: Job, now: float) -> Job:
    """A job left in SUBMITTING past its deadline: the submit was cut off (a crash, a hung request)."""
    return fail(job, ErrorKind.UNCONFIRMED, UNCONFIRMED_MESSAGE, now)


def observe(job: Job, snapshot: TaskSnapshot, now: float, policy: PollPolicy, *, sent_at: float | None = None) -> Step:
    """Apply one poll's snapshot, answered at ``now`` to a request sent at ``sent_at``.

    The gateway read the task somewhere between sending and answering, so a change is placed after the previous
    poll was *sent* and before this one was *answered*: the window never excludes the refresh that caused it.
    """
    changed = _visible(snapshot.raw_status, snapshot.progress) != _visible(job.remote_status, job.progress)
    window = learn(
        _window_of(job, policy),
        job.last_poll_at if job.last_poll_at is not None else now,
        now,
        changed=changed,
        period=policy.timing.period,
        reported_at=snapshot.updated_at,
    )
    # Seen finished again after a failed download: keep counting download attempts rather than start over.
    retrying_download = snapshot.state is RemoteState.SUCCEEDED and job.error_kind is ErrorKind.BAD_RESULT
    seen = dataclasses.replace(
        job,
        remote_status=snapshot.raw_status,
        progress=snapshot.progress if snapshot.progress is not None else job.progress,
        updated_at=now,
        last_poll_at=sent_at if sent_at is not None else now,
        poll_count=job.poll_count + 1,
        attempts=job.attempts if retrying_download else 0,
        error_kind=job.error_kind if retrying_download else None,
        refresh_start=window.start,
        refresh_end=window.end,
    )
    match snapshot.state:
        case RemoteState.SUCCEEDED:
            return Step(job=dataclasses.replace(seen, progress=100), download_url=snapshot.result_url, download=True)
        case RemoteState.FAILED:
            kind = (
                ErrorKind.CONTENT_POLICY
                if looks_like_content_policy(snapshot.error, snapshot.error_code)
                else ErrorKind.GENERATION_FAILED
            )
            message = _failure_message(kind, snapshot.error)
            return Step(job=fail(seen, kind, message, now))
        case RemoteState.RUNNING:
            return _keep_polling(dataclasses.replace(seen, status=_running_status(snapshot)), now, policy)
        case _:
            assert_never(snapshot.state)


def poll_failed(job: Job, error: GatewayError, now: float, policy: PollPolicy) -> Job:
    """A poll did not get an answer worth reading; try again later, or give up on a lost task.

    ``attempts`` counts consecutive failures of one kind (kept in ``error_kind`` while the job runs), so two
    outages followed by one "no such task" are not three answers that the task is lost.
    """
    attempts = _consecutive(job, error)
    if isinstance(error, GatewayTaskLostError) and attempts >= LOST_AFTER_POLLS:
        return fail_with(job, error, now)
    retry_at = now + _retry_delay(attempts, error, policy)
    failed = dataclasses.replace(job, attempts=attempts, error_kind=error.kind, updated_at=now)
    return _keep_polling(failed, now, policy, retry_at=retry_at).job


def downloaded(job: Job, path: str, size: int, now: float) -> Job:
    """The verified MP4 is on disk: the job succeeded."""
    return _finish(job, JobStatus.SUCCEEDED, now, result_path=path, result_bytes=size, error_kind=None, attempts=0)


def download_failed(
    job: Job, error: GatewayError, now: float, policy: PollPolicy, *, reported_url: str | None = None
) -> Job:
    """The result could not be fetched intact; poll again and retry, a few times.

    A task that reported success with no result link, whose content route keeps answering 502 (the gateway has no
    video to fetch), is a provider's withheld result: it fails as a generation failure with that reason.
    """
    attempts = job.attempts + 1 if job.error_kind is ErrorKind.BAD_RESULT else 1
    if not error.retryable or attempts >= DOWNLOAD_ATTEMPTS or now >= deadline(job, policy):
        if reported_url is None and error.status == HTTPStatus.BAD_GATEWAY:
            return fail(job, ErrorKind.GENERATION_FAILED, NO_VIDEO_MESSAGE, now)
        return fail(job, ErrorKind.BAD_RESULT, error.user_message, now)
    retry_at = now + _retry_delay(attempts, error, policy)
    return dataclasses.replace(
        job, attempts=attempts, error_kind=ErrorKind.BAD_RESULT, updated_at=now, next_poll_at=retry_at
    )


def deadline(job: Job, policy: PollPolicy) -> float:
    """When the job is given up as timed out."""
    started = job.submitted_at if job.submitted_at is not None else job.created_at
    return started + policy.timeout_after_seconds


def _keep_polling(job: Job, now: float, policy: PollPolicy, *, retry_at: float | None = None) -> Step:
    started = job.submitted_at if job.submitted_at is not None else job.created_at
    if now >= deadline(job, policy):
        return Step(job=fail(job, ErrorKind.TIMED_OUT, TIMED_OUT_MESSAGE, now))
    slow = now - started >= policy.notice_after_seconds
    planned = retry_at if retry_at is not None else next_poll(now, _window_of(job, policy), policy.timing, slow=slow)
    updated = dataclasses.replace(job, next_poll_at=min(planned, deadline(job, policy)), slow_notified=slow)
    return Step(job=updated, became_slow=slow and not job.slow_notified)


def _finish(job: Job, status: JobStatus, now: float, **changes: object) -> Job:
    return dataclasses.replace(
        job,
        status=status,
        finished_at=now,
        updated_at=now,
        next_poll_at=None,
        delivery_state=DeliveryState.PENDING,
        deliver_at=now,
        **changes,  # type: ignore[arg-type]  # field names and types are checked by the callers above
    )


def _window_of(job: Job, policy: PollPolicy) -> RefreshWindow:
    if job.refresh_start is not None and job.refresh_end is not None:
        return RefreshWindow(job.refresh_start, job.refresh_end)
    started = job.submitted_at if job.submitted_at is not None else job.created_at
    return first_window(started, policy.timing.period)


def _consecutive(job: Job, error: GatewayError) -> int:
    return job.attempts + 1 if job.error_kind is error.kind else 1


def _visible(raw_status: str | None, progress: int | None) -> tuple[str, int | None]:
    """What a refresh visibly changes; the queued-type words are one state (a create can say "queued" and the
    next read "pending" for a task nothing has happened to)."""
    word = (raw_status or "").strip().lower()
    return ("queued", None) if word in _QUEUED_WORDS and not progress else (word, progress)


def _running_status(snapshot: TaskSnapshot) -> JobStatus:
    word = snapshot.raw_status.strip().lower()
    return JobStatus.QUEUED if word in _QUEUED_WORDS and not snapshot.progress else JobStatus.RUNNING


def _retry_delay(attempts: int, error: GatewayError, policy: PollPolicy) -> float:
    wait = backoff_delay(attempts, error)
    if isinstance(error, GatewayRateLimitedError) and error.retry_after is not None:
        return min(max(wait, policy.timing.min_interval), policy.timing.max_interval * 4)
    return min(max(wait, policy.timing.min_interval), policy.timing.max_interval)


def _failure_message(kind: ErrorKind, reason: str | None) -> str:
    if kind is ErrorKind.CONTENT_POLICY:
        return (
            "The video provider refused this request under its content policy. Rephrase the prompt or use other images."
        )
    if reason:
        return f"The video provider could not make this video: {scrub(reason)[:300]}. Try again or change the prompt."
    return GENERIC_FAILURE
