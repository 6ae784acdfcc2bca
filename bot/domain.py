"""Domain objects shared by the engine, the CLI and the Discord front."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from bot.locales import Text

# Past this many doublings every wait is at its cap anyway (and 2.0**attempt would overflow for huge counts).
_MAX_DOUBLINGS: Final = 64


class Orientation(StrEnum):
    """Which way up the video is."""

    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"


class WireFormat(StrEnum):
    """The two request formats the gateway speaks."""

    OPENAI = "openai"  # POST /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content
    UNIFIED = "unified"  # POST /v1/video/create, GET /v1/video/query?id=


class ImageTransport(StrEnum):
    """How a model receives reference images."""

    DATA_URI = "data_uri"
    URL = "url"


class RemoteState(StrEnum):
    """A gateway task's state, after the status synonym table."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobStatus(StrEnum):
    """The bot's own job state, as stored."""

    WAITING = "waiting"  # in the server's wait queue, its credits held: it starts when an in-progress slot frees
    SUBMITTING = "submitting"  # persisted, the create request may be in flight
    QUEUED = "queued"  # the gateway confirmed the task
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the verified MP4 is on disk
    FAILED = "failed"
    CANCELLED = "cancelled"  # a member stopped it; cancelled_by says who

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class ErrorKind(StrEnum):
    """Why a job or a gateway call failed, in categories a user can act on."""

    AUTH = "auth"
    BALANCE = "balance"
    INVALID_REQUEST = "invalid_request"
    CONTENT_POLICY = "content_policy"
    MODEL_UNAVAILABLE = "model_unavailable"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    LOST = "lost"
    UNCONFIRMED = "unconfirmed"
    TIMED_OUT = "timed_out"
    GENERATION_FAILED = "generation_failed"
    BAD_RESULT = "bad_result"
    DROPPED = "dropped"  # taken out of the wait queue: what it asks is no longer allowed


