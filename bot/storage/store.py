"""JobStore: the one place that talks to the database."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

from bot.domain import DeliveryState, Job, JobStatus, Notify, PrivateReply, Refund, Settle, Strike, Transition
from bot.storage import job_rows, queries
from bot.storage.connect import open_database
from bot.storage.database import Database, DuplicateKeyError, Session
from bot.storage.guilds import GuildStore

log = logging.getLogger(__name__)

_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: ids are read aloud and typed
_ID_LENGTH = 8
SERVED_MODELS_KEY = "gateway_models"
GATEWAY_CLOCK_KEY = "gateway_clock"

Claim = Callable[[Job], Transition]
"""What claiming a due job does to it (a lease), as the lifecycle decides."""


@dataclass(frozen=True, slots=True)
class Turns:
    """A server's wait queue as a claim reads it: its waiting jobs (oldest first), each member's jobs in progress,
    and when each member's latest job started (left the queue, or was sent without waiting)."""

    waiting: list[Job]
    busy: dict[int, int]
    last_started: dict[int, float]


PickWaiting = Callable[[Turns], list[Transition]]
"""Which of a server's waiting jobs start, and how."""


def new_job_id() -> str:
    """A short random id users can read and type."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


class JobStore:
    """Jobs in SQLite or PostgreSQL, through the shared Database."""

    def __init__(self, db: Database, clock: Callable[[], float], *, owns_db: bool = False) -> None:
        self._db = db
        self._clock = clock
        self._owns_db = owns_db
        self._guilds = GuildStore(db, clock)

    @classmethod
    async def open(cls, location: Path | str, clock: Callable[[], float]) -> JobStore:
        """Open the database at ``location`` (a SQLite path or a PostgreSQL URL) for this store alone (the engine
        shares one Database instead)."""
        return cls(await open_database(location), clock, owns_db=True)

    @property
    def round_trips(self) -> int:
        """Statements the store's database has sent so far (shared with whoever else uses that Database)."""
        return self._db.round_trips

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
        unsaved: Job,
        *,
        hold: Callable[[Session, str], Awaitable[bool]] | None = None,
        wait: Callable[[Job], Job] | None = None,
    ) -> Job:
        """Store a new job (as the lifecycle made it) under a fresh id, and return it with that id.

        ``hold`` runs in the same transaction (reserving credits); if it raises, the job is not stored. When it
        says the job must wait for a slot, the job is stored as ``wait`` makes it instead (its waiting form).
        """
        for _ in range(5):
            job = dataclasses.replace(unsaved, id=new_job_id())
            row = tuple(job_rows.to_value(getattr(job, name)) for name in job_rows.COLUMNS)
            try:
                async with self._db.transaction() as tx:
                    await tx.execute(queries.INSERT_JOB, row)
                    if hold is not None and await hold(tx, job.id) and wait is not None:
                        stored = wait(job)
                        await self._apply(tx, Transition(before=job, job=stored))
                        job = stored
            except DuplicateKeyError as exc:
                if exc.table != "jobs":
                    raise
                continue  # the random id was taken: draw another
            return job
        raise RuntimeError("could not find a free job id")

    async def extend_submit(self, job: Job, give_up_at: float) -> bool:
        """Push an unsent job's give-up time out, from the one it was stored with.

        False when the poller got there first (it claimed the job to give it up) or the job is no longer waiting
        to be sent: then the submit must not go out.
        """
        return await self._db.execute(queries.MOVE_UNSENT_DEADLINE, (give_up_at, job.id, job.next_poll_at)) > 0

    async def withdraw_unsent(self, job_id: str, stored_give_up_at: float, give_up_at: float) -> bool:
        """Take a job not yet sent away from its sender, to cancel it: only while its give-up time is still
        ``stored_give_up_at``, the one it was stored with; it becomes ``give_up_at`` (should the cancel not land).

        False when the sender already took it to submit (the create may be on its way) or the poller took it.
        """
        return await self._db.execute(queries.MOVE_UNSENT_DEADLINE, (give_up_at, job_id, stored_give_up_at)) > 0

    async def get(self, job_id: str) -> Job | None:
        """The job with this bot id, or None."""
        return await self._one(queries.SELECT_JOB, (job_id,))

    async def find(self, ref: str) -> Job | None:
        """A job by the bot's id or by the gateway's task id."""
        ref = ref.strip()
        return await self.get(ref.lower()) or await self._one(queries.SELECT_JOB_BY_TASK, (ref,))

    async def apply(self, transition: Transition) -> float:
        """Carry out a lifecycle transition in one transaction: the job's changed fields, then its effects.

        Nothing is written or carried out unless the stored job is still in the status the transition started
        from. Returns the credits a settlement committed (0 otherwise).
        """
        return await self._carry_out(transition) or 0.0

    async def apply_held(self, transition: Transition, holder: str) -> float | None:
        """``apply`` for the holder of the job's lease: only while ``holder`` still holds it (a lease that ran out
        may have passed to another process, whose work this must not overwrite).

        Returns the credits a settlement committed (0 otherwise), or None when nothing was written.
        """
        return await self._carry_out(transition, holder)

    async def _carry_out(self, transition: Transition, holder: str | None = None) -> float | None:
        if all(isinstance(effect, Notify) for effect in transition.effects):
            # Nothing but the job's own row: one UPDATE is atomic on its own.
            async with self._db.session() as session:
                return await self._apply(session, transition, holder=holder)
        async with self._db.transaction() as tx:
            return await self._apply(tx, transition, holder=holder)

    async def renew_lease(self, claimed: Job, until: float) -> bool:
        """Extend the lease ``claimed`` holds (as its claim left it: its holder, and a poll's or a delivery's lease)
        to ``until``. False when it no longer holds it: another process took the job over, or it moved on (cancelled,
        finished, delivered)."""
        if claimed.lease_holder is None:
            raise ValueError(f"job {claimed.id}: not claimed, so it holds no lease")
        if claimed.delivery_state is DeliveryState.DELIVERING:
            renewed = await self._db.execute(queries.RENEW_DELIVERY_LEASE, (until, claimed.id, claimed.lease_holder))
        else:
            held = (until, claimed.id, claimed.lease_holder, claimed.status.value)
            renewed = await self._db.execute(queries.RENEW_POLL_LEASE, held)
        return renewed > 0

    async def claim_due(
        self, origin: str, now: float, limit: int, claim: Claim, skip: Collection[str] = ()
    ) -> list[Job]:
        """Take up to ``limit`` of ``origin``'s jobs whose poll is due (not those in ``skip``), claimed by ``claim``."""
        return await self._claim(
            queries.SELECT_DUE[self._db.dialect], (now, origin, json.dumps(list(skip)), limit), claim
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
        self, origin: str, now: float, limit: int, claim: Claim, skip: Collection[str] = ()
    ) -> list[Job]:
        """Take finished jobs due for delivery (not those in ``skip``), claimed by ``claim``."""
        return await self._claim(
            queries.SELECT_DELIVERIES_DUE[self._db.dialect], (now, origin, json.dumps(list(skip)), limit), claim
        )

    async def next_delivery_at(self, origin: str) -> float | None:
        """When ``origin``'s earliest delivery is due, or None."""
        return await self._scalar(queries.NEXT_DELIVERY_AT, (origin,))

    async def set_discord_refs(
        self, job_id: str, *, thread_id: int | None = None, status_message_id: int | None = None
    ) -> None:
        """Remember where on Discord the job is shown."""
        await self._write(queries.SET_DISCORD_REFS, (thread_id, status_message_id, self._clock(), job_id))

    async def set_dm_channel(self, job_id: str, channel_id: int) -> None:
        """Remember the requester's DM channel, where a private job's status message is."""
        await self._write(queries.SET_DM_CHANNEL, (channel_id, self._clock(), job_id))

    async def save_private_reply(self, job_id: str, reply: PrivateReply) -> None:
        """Keep the interaction a private job came from, for whichever process answers it privately."""
        await self._write(queries.SAVE_PRIVATE_REPLY, (job_id, reply.application_id, reply.token, reply.expires_at))

    async def private_reply(self, job_id: str) -> PrivateReply | None:
        """The job's interaction while Discord still takes its token; None once it expired or was dropped."""
        row = await self._db.fetchone(queries.PRIVATE_REPLY, (job_id, self._clock()))
        return PrivateReply(int(row[0]), str(row[1]), float(row[2])) if row is not None else None

    async def drop_private_reply(self, job_id: str) -> None:
        """Forget a private job's interaction token (its job is delivered: nothing more goes there)."""
        await self._write(queries.DROP_PRIVATE_REPLY, (job_id,))

    async def add_shown_copy(self, job_id: str, channel_id: int, message_id: int) -> None:
        """Remember a copy of the job's result that /video show posted, to delete with the result."""
        await self._write(queries.ADD_SHOWN_COPY, (message_id, job_id, channel_id))

    async def shown_copies(self, job_id: str) -> list[tuple[int, int]]:
        """(channel id, message id) of every copy /video show posted of the job's result, oldest first."""
        rows = await self._db.fetchall(queries.SHOWN_COPIES, (job_id,))
        return [(int(r[0]), int(r[1])) for r in rows]

    async def drop_shown_copies(self, message_ids: list[int]) -> None:
        """Forget copies that are deleted (or were gone already)."""
        for message_id in message_ids:
            await self._write(queries.DROP_SHOWN_COPY, (message_id,))

    async def mark_set_up(self, job_id: str) -> None:
        """Record that the job's creator is done showing it on Discord (whether or not that worked)."""
        await self._write(queries.MARK_SET_UP, (self._clock(), job_id))

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

    async def taken_down_since(self, since: float) -> set[str]:
        """The jobs whose results were taken down at ``since`` or later (their files must go, if any are left)."""
        return {str(row[0]) for row in await self._db.fetchall(queries.TAKEN_DOWN_SINCE, (since,))}

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

    async def save_gateway_clock(self, record: dict[str, object]) -> None:
        """Keep what was learnt of the gateway's refresh loop, for the other processes and the next start."""
        await self.set_meta(GATEWAY_CLOCK_KEY, json.dumps(record))

    async def gateway_clock(self) -> dict[str, object] | None:
        """The gateway clock last kept (a JSON object; its reader checks its fields), or None when none was (or it
        cannot be read)."""
        raw = await self.get_meta(GATEWAY_CLOCK_KEY)
        if raw is None:
            return None
        try:
            kept = json.loads(raw)
        except ValueError:
            return None
        return {str(key): value for key, value in kept.items()} if isinstance(kept, dict) else None

    async def waiting_guilds(self) -> list[int]:
        """The servers with jobs in their wait queue."""
        return sorted(int(row[0]) for row in await self._db.fetchall(queries.WAITING_GUILDS))

    async def waiting(self, guild_id: int) -> list[Job]:
        """A server's waiting jobs, oldest first."""
        return await self._many(queries.WAITING, (guild_id,))

    async def claim_waiting(self, guild_id: int, pick: PickWaiting) -> list[Job]:
        """Start those of a server's waiting jobs that ``pick`` chooses, in one transaction that holds the server's
        balances (as a reservation does): no two processes start more than its limits allow."""
        async with self._db.transaction() as tx:
            await self._guilds.lock_balances(tx, guild_id)
            rows = await tx.fetchall(queries.CLAIM_WAITING[self._db.dialect], (guild_id,))
            if not rows:
                return []
            turns = Turns(
                waiting=[job_rows.to_job(row) for row in rows],
                busy=await self._busy(tx, guild_id),
                last_started=await self._last_started(tx, guild_id),
            )
            claims = pick(turns)
            for transition in claims:
                await self._apply(tx, transition)
        return [transition.job for transition in claims]

    async def last_started(self, guild_id: int) -> dict[int, float]:
        """When each member's latest job on a server started (left the wait queue, or was sent without waiting)."""
        async with self._db.session() as session:
            return await self._last_started(session, guild_id)

    @staticmethod
    async def _busy(session: Session, guild_id: int) -> dict[int, int]:
        return {int(row[0]): int(row[1]) for row in await session.fetchall(queries.IN_PROGRESS_BY_MEMBER, (guild_id,))}

    @staticmethod
    async def _last_started(session: Session, guild_id: int) -> dict[int, float]:
        return {int(row[0]): float(row[1]) for row in await session.fetchall(queries.LAST_STARTED, (guild_id,))}

    async def set_queue_place(self, job: Job) -> bool:
        """Store a waiting job's place (as ``job`` has it); False when it is what was stored, or the job left."""
        place = (job.queue_position, job.queue_size, job.queue_minutes, int(job.queue_paused))
        unset = tuple(-1 if value is None else value for value in place)
        return await self._db.execute(queries.SET_QUEUE_PLACE, (*place, job.id, *unset)) > 0

    async def recent_durations(self, model: str, limit: int = 20) -> list[float]:
        """How many seconds the model's latest finished videos took from submit to result, newest first."""
        return [float(row[0]) for row in await self._db.fetchall(queries.RECENT_DURATIONS, (model, limit))]

    async def list_by_requester(self, guild_id: int, requester_id: int, limit: int = 10) -> list[Job]:
        """A member's most recent jobs on one server, newest first."""
        return await self._many(queries.LIST_BY_REQUESTER, (guild_id, requester_id, limit))

    async def list_unfinished_by_requester(self, guild_id: int, requester_id: int) -> list[Job]:
        """A member's jobs on one server that are still running, oldest first."""
        return await self._many(queries.LIST_UNFINISHED_BY_REQUESTER, (guild_id, requester_id))

    async def ids_in_progress(self) -> set[str]:
        """Jobs still running or not yet delivered (their files must stay)."""
        return {str(row[0]) for row in await self._db.fetchall(queries.IDS_IN_PROGRESS)}

    async def in_progress_of_origin(self, origin: str) -> list[Job]:
        """The jobs of one origin still running or not yet delivered, oldest first."""
        return await self._many(queries.IN_PROGRESS_OF_ORIGIN, (origin,))

    async def count_by_status(self) -> dict[tuple[JobStatus, str], int]:
        """How many jobs are in each state, per model."""
        rows = await self._db.fetchall(queries.COUNT_BY_STATUS_AND_MODEL)
        return {(JobStatus(row[0]), str(row[1])): int(row[2]) for row in rows}

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        await self._db.execute(sql, params)

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Job | None:
        row = await self._db.fetchone(sql, params)
        return job_rows.to_job(row) if row is not None else None

    async def _many(self, sql: str, params: tuple[Any, ...]) -> list[Job]:
        return [job_rows.to_job(row) for row in await self._db.fetchall(sql, params)]

    async def _claim(self, sql: str, params: tuple[Any, ...], claim: Claim) -> list[Job]:
        # SQLite takes the write lock first (BEGIN IMMEDIATE); PostgreSQL locks the rows it selects and skips those
        # another process is claiming (FOR UPDATE SKIP LOCKED): no two processes claim one job.
        async with self._db.transaction() as tx:
            claims = [claim(job_rows.to_job(row)) for row in await tx.fetchall(sql, params)]
            for transition in claims:
                await self._apply(tx, transition)
        return [transition.job for transition in claims]

    async def _apply(self, tx: Session, transition: Transition, *, holder: str | None = None) -> float | None:
        """Write the transition; None when the job was no longer as it started (or, with ``holder``, held by it)."""
        before, job = transition.before, transition.job
        changed = job_rows.changes(before, job)
        if holder is not None:
            written = await tx.execute(
                queries.update_job(changed or ("lease_holder",), held=True),
                (*(changed.values() if changed else (holder,)), job.id, before.status.value, holder),
            )
        else:
            written = not changed or await tx.execute(
                queries.update_job(changed), (*changed.values(), job.id, before.status.value)
            )
        if not written:
            if job.status.is_terminal and holder is None:
                log.warning(
                    "Job %s: no longer %s; this outcome (%s) was not recorded", job.id, before.status, job.status
                )
            return None
        committed = 0.0
        for effect in transition.effects:
            match effect:
                case Settle():
                    committed += await self._guilds.settle(tx, job.id, succeeded=True) or 0.0
                case Refund():
                    await self._guilds.settle(tx, job.id, succeeded=False)
                    await self._guilds.refund_committed(tx, job.id)
                case Strike(guild_id=guild_id, user_id=user_id, reason=reason):
                    await self._guilds.add_strike(tx, guild_id, user_id, job.id, reason)
                case Notify():
                    pass  # for the progress listeners, told by whoever ran the transition once it is stored
                case _:
                    assert_never(effect)
        return committed

    async def _scalar(self, sql: str, params: tuple[Any, ...]) -> float | None:
        value = await self._db.scalar(sql, params)
        return float(value) if value is not None else None
