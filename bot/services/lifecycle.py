"""The job state machine: pure functions from (job, what happened, now) to a Transition, its next state and effects.

Every change of a job's status, schedule, counters and delivery is decided here, and so is what comes with it
(credits settled or refunded, a strike, listeners told): the store only writes what a Transition says.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, assert_never

from bot.domain import (
    Backoff,
    DeliveryState,
    Effect,
    ErrorKind,
    Job,
    JobStatus,
    NewJob,
    Notify,
    Refund,
    RemoteState,
    Settle,
    Strike,
    SubmitResult,
    TaskSnapshot,
    Transition,
    WireFormat,
)
from bot.errors import GatewayError, GatewayRateLimitedError, GatewayTaskLostError
from bot.gateway.error_answers import scrub
from bot.gateway.retry import backoff_delay
from bot.gateway.vocab import looks_like_content_policy
from bot.locales import N_, Text, _, as_text
from bot.services.phase import PollTiming, RefreshWindow, TaskPlace, first_window, learn, next_poll

# A task the gateway says it does not know is given this many more polls before it counts as lost:
# the gateway's own database can lag a fresh create.
LOST_AFTER_POLLS = 3
# A result that cannot be fetched intact is tried again on this many polls before the job fails.
DOWNLOAD_ATTEMPTS = 4
# An unanswered submit is given up (as unconfirmed) this long after its own timeout, if the process died meanwhile.
SUBMIT_GRACE_SECONDS: Final = 30.0
# A delivery that keeps failing is given up after this many attempts, waiting longer before each.
MAX_DELIVERY_ATTEMPTS: Final = 8
# A delivery waits at most this long after a job was created for its creator to show it (status message, thread);
# longer, and the creator is taken to have died half-way: the video goes where it can.
SETUP_WAIT_SECONDS: Final = 60.0
DELIVERY_BACKOFF: Final = Backoff(first=5.0, cap=300.0)
_QUEUED_WORDS = frozenset({"", "queued", "pending", "submitted", "not_start", "unknown", "not started"})

# A failed job's reason: kept as a message with its fields (and in English), translated where it is shown (status
# message, failure notice). A reason given as English text is taken as a message id.
GENERIC_FAILURE = N_("The video provider could not make this video. Try again, perhaps with a different prompt.")
NO_VIDEO_MESSAGE = N_(
    "The video provider reported this video finished but sent no video: providers do this when their safety "
    "filter withholds a result. Nothing was charged; try again with a different prompt or image."
)
TIMED_OUT_MESSAGE = N_("The video took too long and was given up. Nothing was delivered; try again later.")
UNCONFIRMED_MESSAGE = N_(
    "The bot stopped while sending this job, so it cannot tell whether the video service received it. "
    "It was not sent again, to avoid paying twice. Try again."
)
UNDELIVERABLE_MESSAGE = N_("The result could not be delivered after several tries.")
STRIKE_REASON = "content policy refusal"


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Timing rules for one gateway."""

    timing: PollTiming
    notice_after_seconds: float
    timeout_after_seconds: float


@dataclass(frozen=True, slots=True)
class Step:
    """What one poll's answer does to the job, and whether the poller must fetch the result next."""

    transition: Transition
    download_url: str | None = None
    download: bool = False

    @property
    def job(self) -> Job:
        """The job after the poll."""
        return self.transition.job

    @property
    def became_slow(self) -> bool:
        """Whether the job just crossed the notice threshold."""
        notify = self.transition.notify
        return notify is not None and notify.became_slow


def created(new: NewJob, wire_format: WireFormat, now: float, give_up_at: float) -> Job:
    """A job about to be stored, before anything is sent; the store gives it its id.

    It waits in SUBMITTING; if its submit is not confirmed by ``give_up_at``, the poller gives it up as unconfirmed.
    """
    request = new.request
    return Job(
        id="",
        origin=new.origin,
        requester_id=new.requester_id,
        guild_id=new.guild_id,
        channel_id=new.channel_id,
        thread_id=None,
        status_message_id=None,
        result_message_id=None,
        prompt=request.prompt,
        model=request.model,
        wire_format=wire_format,
        orientation=request.orientation,
        duration=request.duration,
        hd=request.hd,
        image_count=len(request.images),
        task_id=None,
        status=JobStatus.SUBMITTING,
        remote_status=None,
        progress=None,
        created_at=now,
        submitted_at=None,
        updated_at=now,
        finished_at=None,
        next_poll_at=give_up_at,
        last_poll_at=None,
        poll_count=0,
        refresh_start=None,
        refresh_end=None,
        slow_notified=False,
        error_kind=None,
        error_message=None,
        result_path=None,
        result_bytes=None,
        delivery_state=DeliveryState.NONE,
        deliver_at=None,
        delivery_attempts=0,
        maybe_delivered=False,
        delivered_at=None,
        parent_job_id=new.parent_job_id,
        has_last_frame=new.request.last_frame is not None,
        private=new.private,
        locale=new.locale,
        member_locale=new.member_locale,
    )


