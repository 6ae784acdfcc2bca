"""Domain objects shared by the engine, the CLI and the Discord front."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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

    SUBMITTING = "submitting"  # persisted, the create request may be in flight
    QUEUED = "queued"  # the gateway confirmed the task
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the verified MP4 is on disk
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


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
    attempts: int
    refresh_start: float | None
    refresh_end: float | None
    slow_notified: bool
    error_kind: ErrorKind | None
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

    @property
    def fingerprint(self) -> tuple[str, int | None]:
        """What the last poll showed, to tell whether the next one shows a change."""
        return (self.remote_status or "", self.progress)