class DeliveryState(StrEnum):
    """Where handing a finished job to its delivery callback stands."""

    NONE = "none"  # not finished yet
    PENDING = "pending"  # finished, not handed over
    DELIVERING = "delivering"  # handed over; a crash here means "maybe delivered"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after repeated attempts; the job stays visible in status


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """One observation of a gateway task, parsed from either wire format."""

    state: RemoteState
    raw_status: str
    progress: int | None = None
    result_url: str | None = None
    error: str | None = None
    error_code: str | None = None
    updated_at: float | None = None  # unix seconds, when the gateway reports it

    @property
    def fingerprint(self) -> tuple[str, int | None]:
        """What a refresh on the gateway visibly changes."""
        return (self.raw_status, self.progress)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The gateway's answer to a create request."""

    task_id: str
    snapshot: TaskSnapshot


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a user asked for, validated against the catalog."""

    prompt: str
    model: str
    orientation: Orientation
    duration: int
    hd: bool = False
    images: tuple[str, ...] = field(default=())  # data URIs or http(s) URLs, as the model wants them
    last_frame: str | None = None  # the frame the video ends on, for models that take one; same forms as images


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job about to be stored, before anything is sent to the gateway."""

    request: GenerationRequest
    origin: str = "discord"
    requester_id: int | None = None
    guild_id: int | None = None
    channel_id: int | None = None
    parent_job_id: str | None = None  # the job a re-roll, remix or retry started from
    private: bool = False  # shown to the requester alone (DM or private replies), never in a channel
    locale: str | None = None  # the server's preferred Discord locale, for the job's public posts
    member_locale: str | None = None  # the requester's Discord locale, for what only they see


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job: what was asked, where it stands on the gateway, and whether it was delivered."""

    id: str
    origin: str
    requester_id: int | None
    guild_id: int | None
    channel_id: int | None
    thread_id: int | None
    status_message_id: int | None
    result_message_id: int | None
    prompt: str
    model: str
    wire_format: WireFormat
    orientation: Orientation
    duration: int
    hd: bool
    image_count: int
    task_id: str | None
    status: JobStatus
    remote_status: str | None
    progress: int | None
    created_at: float
    submitted_at: float | None
    updated_at: float
    finished_at: float | None
    next_poll_at: float | None
    last_poll_at: float | None
    poll_count: int
    refresh_start: float | None
    refresh_end: float | None
    slow_notified: bool
    error_kind: ErrorKind | None  # why the job failed; None while it runs and once it succeeded
    error_message: str | None
    result_path: str | None
    result_bytes: int | None
    delivery_state: DeliveryState
    deliver_at: float | None
    delivery_attempts: int
    maybe_delivered: bool
    delivered_at: float | None
    parent_job_id: str | None = None
    result_deleted_at: float | None = None
    forgotten_at: float | None = None
    result_channel_id: int | None = None
    has_last_frame: bool = False
    delivery_started_at: float | None = None  # when the first delivery attempt was claimed
    poll_errors: int = 0  # consecutive polls that failed with ``poll_error_kind``
    poll_error_kind: ErrorKind | None = None  # the kind of those failures (a lost task counts only in a row)
    download_attempts: int = 0  # failed fetches of the finished result so far
    lease_holder: str | None = None  # the process that last took the job's lease (to poll or to deliver it)
    cancelled_by: int | None = None  # the member who cancelled the job
    cancelled_at: float | None = None
    # When the process that created the job had shown it (status message, thread), or given up trying: until then
    # a delivery by any process waits, so the video lands in the thread.
    set_up_at: float | None = None
    wait_started_at: float | None = None  # when it joined its server's wait queue (None: it never waited)
    wait_ended_at: float | None = None  # when the queue started it: its give-up time before the submit counts from here
    # Its place in the queue as its status message last showed it (position and size), with the estimated wait
    # in minutes (None: no estimate) and whether a pause holds the queue.
    queue_position: int | None = None
    queue_size: int | None = None
    queue_minutes: int | None = None
    queue_paused: bool = False
    # A private job is shown to its requester alone: no public status message, no thread (see bot.front.private).
    private: bool = False
    # The requester's DM channel holding a private job's status message; None when it is their private reply instead.
    dm_channel_id: int | None = None
    locale: str | None = None  # the server's preferred Discord locale when the job was made: its public posts' language
    member_locale: str | None = None  # the requester's Discord locale then: the language of what only they see
    # Why the job failed as a message to translate, with the values in it; ``error_message`` is its English. None
    # before it failed, or when it failed before reasons were kept so (bot.front.render.reason_text shows either).
    # Left out of the hash: a Text's fields are a dict.
    error_text: Text | None = field(default=None, hash=False)

    @property
    def sent(self) -> bool:
        """Whether the gateway has the task (and will bill it, whatever happens to the job)."""
        return self.task_id is not None

    @property
    def fingerprint(self) -> tuple[str, int | None]:
        """What the last poll showed, to tell whether the next one shows a change."""
        return (self.remote_status or "", self.progress)

    @property
    def started_at(self) -> float:
        """When the job was sent to the gateway, or created if it never was: its time limit counts from here."""
        return self.submitted_at if self.submitted_at is not None else self.created_at

    @property
    def post_locale(self) -> str | None:
        """The language of the job's posts: the server's for a public job, the member's for a private one (its
        status and video go to the member alone)."""
        return self.member_locale if self.private else self.locale


@dataclass(frozen=True, slots=True)
class PrivateReply:
    """The interaction a private job came from: any process can answer it privately until ``expires_at``.

    The token is a credential (it lets anyone post as the bot to that member): never logged, never in a repr.
    """

    application_id: int
    token: str = field(repr=False)
    expires_at: float  # unix seconds; Discord refuses the token after its 15 minutes


@dataclass(frozen=True, slots=True)
class Backoff:
    """The one backoff rule every retry follows: the wait doubles from ``first`` up to ``cap``.

    ``jitter`` is the share of each wait drawn at random, so clients that failed together do not retry together.
    """

    first: float
    cap: float
    jitter: float = 0.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.first * 2.0 ** min(attempt, _MAX_DOUBLINGS))
        if not self.jitter:
            return ceiling
        return ceiling * ((1.0 - self.jitter) + self.jitter * rng())


@dataclass(frozen=True, slots=True)
class Settle:
    """Commit the credits held for the job: its video arrived."""


@dataclass(frozen=True, slots=True)
class Refund:
    """Give back the job's credits, held or already committed (bonus credits return as bonus credits)."""


@dataclass(frozen=True, slots=True)
class Strike:
    """Count a content refusal against the member who asked for the job."""

    guild_id: int
    user_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the job's progress listeners, once the change is stored: something they show changed."""

    became_slow: bool = False


Effect = Settle | Refund | Strike | Notify


@dataclass(frozen=True, slots=True)
class Transition:
    """A job's move from one stored state (``before``) to the next (``job``), with what must happen along.

    The lifecycle makes them; the store writes the fields that changed and carries out the effects in one
    transaction, only while the stored job is still in ``before``'s status.
    """

    before: Job
    job: Job
    effects: tuple[Effect, ...] = ()

    def then(self, following: Transition) -> Transition:
        """This move and ``following``, which starts where this one ends, as one."""
        if following.before != self.job:
            raise ValueError(f"job {following.job.id}: a transition must start where the previous one ended")
        both = (*self.effects, *following.effects)
        effects: list[Effect] = [effect for effect in dict.fromkeys(both) if not isinstance(effect, Notify)]
        told = [effect for effect in both if isinstance(effect, Notify)]
        if told:  # listeners are told once, of everything the two moves showed
            effects.append(Notify(became_slow=any(notify.became_slow for notify in told)))
        return Transition(before=self.before, job=following.job, effects=tuple(effects))

    @property
    def notify(self) -> Notify | None:
        """What to tell progress listeners, if anything."""
        return next((effect for effect in self.effects if isinstance(effect, Notify)), None)
