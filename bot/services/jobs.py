"""JobService: check a request against the catalog, persist it, then send it to the gateway."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from bot.catalog import ModelSpec
from bot.domain import (
    ErrorKind,
    GenerationRequest,
    ImageTransport,
    Job,
    JobStatus,
    NewJob,
    Orientation,
)
from bot.errors import GatewayAcceptedUnreadableError, GatewayError, GatewayUnconfirmedError, UserFacingError
from bot.gateway.client import GatewayClient
from bot.locales import Text, _, _n
from bot.metrics import Metrics
from bot.services import lifecycle
from bot.services.lifecycle import PollPolicy
from bot.services.served import ServedModels
from bot.storage import JobStore
from bot.storage.database import Session

log = logging.getLogger(__name__)

Hold = Callable[[Session, str], Awaitable[bool]]

MAX_PROMPT_CHARS: Final = 2000


class SentMeanwhile(UserFacingError):
    """A cancel of a job thought not yet sent found it sent (between the press and the write): its credits would
    stay spent, so the member is asked first."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            _(
                "The video provider started this video a moment ago, so cancelling it now would not give its credits "
                "back. Press Cancel again to decide."
            )
        )
        self.job = job


class JobService:
    """Creates jobs; the poller takes them from there."""

    def __init__(
        self,
        *,
        store: JobStore,
        client: GatewayClient,
        models: ServedModels,
        policy: PollPolicy,
        on_submitted: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._client = client
        self.models = models
        self._policy = policy
        self.on_submitted = on_submitted
        self.on_queue_change: Callable[[], None] | None = None  # a slot freed or the queue moved: look at it
        self._metrics = metrics or Metrics(runtime=False)
        self._clock = clock

    def build_request(
        self,
        *,
        prompt: str,
        model: str | None = None,
        orientation: Orientation = Orientation.LANDSCAPE,
        duration: int | None = None,
        hd: bool = False,
        images: Sequence[str] = (),
        last_frame: str | None = None,
        attached_images: int = 0,
        attached_last_frame: bool = False,
    ) -> GenerationRequest:
        """Check what a user asked for against the catalog; every refusal says what to change.

        ``attached_images`` and ``attached_last_frame`` count pictures still to be uploaded (a Discord attachment
        becomes a link only after these checks), so the image rules see every picture the request will carry.
        """
        spec = self.model(model)
        prompt = prompt.strip()
        if not prompt:
            raise UserFacingError(_("The prompt is empty. Describe the video you want."))
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserFacingError(
                _(
                    "The prompt is {length} characters long; the limit is {limit}. Shorten it.",
                    length=len(prompt),
                    limit=MAX_PROMPT_CHARS,
                )
            )
        if orientation not in spec.sizes:
            offered = " / ".join(o.value for o in spec.orientations)
            raise UserFacingError(
                _(
                    "{model} does not make {orientation} videos. Choose {offered}.",
                    model=spec.label,
                    orientation=orientation.value,
                    offered=offered,
                )
            )
        chosen = spec.default_duration if duration is None else duration
        if chosen not in spec.durations:
            allowed = ", ".join(str(d) for d in spec.durations)
            raise UserFacingError(
                _(
                    "{model} makes videos of {allowed} seconds, not {chosen}. Pick one of those.",
                    model=spec.label,
                    allowed=allowed,
                    chosen=chosen,
                )
            )
        if hd and orientation not in spec.hd_orientations:
            if spec.hd_orientations:
                where = " / ".join(o.value for o in spec.hd_orientations)
                raise UserFacingError(
                    _(
                        "HD is only available for {where} videos with {model}. Turn HD off.",
                        where=where,
                        model=spec.label,
                    )
                )
            raise UserFacingError(_("{model} has no HD option. Turn HD off or pick another model.", model=spec.label))
        check_image_count(spec, len(images) + attached_images)
        if last_frame is not None or attached_last_frame:
            check_last_frame(spec)
        _check_image_forms(spec, [*images, *([last_frame] if last_frame else [])])
        return GenerationRequest(
            prompt=prompt,
            model=spec.name,
            orientation=orientation,
            duration=chosen,
            hd=hd,
            images=tuple(images),
            last_frame=last_frame,
        )

    def model(self, name: str | None) -> ModelSpec:
        """The named model (or the default) if members may use it now, or a refusal that says what to pick."""
        return self.models.resolve(name)

    async def submit(self, new: NewJob) -> Job:
        """Store the job, then send it. A refused or unconfirmed submit comes back as a failed job, not an error."""
        return await self.send(await self.add(new), new.request)

    async def add(self, new: NewJob, *, hold: Hold | None = None) -> Job:
        """Store a job before anything is sent; until ``send`` confirms it, a crash leaves it 'unconfirmed'.

        ``hold`` reserves the job's credits in the same transaction; if it refuses, nothing is stored.
        """
        spec = self.models.named(new.request.model)
        now = self._clock()
        give_up_at = lifecycle.unsent_deadline(now, self._client.timeouts.submit)
        created = lifecycle.created(new, spec.wire_format, now, give_up_at)
        return await self._store.add(created, hold=hold, wait=lifecycle.waiting)

    async def abandon(self, job: Job, reason: Text) -> Job:
        """End a stored job that was never sent (its set-up failed); its credits are refunded.

        The caller tells the requester, so the job is recorded as delivered in the same write.
        """
        failed = lifecycle.fail(job, ErrorKind.UNAVAILABLE, reason, self._clock(), told=True)
        await self._store.apply(failed)
        self.queue_changed()
        return failed.job

    def queue_changed(self) -> None:
        """Tell this process's wait queue that a job ended, joined or left the queue (another may start now)."""
        if self.on_queue_change is not None:
            self.on_queue_change()

    async def cancel(self, job: Job, by: int, *, spend: bool = False) -> Job:
        """Cancel an unfinished job for member ``by`` (see lifecycle.cancel); return it as stored afterwards.

        Cancelled, by ``by`` or by someone just before; or finished otherwise first: whichever write came first won.
        A job that moved meanwhile (the queue started it) is cancelled where it is now. One found sent that the
        member did not agree to pay for (``spend``: they confirmed its credits stay spent) raises SentMeanwhile.
        """
        stored = job
        for _attempt in range(3):  # waiting, then taken to be sent, then sent: a job moves at most this often
            if job.status is JobStatus.SUBMITTING:
                job = await self._withdraw(job)
                if job.status.is_terminal:
                    return job
            if job.sent and not spend:
                raise SentMeanwhile(job)
            change = lifecycle.cancel(job, by, self._clock())
            committed = await self._store.apply(change)
            stored = await self._store.get(job.id) or change.job
            ours = (by, change.job.cancelled_at)
            if stored.status is JobStatus.CANCELLED and (stored.cancelled_by, stored.cancelled_at) == ours:
                how = "sent, credits spent" if job.sent else "not sent"
                log.info("Job %s: cancelled by %s (%s, was %s)", job.id, by, how, job.status)
                self._metrics.credits_spent.inc(committed)
                self._metrics.job_finished(job.model, JobStatus.CANCELLED.value)
                if self.on_submitted is not None:
                    self.on_submitted()  # wakes the poller: the delivery shows who cancelled on the status message
                self.queue_changed()
                return stored
            if stored.status.is_terminal:
                return stored
            job = stored
        return stored

    async def _withdraw(self, job: Job) -> Job:
        """Make sure a job waiting to be sent is not sent while it is cancelled: it is taken from its sender, or
        the sender has it already and the cancel must wait for the gateway's answer (the job may be billed)."""
        stored_with = lifecycle.stored_deadline(job, self._client.timeouts.submit)
        # Should the cancel not be recorded after all, the poller gives the job up (with a refund) a little later.
        fallback = self._clock() + lifecycle.SUBMIT_GRACE_SECONDS
        if await self._store.withdraw_unsent(job.id, stored_with, fallback):
            return dataclasses.replace(job, next_poll_at=fallback)
        current = await self._store.get(job.id)
        if current is not None and current.status is not JobStatus.SUBMITTING:
            return current  # sent meanwhile (the cancel then commits its credits), or ended
        raise UserFacingError(
            _("This video is being handed to the video provider right now. Press Cancel again in a few seconds.")
        )

    async def send(self, job: Job, request: GenerationRequest, *, refusal_told: bool = False) -> Job:
        """Submit a stored job's request and record the outcome.

        ``refusal_told``: the caller tells the requester about a refusal itself, so a refused job is recorded as
        delivered in the same write (nothing is posted for it later).
        """
        spec = self.models.named(request.model)
        # Move the give-up time past this submit's own timeout; if the poller already gave the job up, or took
        # it to do so (its set-up took too long), do not submit at all.
        deadline = lifecycle.unsent_deadline(self._clock(), self._client.timeouts.submit)
        if not await self._store.extend_submit(job, deadline):
            current = await self._store.get(job.id)
            if current is not None and current.status is JobStatus.CANCELLED:
                raise UserFacingError(_("This video was cancelled before it was sent. Nothing was charged."))
            raise UserFacingError(
                _("Setting this video up took too long, so it was not sent. Nothing was charged; try again.")
            )
        who = job.requester_id or job.origin
        log.info(
            "Job %s: submitting %s (%ss, %s) for %s", job.id, spec.name, request.duration, request.orientation, who
        )
        try:
            result = await self._client.submit(request, spec)
        except GatewayError as exc:
            if isinstance(exc, GatewayUnconfirmedError):
                # The gateway may hold (and bill) a task nobody can see: the operator finds it by the job id. The
                # prompt stays out of the log, which outlives /video forget.
                log.error("Job %s: the submit for %s got no answer (%s); not resending", job.id, spec.name, exc.detail)
            elif isinstance(exc, GatewayAcceptedUnreadableError):
                log.error(
                    "Job %s: the gateway accepted the submit for %s, but its answer could not be read (%s); the task "
                    "may run and be billed; not resending",
                    job.id,
                    spec.name,
                    exc.detail,
                )
            else:
                log.warning("Job %s: gateway refused the submit: %s", job.id, exc)
            self._metrics.submit_errors.labels(kind=exc.kind.value).inc()
            outcome = lifecycle.fail_with(job, exc, self._clock(), told=refusal_told)
        else:
            self._metrics.job_submitted(spec.name)
            outcome = lifecycle.after_submit(job, result, self._clock(), self._policy)
        await self._store.apply(outcome)
        if self.on_submitted is not None:
            self.on_submitted()
        if outcome.job.status.is_terminal:
            self.queue_changed()
        return outcome.job


def check_image_count(spec: ModelSpec, count: int) -> None:
    """Refuse more reference images than the model takes, or fewer than it needs."""
    if count < spec.min_images:
        raise UserFacingError(
            _n(
                "{model} makes videos from a picture: attach {count} reference image (the `image` option), or pick a "
                "model that starts from text.",
                "{model} makes videos from a picture: attach {count} reference images (the `image` option), or pick "
                "a model that starts from text.",
                spec.min_images,
                model=spec.label,
            )
        )
    if count > spec.max_images:
        if spec.max_images == 0:
            raise UserFacingError(
                _("{model} does not take reference images. Remove them or pick another model.", model=spec.label)
            )
        raise UserFacingError(
            _n(
                "{model} takes at most {count} reference image; you gave {given}. Remove some.",
                "{model} takes at most {count} reference images; you gave {given}. Remove some.",
                spec.max_images,
                model=spec.label,
                given=count,
            )
        )


def check_last_frame(spec: ModelSpec) -> None:
    """Refuse a last frame for a model that cannot end on one."""
    if not spec.takes_last_frame:
        raise UserFacingError(
            _(
                "{model} cannot end the video on a given picture. Remove the last frame or pick a model that takes "
                "one (/video models shows which).",
                model=spec.label,
            )
        )


def _check_image_forms(spec: ModelSpec, images: Sequence[str]) -> None:
    for image in images:
        is_url = image.startswith(("https://", "http://"))
        if spec.image_transport is ImageTransport.URL and not is_url:
            raise UserFacingError(
                _("{model} fetches reference images from links: give an http(s) URL, not a file.", model=spec.label)
            )
        if spec.image_transport is ImageTransport.DATA_URI and not (is_url or image.startswith("data:image/")):
            raise UserFacingError(_("A reference image must be a PNG, JPEG, WebP or GIF picture."))