def unsent_deadline(now: float, submit_timeout: float) -> float:
    """When a job about to be sent is given up as unconfirmed unless its outcome is recorded by then: time for the
    caller to get to the submit (posting a status message first) and for the submit itself."""
    return now + submit_timeout + SUBMIT_GRACE_SECONDS


def waiting(job: Job) -> Job:
    """A job about to be stored that waits in its server's queue (an in-progress limit is reached), its credits
    held: nothing gives it up while it waits, so it has no give-up time until the queue starts it."""
    return dataclasses.replace(job, status=JobStatus.WAITING, next_poll_at=None, wait_started_at=job.created_at)


def leave_queue(job: Job, now: float, submit_timeout: float, *, holder: str) -> Transition:
    """A slot freed: the waiting job is taken by ``holder`` to be sent, as a job just stored is (see ``created``)."""
    started = dataclasses.replace(
        job,
        status=JobStatus.SUBMITTING,
        next_poll_at=unsent_deadline(now, submit_timeout),
        wait_ended_at=now,
        updated_at=now,
        lease_holder=holder,
        queue_position=None,
        queue_size=None,
        queue_minutes=None,
        queue_paused=False,
    )
    return _transition(job, started)


def stored_deadline(job: Job, submit_timeout: float) -> float:
    """The give-up time a job about to be sent had before its sender moved it: from when it was stored, or from
    when the wait queue started it."""
    return unsent_deadline(job.wait_ended_at if job.wait_ended_at is not None else job.created_at, submit_timeout)


def drop(job: Job, reason: Text | str, now: float) -> Transition:
    """Take a waiting job out of the queue because what it asks is no longer allowed (``reason``, in plain
    words): it fails with its credits back. The queue tells the requester privately, so it is recorded as told."""
    return fail(job, ErrorKind.DROPPED, reason, now, told=True)


def placed(job: Job, position: int, size: int, minutes: int | None, paused: bool) -> Job:
    """A waiting job with its place in the queue as its status message is to show it."""
    return dataclasses.replace(
        job, queue_position=position, queue_size=size, queue_minutes=minutes, queue_paused=paused
    )


def after_submit(job: Job, result: SubmitResult, now: float, policy: PollPolicy) -> Transition:
    """The gateway accepted the job: remember its task id and schedule the first poll."""
    window = first_window(now, policy.timing.period)
    submitted = dataclasses.replace(
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
        next_poll_at=next_poll(now, window, policy.timing, place=TaskPlace(job.id, now)),
    )
    return _transition(job, submitted)


def fail(job: Job, kind: ErrorKind, message: Text | str, now: float, *, told: bool = False) -> Transition:
    """End the job as failed; it is queued for delivery (the requester is told why), or, when the caller
    ``told`` the requester itself, recorded as delivered in the same write."""
    return _transition(job, _fail(job, kind, message, now, told=told))


def fail_with(job: Job, error: GatewayError, now: float, *, told: bool = False) -> Transition:
    """End the job with a gateway error's kind and plain-words message."""
    return fail(job, error.kind, error.text, now, told=told)


def unconfirmed(job: Job, now: float) -> Transition:
    """A job left in SUBMITTING past its deadline: the submit was cut off (a crash, a hung request)."""
    return fail(job, ErrorKind.UNCONFIRMED, UNCONFIRMED_MESSAGE, now)


def lease_poll(job: Job, until: float, *, holder: str) -> Transition:
    """The job is taken to be polled by ``holder``: no other poller (or process) takes it before ``until``.

    A submit still in flight finds its give-up time moved (and so is not sent once the poller took it).
    """
    return _transition(job, dataclasses.replace(job, next_poll_at=until, lease_holder=holder))


