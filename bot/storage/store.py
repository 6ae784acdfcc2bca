"""JobStore: the one place that talks to the database."""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain import DeliveryState, ErrorKind, Job, JobStatus, NewJob, Orientation, WireFormat
from bot.storage import queries
from bot.storage.database import Database, Session
from bot.storage.guilds import GuildStore

log = logging.getLogger(__name__)

_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: ids are read aloud and typed
_ID_LENGTH = 8
SERVED_MODELS_KEY = "gateway_models"
GATEWAY_CLOCK_KEY = "gateway_clock"


def new_job_id() -> str:
    """A short random id users can read and type."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


class JobStore:
    """Jobs in SQLite, through the shared Database."""

    def __init__(self, db: Database, clock: Callable[[], float], *, owns_db: bool = False) -> None:
        self._db = db
        self._clock = clock
        self._owns_db = owns_db
        self._guilds = GuildStore(db, clock)

    @classmethod
    async def open(cls, path: Path, clock: Callable[[], float]) -> JobStore:
        """Open the database at ``path`` for this store alone (the engine shares one Database instead)."""
        return cls(await Database.open(path), clock, owns_db=True)

    async def close(self) -> None:
        """Close the database, if this store opened it."""
        if self._owns_db:
            await self._db.close()

    async def check_writable(self) -> None:
        """Raise if the database cannot take a write (used by health checks and `check`)."""
        async with self._db.transaction() as tx:
            await tx.execute(queries.SET_META, ("last_write_check", str(self._clock())))

    async def add(
        self,
        new: NewJob,
        wire_format: WireFormat,
        *,
        first_poll_at: float,
        hold: Callable[[Session, str], Awaitable[None]] | None = None,
    ) -> Job:
        """Store a job in the SUBMITTING state; ``first_poll_at`` is when an unconfirmed submit is given up.

        ``hold`` runs in the same transaction (reserving credits); if it raises, the job is not stored.
        """
        now = self._clock()
        req = new.request
        for _ in range(5):
            job_id = new_job_id()
            row = (
                job_id,
                new.origin,
                new.requester_id,
                new.guild_id,
                new.channel_id,
                req.prompt,
                req.model,
                wire_format.value,
                req.orientation.value,
                req.duration,
                int(req.hd),
                len(req.images),
                JobStatus.SUBMITTING.value,
                now,
                now,
                first_poll_at,
                new.parent_job_id,
                int(req.last_frame is not None),
            )
            try:
                async with self._db.transaction() as tx:
                    await tx.execute(queries.INSERT_JOB, row)
                    if hold is not None:
                        await hold(tx, job_id)
            except sqlite3.IntegrityError as exc:
                if "jobs.id" not in str(exc):
                    raise
                continue  # the random id was taken: draw another
            job = await self.get(job_id)
            assert job is not None
            return job
        raise RuntimeError("could not find a free job id")

    async def extend_submit(self, job: Job, give_up_at: float) -> bool:
        """Push an unsent job's give-up time out, from the one it was stored with.

        False when the poller got there first (it claimed the job to give it up) or the job is no longer waiting
        to be sent: then the submit must not go out.
        """
        return await self._db.execute(queries.EXTEND_SUBMIT, (give_up_at, job.id, job.next_poll_at)) > 0

    async def get(self, job_id: str) -> Job | None:
        """The job with this bot id, or None."""
        return await self._one(queries.SELECT_JOB, (job_id,))

    async def find(self, ref: str) -> Job | None:
        """A job by the bot's id or by the gateway's task id."""
        ref = ref.strip()
        return await self.get(ref.lower()) or await self._one(queries.SELECT_JOB_BY_TASK, (ref,))

    async def save(self, job: Job, *, only_if: JobStatus | None = None) -> float:
        """Persist every field the engine changes; a finished job settles its credits in the same transaction.

        With ``only_if``, nothing is written unless the stored job is still in that state. Returns the credits a
        successful job committed (0 otherwise).
        """
        params: tuple[Any, ...] = (
            job.task_id,
            job.status.value,
            job.remote_status,
            job.progress,
            job.submitted_at,
            job.updated_at,
            job.finished_at,
            job.next_poll_at,
            job.last_poll_at,
            job.poll_count,
            job.attempts,
            job.refresh_start,
            job.refresh_end,
            int(job.slow_notified),
            job.error_kind.value if job.error_kind else None,
            job.error_message,
            job.result_path,
            job.result_bytes,
            job.delivery_state.value,
            job.deliver_at,
            job.id,
        )
        sql = queries.SAVE_JOB
        if only_if is not None:
            sql, params = queries.SAVE_JOB_IF_STATUS, (*params, only_if.value)
        if not job.status.is_terminal:
            await self._write(sql, params)
            return 0.0
        async with self._db.transaction() as tx:
            if not await tx.execute(sql, params):
                log.warning("Job %s: no longer %s; this outcome (%s) was not recorded", job.id, only_if, job.status)
                return 0.0
            # Success commits the held credits; every failure refunds them (bonus credits go back too).
            settled = await self._guilds.settle(tx, job.id, succeeded=job.status is JobStatus.SUCCEEDED)
            if settled is not None and job.error_kind is ErrorKind.CONTENT_POLICY and job.guild_id and job.requester_id:
                await self._guilds.add_strike(tx, job.guild_id, job.requester_id, job.id, "content policy refusal")
        return settled if settled is not None and job.status is JobStatus.SUCCEEDED else 0.0

    async def claim_due(
        self, origin: str, now: float, limit: int, lease_seconds: float, skip: Collection[str] = ()
    ) -> list[Job]:
        """Take up to ``limit`` of ``origin``'s jobs whose poll is due (not those in ``skip``), leasing them."""
        return await self._many_write(
            queries.CLAIM_DUE, (now + lease_seconds, now, origin, json.dumps(list(skip)), limit)
        )

    async def next_poll_at(self, origin: str) -> float | None:
        """When ``origin``'s earliest scheduled poll is due, or None when nothing is left to poll."""
        return await self._scalar(queries.NEXT_POLL_AT, (origin,))

    async def planned_polls(self, origin: str, after: float) -> list[Job]:
        """``origin``'s running jobs whose next poll, due after ``after``, follows the refresh schedule.

        Left out: polls that back off after an error, and the long interval of a job that turned slow.
        """
        return await self._many(queries.PLANNED_POLLS, (origin, after))

    async def replan_polls(self, moves: list[tuple[str, float, float]]) -> None:
        """Move polls, each given as (job id, planned time, new time); one claimed or moved meanwhile stays put."""
        async with self._db.transaction() as tx:
            for job_id, planned, moved in moves:
                await tx.execute(queries.REPLAN_POLL, (moved, job_id, planned))

    async def claim_deliveries(
        self, origin: str, now: float, limit: int, lease_seconds: float, skip: Collection[str] = ()
    ) -> list[Job]:
        """Take finished jobs due for delivery (not those in ``skip``); ``maybe_delivered`` flags cut-off attempts."""
        params = (now + lease_seconds, now, now, origin, json.dumps(list(skip)), limit)
        return await self._many_write(queries.CLAIM_DELIVERIES, params)

    async def next_delivery_at(self, origin: str) -> float | None:
        """When ``origin``'s earliest delivery is due, or None."""
        return await self._scalar(queries.NEXT_DELIVERY_AT, (origin,))

    async def mark_delivered(self, job_id: str, result_message_id: int | None = None) -> None:
        """Record that the job reached its recipient; it is never delivered again."""
        now = self._clock()
        await self._write(queries.MARK_DELIVERED, (now, now, result_message_id, job_id))

    async def retry_delivery(self, job_id: str, at: float) -> None:
        """Put a delivery back to try again at ``at``."""
        await self._write(queries.RETRY_DELIVERY, (at, self._clock(), job_id))

    async def give_up_delivery(self, job_id: str, reason: str) -> None:
        """Stop trying to deliver; the job shows the reason, and credits for a video nobody got are refunded."""
        async with self._db.transaction() as tx:
            await tx.execute(queries.GIVE_UP_DELIVERY, (self._clock(), reason, job_id))
            await self._guilds.refund_committed(tx, job_id)

    async def set_discord_refs(
        self, job_id: str, *, thread_id: int | None = None, status_message_id: int | None = None
    ) -> None:
        """Remember where on Discord the job is shown."""
        await self._write(queries.SET_DISCORD_REFS, (thread_id, status_message_id, self._clock(), job_id))

    async def set_result_channel(self, job_id: str, channel_id: int) -> None:
        """Remember where the result was actually posted (after a fallback, not the thread)."""
        await self._write(queries.SET_RESULT_CHANNEL, (channel_id, job_id))

    async def mark_result_deleted(self, job_id: str) -> None:
        """Record that the posted result was deleted on Discord."""
        now = self._clock()
        await self._write(queries.MARK_RESULT_DELETED, (now, now, job_id))

    async def is_result_deleted(self, job_id: str) -> bool:
        """Whether the job's result was taken down (its links then answer 410)."""
        return await self._db.scalar(queries.IS_RESULT_DELETED, (job_id,)) is not None

    async def get_meta(self, key: str) -> str | None:
        """A stored installation fact, or None."""
        value = await self._db.scalar(queries.GET_META, (key,))
        return str(value) if value is not None else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store an installation fact."""
        await self._write(queries.SET_META, (key, value))

    async def save_served_models(self, models: list[str], fetched_at: float) -> None:
        """Keep the gateway's last good model list, for a restart while the gateway cannot be read."""
        await self.set_meta(SERVED_MODELS_KEY, json.dumps({"models": models, "fetched_at": fetched_at}))

    async def served_models(self) -> tuple[list[str], float] | None:
        """The last good model list and when it was read, or None when none was ever kept."""
        raw = await self.get_meta(SERVED_MODELS_KEY)
        if raw is None:
            return None
        kept = json.loads(raw)
        return [str(name) for name in kept["models"]], float(kept["fetched_at"])

    async def save_gateway_clock(self, record: dict[str, float]) -> None:
        """Keep what was learnt of the gateway's refresh loop, for the other processes and the next start."""
        await self.set_meta(GATEWAY_CLOCK_KEY, json.dumps(record))

    async def gateway_clock(self) -> dict[str, float] | None:
        """The gateway clock last kept, or None when none was (or it cannot be read)."""
        raw = await self.get_meta(GATEWAY_CLOCK_KEY)
        if raw is None:
            return None
        try:
            kept = json.loads(raw)
            return {str(key): float(value) for key, value in kept.items()}
        except (ValueError, TypeError, AttributeError):
            return None

    async def list_by_requester(self, guild_id: int, requester_id: int, limit: int = 10) -> list[Job]:
        """A member's most recent jobs on one server, newest first."""
        return await self._many(queries.LIST_BY_REQUESTER, (guild_id, requester_id, limit))

    async def list_unfinished_by_requester(self, guild_id: int, requester_id: int) -> list[Job]:
        """A member's jobs on one server that are still running, oldest first."""
        return await self._many(queries.LIST_UNFINISHED_BY_REQUESTER, (guild_id, requester_id))

    async def ids_in_progress(self) -> set[str]:
        """Jobs still running or not yet delivered (their files must stay)."""
        return {str(row[0]) for row in await self._db.fetchall(queries.IDS_IN_PROGRESS)}

    async def count_by_status(self) -> dict[tuple[JobStatus, str], int]:
        """How many jobs are in each state, per model."""
        rows = await self._db.fetchall(queries.COUNT_BY_STATUS_AND_MODEL)
        return {(JobStatus(row[0]), str(row[1])): int(row[2]) for row in rows}

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        await self._db.execute(sql, params)

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Job | None:
        row = await self._db.fetchone(sql, params)
        return _row_to_job(row) if row is not None else None

    async def _many(self, sql: str, params: tuple[Any, ...]) -> list[Job]:
        return [_row_to_job(row) for row in await self._db.fetchall(sql, params)]

    async def _many_write(self, sql: str, params: tuple[Any, ...]) -> list[Job]:
        # One UPDATE ... RETURNING is atomic on its own: the claim and the rows it returns are one statement.
        return [_row_to_job(row) for row in await self._db.fetchall(sql, params)]

    async def _scalar(self, sql: str, params: tuple[Any, ...]) -> float | None:
        value = await self._db.scalar(sql, params)
        return float(value) if value is not None else None


