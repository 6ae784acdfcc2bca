"""Creating a job, whoever asks: check, moderate, price, hold the credits, store it, then submit it.

A front runs the steps in order and does its own part between them: the Discord front prepares the images after
``check`` and posts the status message after ``reserve``; the terminal runs them back to back with ``submit``. A job
that ``reserve`` stored (its credits held) can be handed to ``start`` later, by whoever starts waiting jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.catalog import ModelSpec
from bot.domain import ErrorKind, GenerationRequest, Job, JobStatus, NewJob, Orientation
from bot.locales import Text
from bot.services.jobs import Hold, JobService
from bot.services.moderation import ModerationRefusal, ModerationService, Requester, gateway_pause_text
from bot.services.quotas import QuotaService
from bot.storage.guilds import GuildStore


@dataclass(frozen=True, slots=True)
class Ask:
    """What someone asked for, before any check."""

    prompt: str
    model: str | None = None
    orientation: Orientation = Orientation.LANDSCAPE
    duration: int | None = None
    hd: bool = False
    images: Sequence[str] = ()  # links or data URIs, as the gateway gets them, when the asker has them already
    last_frame: str | None = None
    # Pictures that come as files and become links or data URIs only after the checks (attachments on Discord).
    attached_images: int = 0
    attached_last_frame: bool = False


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed the catalog and moderation, with its model, its price and who asked (None: the
    operator, from the terminal)."""

    request: GenerationRequest
    spec: ModelSpec
    cost: float
    who: Requester | None


@dataclass(frozen=True, slots=True)
class Started:
    """A job after its submit: running, or failed (refused); ``pause_notice`` when that refusal paused every
    server, for the front to tell owners and audit logs once."""

    job: Job
    pause_notice: str | None = None

    @property
    def refused(self) -> bool:
        """The gateway did not take the job; its credits were given back."""
        return self.job.status is JobStatus.FAILED


class CreationService:
    """The steps of creating a job that need no chat platform."""

    def __init__(
        self, *, jobs: JobService, moderation: ModerationService, quotas: QuotaService, guilds: GuildStore
    ) -> None:
        self._jobs = jobs
        self._moderation = moderation
        self._quotas = quotas
        self._guilds = guilds

    async def check(self, ask: Ask, who: Requester | None) -> Checked:
        """Validate against the catalog, then moderate (a member's request only), then price.

        Every refusal is a UserFacingError; a moderation refusal that counts as a strike is recorded first.
        """
        jobs = self._jobs
        spec = jobs.model(ask.model)
        request = jobs.build_request(
            prompt=ask.prompt,
            model=spec.name,
            orientation=ask.orientation,
            duration=ask.duration,
            hd=ask.hd,
            images=ask.images,
            last_frame=ask.last_frame,
            attached_images=ask.attached_images,
            attached_last_frame=ask.attached_last_frame,
        )
        if who is not None:
            try:
                await self._moderation.check(who, request.prompt, spec.name)
            except ModerationRefusal as refusal:
                if refusal.strike:
                    await self._guilds.record_strike(who.guild_id, who.user_id, None, refusal.reason)
                raise
        return Checked(request=request, spec=spec, cost=spec.cost(request.duration), who=who)

    async def reserve(self, checked: Checked, new: NewJob) -> Job:
        """Hold the member's credits and store the job, in one transaction; a QuotaRefusal stores nothing.

        ``new`` carries the request as it is kept (on Discord: the images' file names, for their count).
        """
        hold: Hold | None = None
        who = checked.who
        if who is not None:
            hold = await self._quotas.holder(who.guild_id, who.user_id, who.role_ids, checked.cost)
        return await self._jobs.add(new, hold=hold)

    async def start(self, job: Job, request: GenerationRequest, *, refusal_told: bool = False) -> Started:
        """Submit a stored job. A refusal ends it with its credits given back; the key or balance refusal of a
        server's job also pauses every server, once.

        ``refusal_told``: the caller tells the requester about a refusal itself (see JobService.send).
        """
        job = await self._jobs.send(job, request, refusal_told=refusal_told)
        if job.status is not JobStatus.FAILED or job.guild_id is None:
            return Started(job)
        kind = job.error_kind or ErrorKind.GENERATION_FAILED
        paused = await self._moderation.pause_for_gateway(kind)
        return Started(job, gateway_pause_text(kind) if paused else None)

    async def abandon(self, job: Job, reason: Text) -> Job:
        """End a stored job that will not be submitted (its front could not set it up); its credits come back."""
        return await self._jobs.abandon(job, reason)

    async def submit(self, checked: Checked, new: NewJob) -> Started:
        """``reserve``, then ``start`` at once: for an asker with nothing to do between (the terminal)."""
        return await self.start(await self.reserve(checked, new), checked.request)