def observe(job: Job, snapshot: TaskSnapshot, now: float, policy: PollPolicy, *, sent_at: float | None = None) -> Step:
    """Apply one poll's snapshot, answered at ``now`` to a request sent at ``sent_at``.

    The gateway read the task somewhere between sending and answering, so a change is placed after the previous
    poll was *sent* and before this one was *answered*: the window never excludes the refresh that caused it. No
    change rules out refreshes only from when the previous poll was answered (``updated_at``; one landing while it
    was on its way was seen by it) until this one was sent (one landing while this one was answered went unseen).
    """
    changed = _visible(snapshot.raw_status, snapshot.progress) != _visible(job.remote_status, job.progress)
    previous = job.last_poll_at if job.last_poll_at is not None else now
    window = learn(
        window_of(job, policy),
        previous if changed else max(previous, job.updated_at),
        now if changed or sent_at is None else sent_at,
        changed=changed,
        period=policy.timing.refresh_period,
        reported_at=snapshot.updated_at,
    )
    finished = snapshot.state is RemoteState.SUCCEEDED
    seen = dataclasses.replace(
        job,
        remote_status=snapshot.raw_status,
        progress=snapshot.progress if snapshot.progress is not None else job.progress,
        updated_at=now,
        last_poll_at=sent_at if sent_at is not None else now,
        poll_count=job.poll_count + 1,
        poll_errors=0,
        poll_error_kind=None,
        # Seen finished again after a failed download: keep counting download attempts rather than start over.
        download_attempts=job.download_attempts if finished else 0,
        refresh_start=window.start,
        refresh_end=window.end,
    )
    match snapshot.state:
        case RemoteState.SUCCEEDED:
            seen = dataclasses.replace(seen, progress=100)
            return Step(_transition(job, seen), download_url=snapshot.result_url, download=True)
        case RemoteState.FAILED:
            kind = (
                ErrorKind.CONTENT_POLICY
                if looks_like_content_policy(snapshot.error, snapshot.error_code)
                else ErrorKind.GENERATION_FAILED
            )
            return Step(_transition(job, _fail(seen, kind, _failure_message(kind, snapshot.error), now)))
        case RemoteState.RUNNING:
            polled, became_slow = _keep_polling(
                dataclasses.replace(seen, status=_running_status(snapshot)), now, policy
            )
            return Step(_transition(job, polled, became_slow=became_slow))
        case _:
            assert_never(snapshot.state)


def poll_failed(job: Job, error: GatewayError, now: float, policy: PollPolicy) -> Transition:
    """A poll did not get an answer worth reading; try again later, or give up on a lost task.

    ``poll_errors`` counts consecutive failures of one kind (``poll_error_kind``), so two outages followed by
    one "no such task" are not three answers that the task is lost.
    """
    errors = job.poll_errors + 1 if job.poll_error_kind is error.kind else 1
    if isinstance(error, GatewayTaskLostError) and errors >= LOST_AFTER_POLLS:
        return fail_with(job, error, now)
    retry_at = now + _retry_delay(errors, error, policy)
    failed = dataclasses.replace(job, poll_errors=errors, poll_error_kind=error.kind, updated_at=now)
    polled, _ = _keep_polling(failed, now, policy, retry_at=retry_at)
    return _transition(job, polled)


def downloaded(job: Job, path: str, size: int, now: float) -> Transition:
    """The verified MP4 is on disk: the job succeeded."""
    done = _finish(
        job,
        JobStatus.SUCCEEDED,
        now,
        result_path=path,
        result_bytes=size,
        error_kind=None,
        poll_errors=0,
        poll_error_kind=None,
        download_attempts=0,
    )
    return _transition(job, done)