def _row_to_job(row: aiosqlite.Row) -> Job:
    return Job(
        id=row["id"],
        origin=row["origin"],
        requester_id=row["requester_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        thread_id=row["thread_id"],
        status_message_id=row["status_message_id"],
        result_message_id=row["result_message_id"],
        prompt=row["prompt"],
        model=row["model"],
        wire_format=WireFormat(row["wire_format"]),
        orientation=Orientation(row["orientation"]),
        duration=row["duration"],
        hd=bool(row["hd"]),
        image_count=row["image_count"],
        task_id=row["task_id"],
        status=JobStatus(row["status"]),
        remote_status=row["remote_status"],
        progress=row["progress"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        next_poll_at=row["next_poll_at"],
        last_poll_at=row["last_poll_at"],
        poll_count=row["poll_count"],
        attempts=row["attempts"],
        refresh_start=row["refresh_start"],
        refresh_end=row["refresh_end"],
        slow_notified=bool(row["slow_notified"]),
        error_kind=ErrorKind(row["error_kind"]) if row["error_kind"] else None,
        error_message=row["error_message"],
        result_path=row["result_path"],
        result_bytes=row["result_bytes"],
        delivery_state=DeliveryState(row["delivery_state"]),
        deliver_at=row["deliver_at"],
        delivery_attempts=row["delivery_attempts"],
        maybe_delivered=bool(row["maybe_delivered"]),
        delivered_at=row["delivered_at"],
        parent_job_id=row["parent_job_id"],
        result_deleted_at=row["result_deleted_at"],
        forgotten_at=row["forgotten_at"],
        result_channel_id=row["result_channel_id"],
        has_last_frame=bool(row["has_last_frame"]),
        delivery_started_at=row["delivery_started_at"],
    )
