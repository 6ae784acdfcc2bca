"""The fair wait queue: a server's jobs over an in-progress limit wait, their credits held, and start in turn.

The queue is the jobs table itself (status 'waiting'), so it survives restarts and every process sees it. Whichever
process frees a slot, or notices a free one on its periodic look, reviews the server's queue: it drops the jobs that
are no longer allowed (with their credits back), claims the next ones in fair order (round-robin by member) under
the server's balance lock, and stores each remaining job's place for its status message.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from bot.domain import ErrorKind, Job, JobStatus, Transition
from bot.locales import N_, Text
from bot.services import lifecycle
from bot.services.moderation import ModerationRefusal, ModerationService
from bot.services.quotas import Limits, QuotaService
from bot.services.served import ModelState, ServedModels
from bot.storage import JobStore
from bot.storage.store import Turns

# Even when nothing in this process freed a slot, the queues are looked at this often: another process may have.
QUEUE_CHECK_SECONDS: Final = 5.0
# The estimate of a wait uses this many of the model's latest videos.
RECENT_VIDEOS: Final = 20

# Reasons are stored as messages (and in English, the job's error message) and translated where they are shown.
FORGOTTEN_REASON: Final = N_("Its prompt was erased with /video forget, so there is nothing left to send.")
MODEL_GONE_REASON: Final = N_("Its model is no longer available on this bot. Pick another one (/video models).")


def fair_order(waiting: Sequence[Job], last_started: Mapping[int, float] | None = None) -> list[Job]:
    """The order waiting jobs start in, round-robin by member: each member's oldest waiting job, then each one's
    second, and so on; within a round, the member whose last video started longest ago (``last_started``, per
    member; never: first) goes first. So one member's jobs are never all ahead of everyone else's, and the order
    stays the same as jobs start and end (a member's turn moves back only when one of theirs starts)."""
    started = last_started or {}
    turns: dict[int, int] = {}
    ranked: list[tuple[int, float, float, str, Job]] = []
    for job in sorted(waiting, key=lambda job: (job.created_at, job.id)):
        member = job.requester_id or 0
        turn = turns.get(member, 0)
        turns[member] = turn + 1
        ranked.append((turn, started.get(member, -math.inf), job.created_at, job.id, job))
    return [job for *_, job in sorted(ranked, key=lambda item: item[:4])]


def to_start(ordered: Sequence[Job], busy: Mapping[int, int], limits: Limits) -> list[Job]:
    """The jobs of ``ordered`` (in fair order) that fit the free slots, given each member's jobs in progress
    (``busy``); a member at their own limit is passed over, not waited for. A limit of 0 is no limit."""
    running = sum(busy.values())
    members = dict(busy)
    chosen = []
    for job in ordered:
        if limits.max_jobs_guild and running >= limits.max_jobs_guild:
            break
        member = job.requester_id or 0
        if limits.max_jobs_user and members.get(member, 0) >= limits.max_jobs_user:
            continue
        chosen.append(job)
        running += 1
        members[member] = members.get(member, 0) + 1
    return chosen


def wait_minutes(position: int, limits: Limits, typical_seconds: float | None) -> int | None:
    """About how many minutes the job at ``position`` waits: one typical video per round of free slots ahead of
    it (at least one minute); None without a typical duration."""
    if typical_seconds is None:
        return None
    parallel = limits.max_jobs_guild or limits.max_jobs_user or 1
    rounds = math.ceil(position / parallel)
    return max(1, math.ceil(rounds * typical_seconds / 60))


@dataclass(frozen=True, slots=True)
class Review:
    """What one look at a server's queue did: jobs dropped (to be told), started (to be sent) and moved (whose
    status message is to show their new place)."""

    dropped: list[Job]
    started: list[Job]
    moved: list[Job]
    paused: ModerationRefusal | None = None


class QueueService:
    """Reviews a server's wait queue in the store; the front sends what starts and shows what moved."""

    def __init__(
        self,
        *,
        store: JobStore,
        quotas: QuotaService,
        moderation: ModerationService,
        models: ServedModels,
        submit_timeout: float,
        holder: str,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._quotas = quotas
        self._moderation = moderation
        self._models = models
        self._submit_timeout = submit_timeout
        self._holder = holder
        self._clock = clock

    async def guilds(self) -> list[int]:
        """The servers with waiting jobs."""
        return await self._store.waiting_guilds()

    async def review(self, guild_id: int) -> Review:
        """Drop what is no longer allowed, start what fits (unless a pause holds the queue), place the rest."""
        limits = await self._quotas.limits(guild_id, ())  # in-progress limits do not depend on roles
        pause = await self._moderation.paused(guild_id)
        now = self._clock()
        dropped = []
        for job in await self._store.waiting(guild_id):
            if lifecycle.setting_up(job, now):
                continue
            reason = await self.drop_reason(job)
            gone = await self._drop(job, reason) if reason is not None else None
            if gone is not None:
                dropped.append(gone)
        started: list[Job] = []
        if pause is None:
            started = await self._store.claim_waiting(guild_id, lambda turns: self._pick(turns, limits))
        remaining = fair_order(await self._store.waiting(guild_id), await self._store.last_started(guild_id))
        typical = {model: await self._typical(model) for model in {job.model for job in remaining}}
        moved = []
        for position, job in enumerate(remaining, start=1):
            if lifecycle.setting_up(job, now):
                # Its status message may not be posted yet: a place stored now would never be shown. It is placed
                # on the review that follows its set-up (the creator wakes the queue then).
                continue
            minutes = wait_minutes(position, limits, typical[job.model])
            place = lifecycle.placed(job, position, len(remaining), minutes, pause is not None)
            if await self._store.set_queue_place(place):
                moved.append(place)
        return Review(dropped=dropped, started=started, moved=moved, paused=pause)

    def _pick(self, turns: Turns, limits: Limits) -> list[Transition]:
        now = self._clock()
        # A job whose status message is still being posted is not started yet: its images are on that message.
        ordered = fair_order(turns.waiting, turns.last_started)
        ready = [job for job in ordered if not lifecycle.setting_up(job, now)]
        return [
            lifecycle.leave_queue(job, now, self._submit_timeout, holder=self._holder)
            for job in to_start(ready, turns.busy, limits)
        ]

    async def drop_reason(self, job: Job) -> Text | str | None:
        """Why a waiting job may no longer start, in the member's words, or None while it may."""
        if job.forgotten_at is not None or not job.prompt:
            return FORGOTTEN_REASON
        spec = self._models.catalog.get(job.model)
        if spec is None or self._models.state(spec) is not ModelState.SERVED:
            return MODEL_GONE_REASON
        if job.guild_id is None or job.requester_id is None:
            return None
        try:
            refusal = await self._moderation.refusal_now(job.guild_id, job.requester_id, job.prompt, job.model)
        except ModerationRefusal:
            return None  # the word check overran: look again on the next review
        return refusal.text if refusal is not None else None  # with its values: a block's reason given, a model

    async def _drop(self, job: Job, reason: Text | str) -> Job | None:
        """Drop the job with its credits back; the job as dropped when this process's write won, else None."""
        change = lifecycle.drop(job, reason, self._clock())
        await self._store.apply(change)
        stored = await self._store.get(job.id)
        ours = stored is not None and stored.status is JobStatus.FAILED and stored.error_kind is ErrorKind.DROPPED
        return stored if ours and stored is not None and stored.finished_at == change.job.finished_at else None

    async def _typical(self, model: str) -> float | None:
        """The median time of the model's latest videos; before it made any, the catalog's usual time."""
        durations = await self._store.recent_durations(model, RECENT_VIDEOS)
        if durations:
            return statistics.median(durations)
        spec = self._models.catalog.get(model)
        return spec.usual_minutes * 60 if spec is not None else None