def download_failed(
    job: Job, error: GatewayError, now: float, policy: PollPolicy, *, reported_url: str | None = None
) -> Transition:
    """The result could not be fetched intact; poll again and retry, a few times.

    A task that reported success with no result link, whose content route keeps answering 502 (the gateway has no
    video to fetch), is a provider's withheld result: it fails as a generation failure with that reason.
    """
    attempts = job.download_attempts + 1
    if not error.retryable or attempts >= DOWNLOAD_ATTEMPTS or now >= deadline(job, policy):
        if reported_url is None and error.status == HTTPStatus.BAD_GATEWAY:
            return fail(job, ErrorKind.GENERATION_FAILED, NO_VIDEO_MESSAGE, now)
        return fail(job, ErrorKind.BAD_RESULT, error.text, now)
    retry_at = now + _retry_delay(attempts, error, policy)
    return _transition(job, dataclasses.replace(job, download_attempts=attempts, updated_at=now, next_poll_at=retry_at))


def deadline(job: Job, policy: PollPolicy) -> float:
    """When the job is given up as timed out."""
    return job.started_at + policy.timeout_after_seconds


def cancel(job: Job, by: int, now: float) -> Transition:
    """End an unfinished job because member ``by`` asked: nothing more is polled, fetched or posted for it.

    Not yet sent, its credits come back. Sent, the gateway (which has no cancel) makes and bills the video anyway:
    its credits are committed at once, with no strike. Either way delivery then only shows who cancelled it.
    """
    if job.status.is_terminal:
        raise ValueError(f"job {job.id}: {job.status} jobs cannot be cancelled")
    stopped = _finish(
        job,
        JobStatus.CANCELLED,
        now,
        cancelled_by=by,
        cancelled_at=now,
        poll_errors=0,
        poll_error_kind=None,
        download_attempts=0,
    )
    return _transition(job, stopped)


def setting_up(job: Job, now: float) -> bool:
    """Whether the process that created the job may still be showing it on Discord: a delivery waits until not."""
    return job.set_up_at is None and now < job.created_at + SETUP_WAIT_SECONDS


def lease_delivery(job: Job, now: float, until: float, *, holder: str) -> Transition:
    """The finished job is taken to be delivered by ``holder``, until ``until``; the attempt is counted.

    An attempt that was cut off (the job is still 'delivering') may have posted, and once one may have, every
    later attempt must look before posting too: from ``delivery_started_at`` on, when the first was claimed.
    """
    claimed = dataclasses.replace(
        job,
        maybe_delivered=job.maybe_delivered or job.delivery_state is DeliveryState.DELIVERING,
        delivery_state=DeliveryState.DELIVERING,
        deliver_at=until,
        delivery_started_at=job.delivery_started_at if job.delivery_started_at is not None else now,
        delivery_attempts=job.delivery_attempts + 1,
        lease_holder=holder,
    )
    return _transition(job, claimed)


def delivered(job: Job, message_id: int | None, now: float) -> Transition:
    """The job reached its recipient (``message_id`` is the post, if any); it is never delivered again."""
    return _transition(job, _delivered(job, now, message_id))


def delivery_failed(job: Job, now: float) -> Transition:
    """A delivery attempt raised: try again later, waiting longer each time, or give up after the last."""
    if job.delivery_attempts >= MAX_DELIVERY_ATTEMPTS:
        return give_up_delivery(job, UNDELIVERABLE_MESSAGE, now)
    # The failed attempt may still have posted (its answer was lost), so the next one looks before posting.
    retry = dataclasses.replace(
        job,
        delivery_state=DeliveryState.PENDING,
        maybe_delivered=True,
        deliver_at=now + DELIVERY_BACKOFF.delay(job.delivery_attempts),
        updated_at=now,
    )
    return _transition(job, retry)


def give_up_delivery(job: Job, reason: Text | str, now: float) -> Transition:
    """Stop trying to deliver: the job shows ``reason`` (unless it already says why it failed), and a video
    nobody got is refunded."""
    gave_up = dataclasses.replace(job, delivery_state=DeliveryState.FAILED, deliver_at=None, updated_at=now)
    if job.error_message is None:
        gave_up = _with_reason(gave_up, reason)
    return _transition(job, gave_up)


def _transition(before: Job, after: Job, *, became_slow: bool = False) -> Transition:
    """The move from ``before`` to ``after`` with what comes with it: every effect rule is here."""
    effects: list[Effect] = []
    if after.status.is_terminal and not before.status.is_terminal:
        if after.status is JobStatus.SUCCEEDED:
            effects.append(Settle())  # the video is here: the held credits are spent
        elif after.status is JobStatus.CANCELLED:
            # The provider bills a task it was sent, cancelled or not; one never sent costs nothing.
            effects.append(Settle() if before.sent else Refund())
        else:
            effects.append(Refund())  # every failure gives the credits back
            if after.error_kind is ErrorKind.CONTENT_POLICY and after.guild_id and after.requester_id:
                effects.append(Strike(after.guild_id, after.requester_id, STRIKE_REASON))
    gave_up = after.delivery_state is DeliveryState.FAILED and before.delivery_state is not DeliveryState.FAILED
    if gave_up and after.status is JobStatus.SUCCEEDED:
        effects.append(Refund())  # a video nobody got is not paid for
    if became_slow or after.status is not before.status or after.fingerprint != before.fingerprint:
        effects.append(Notify(became_slow=became_slow))
    return Transition(before=before, job=after, effects=tuple(effects))


def _keep_polling(job: Job, now: float, policy: PollPolicy, *, retry_at: float | None = None) -> tuple[Job, bool]:
    """The job polled again at its next time (or ``retry_at``), or timed out; and whether it just became slow."""
    if now >= deadline(job, policy):
        return _fail(job, ErrorKind.TIMED_OUT, TIMED_OUT_MESSAGE, now), False
    slow = now - job.started_at >= policy.notice_after_seconds
    planned = (
        retry_at
        if retry_at is not None
        else next_poll(now, window_of(job, policy), policy.timing, slow=slow, place=place_of(job))
    )
    updated = dataclasses.replace(job, next_poll_at=min(planned, deadline(job, policy)), slow_notified=slow)
    return updated, slow and not job.slow_notified


def _fail(job: Job, kind: ErrorKind, message: Text | str, now: float, *, told: bool = False) -> Job:
    failed = _with_reason(_finish(job, JobStatus.FAILED, now, error_kind=kind), message)
    return _delivered(failed, now) if told else failed


def _with_reason(job: Job, reason: Text | str) -> Job:
    """The job saying why it failed: the message to translate, and its English."""
    text = as_text(reason)
    return dataclasses.replace(job, error_text=text, error_message=str(text))


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


def _delivered(job: Job, now: float, message_id: int | None = None) -> Job:
    return dataclasses.replace(
        job,
        delivery_state=DeliveryState.DELIVERED,
        deliver_at=None,
        delivered_at=now,
        updated_at=now,
        result_message_id=message_id if message_id is not None else job.result_message_id,
    )


def window_of(job: Job, policy: PollPolicy) -> RefreshWindow:
    """The window the job's refresh phase is known to lie in (as the shared clock sees it, if there is one)."""
    window = refresh_window(job)
    if window is None:
        return first_window(job.started_at, policy.timing.period)
    shared = policy.timing.shared
    return window if shared is None else shared.own_window(job.id, window)


def refresh_window(job: Job) -> RefreshWindow | None:
    """The window a job's own polls narrowed its refresh phase to, if it has one."""
    if job.refresh_start is None or job.refresh_end is None:
        return None
    return RefreshWindow(job.refresh_start, job.refresh_end)


def replanned(job: Job, now: float, policy: PollPolicy) -> float:
    """When a running job's next scheduled poll should be, planned again at ``now`` from its last poll."""
    since = job.last_poll_at if job.last_poll_at is not None else job.started_at
    planned = next_poll(since, window_of(job, policy), policy.timing, place=place_of(job))
    return min(max(now, planned), deadline(job, policy))


def place_of(job: Job) -> TaskPlace:
    """The job's place in the gateway's pass: the gateway refreshes tasks in the order they were created."""
    return TaskPlace(job.id, job.submitted_at if job.submitted_at is not None else job.started_at)


def refreshed(before: Job, after: Job) -> bool:
    """Whether a poll that took ``before`` to ``after`` saw the task change (a refresh landed since the last one)."""
    return _visible(after.remote_status, after.progress) != _visible(before.remote_status, before.progress)


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


def _failure_message(kind: ErrorKind, reason: str | None) -> Text | str:
    if kind is ErrorKind.CONTENT_POLICY:
        return N_(
            "The video provider refused this request under its content policy. Rephrase the prompt or use other images."
        )
    if reason:
        return _(
            "The video provider could not make this video: {reason}. Try again or change the prompt.",
            reason=scrub(reason)[:300],
        )
    return GENERIC_FAILURE
