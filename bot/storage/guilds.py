"""GuildStore: per-server configuration, credit reservations, bonus credits, strikes and the ledger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.storage import guild_queries as q
from bot.storage import queries
from bot.storage.database import Database, Session


class ListKind(StrEnum):
    """The per-server lists."""

    ALLOWED_CHANNEL = "allowed_channel"
    ALLOWED_ROLE = "allowed_role"
    BLOCKED_USER = "blocked_user"
    BLOCKED_WORD = "blocked_word"
    BLOCKED_REGEX = "blocked_regex"
    DISABLED_MODEL = "disabled_model"


class LedgerKind(StrEnum):
    """What a ledger row records."""

    RESERVE = "reserve"
    COMMIT = "commit"
    REFUND = "refund"
    GRANT = "grant"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """A server's own settings; None limits fall back to the environment's defaults."""

    user_daily_credits: float | None = None
    guild_daily_credits: float | None = None
    guild_monthly_credits: float | None = None
    max_jobs_per_user: int | None = None
    max_jobs_per_guild: int | None = None
    cooldown_seconds: float | None = None
    queue_max: int | None = None  # waiting jobs the server may have (None: QUEUE_MAX_PER_GUILD)
    paused: bool = False
    pause_reason: str | None = None
    log_channel_id: int | None = None
    private_allowed: bool = True  # whether members may make private videos (/video-admin server private)


@dataclass(frozen=True, slots=True)
class MemberDefaults:
    """A member's own defaults on one server, for the options /video create leaves out; None: no default."""

    model: str | None = None
    orientation: str | None = None
    duration: int | None = None
    hd: bool | None = None
    private: bool | None = None


@dataclass(frozen=True, slots=True)
class RawUsage:
    """What a member and their server have spent and have running, read inside a reservation."""

    user_today: float
    guild_today: float
    guild_month: float
    user_in_flight: int  # sent or being sent: waiting jobs are not in progress
    guild_in_flight: int
    last_submission_at: float | None
    bonus_balance: float
    recent_strikes: int
    last_strike_at: float | None
    user_waiting: int = 0  # the member's jobs in the server's wait queue
    guild_waiting: int = 0


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One line of the ledger."""

    job_id: str | None
    kind: LedgerKind
    credits: float
    bonus: float
    actor_id: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Report:
    """A server's spending in a period."""

    committed: float
    held: float
    succeeded: int
    refunded: int
    top_users: list[tuple[int, float, int]]
    failures: list[tuple[str, int]]
    strikes: int
    spending: list[tuple[float, str, float]]
    """Every spent reservation as (when it was made, model, credits), oldest first."""


class GuildStore:
    """All SQL about servers and credits, on the shared Database."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    async def get_flag(self, key: str) -> str | None:
        """An installation-wide flag (such as an operator pause), or None when unset."""
        value = await self._db.scalar(queries.GET_META, (key,))
        return str(value) if value else None

    async def set_flag(self, key: str, value: str | None) -> bool:
        """Set or clear a flag; returns False when it already had that value (so callers announce once).

        One statement, so that of several processes setting the same value at once only one gets True.
        """
        if value:
            return await self._db.execute(queries.CHANGE_FLAG, (key, value)) > 0
        return await self._db.execute(queries.CLEAR_FLAG, (key,)) > 0

    async def claim_flag(self, key: str, value: str) -> bool:
        """Set a flag only while it is unset; True for the one caller that set it, however many try at once."""
        return await self._db.execute(queries.CLAIM_FLAG, (key, value)) > 0

    async def config(self, guild_id: int) -> GuildConfig:
        """A server's settings (defaults when it has none)."""
        row = await self._db.fetchone(q.GET_CONFIG, (guild_id,))
        if row is None:
            return GuildConfig()
        return GuildConfig(
            user_daily_credits=row[0],
            guild_daily_credits=row[1],
            guild_monthly_credits=row[2],
            max_jobs_per_user=row[3],
            max_jobs_per_guild=row[4],
            cooldown_seconds=row[5],
            paused=bool(row[6]),
            pause_reason=row[7],
            log_channel_id=row[8],
            queue_max=row[9],
            private_allowed=bool(row[10]),
        )

    async def set_limits(self, guild_id: int, config: GuildConfig) -> None:
        """Store a server's limits (None: back to the default)."""
        async with self._db.transaction() as tx:
            await tx.execute(q.ENSURE_CONFIG, (guild_id,))
            await tx.execute(
                q.SET_LIMITS,
                (
                    config.user_daily_credits,
                    config.guild_daily_credits,
                    config.guild_monthly_credits,
                    config.max_jobs_per_user,
                    config.max_jobs_per_guild,
                    config.cooldown_seconds,
                    config.queue_max,
                    guild_id,
                ),
            )

    async def set_paused(self, guild_id: int, paused: bool, reason: str | None) -> None:
        """Pause or resume generation on a server."""
        async with self._db.transaction() as tx:
            await tx.execute(q.ENSURE_CONFIG, (guild_id,))
            await tx.execute(q.SET_PAUSED, (int(paused), reason, guild_id))

    async def set_log_channel(self, guild_id: int, channel_id: int | None) -> None:
        """Choose (or clear) the server's audit log channel."""
        async with self._db.transaction() as tx:
            await tx.execute(q.ENSURE_CONFIG, (guild_id,))
            await tx.execute(q.SET_LOG_CHANNEL, (channel_id, guild_id))

    async def set_private_allowed(self, guild_id: int, allowed: bool) -> None:
        """Let the server's members make private videos, or forbid it."""
        async with self._db.transaction() as tx:
            await tx.execute(q.ENSURE_CONFIG, (guild_id,))
            await tx.execute(q.SET_PRIVATE_ALLOWED, (int(allowed), guild_id))

    async def log_channels(self) -> list[tuple[int, int]]:
        """(guild id, channel id) of every configured audit log channel."""
        return [(int(r[0]), int(r[1])) for r in await self._db.fetchall(q.ALL_LOG_CHANNELS)]

    async def set_role_cap(self, guild_id: int, role_id: int, daily_credits: float | None) -> None:
        """Give a role's members their own daily cap (0: unlimited), or remove it (None)."""
        if daily_credits is None:
            await self._db.execute(q.DELETE_ROLE_CAP, (guild_id, role_id))
        else:
            await self._db.execute(q.SET_ROLE_CAP, (guild_id, role_id, daily_credits))

    async def role_caps(self, guild_id: int) -> dict[int, float]:
        """Every role cap of a server."""
        return {int(r[0]): float(r[1]) for r in await self._db.fetchall(q.ROLE_CAPS, (guild_id,))}

    async def add_to_list(self, guild_id: int, kind: ListKind, value: str, note: str | None = None) -> None:
        """Add an entry (adding it again updates the note)."""
        await self._db.execute(q.ADD_TO_LIST, (guild_id, kind.value, value, note, self._clock()))

    async def remove_from_list(self, guild_id: int, kind: ListKind, value: str) -> bool:
        """Remove an entry; False when it was not there."""
        return await self._db.execute(q.REMOVE_FROM_LIST, (guild_id, kind.value, value)) > 0

    async def entries(self, guild_id: int, kind: ListKind) -> list[tuple[str, str | None]]:
        """(value, note) of every entry of one kind, oldest first."""
        return [(str(r[0]), r[1]) for r in await self._db.fetchall(q.LIST, (guild_id, kind.value))]

    async def unreported_patterns(self, guild_id: int | None = None) -> list[tuple[int, str]]:
        """(guild, pattern) of every stored pattern not yet reported as unusable, of one server or all."""
        rows = await self._db.fetchall(q.UNREPORTED_PATTERNS, {"guild": guild_id})
        return [(int(r[0]), str(r[1])) for r in rows]

    async def mark_patterns_reported(self, guild_id: int, patterns: Sequence[str]) -> tuple[list[str], float]:
        """Record that the server is told these patterns cannot be used; return those this call marked (not those
        another process marked first), and the mark, for ``unmark_patterns_reported``."""
        marked: list[str] = []
        now = self._clock()
        async with self._db.transaction() as tx:
            for pattern in patterns:
                if await tx.execute(q.MARK_PATTERN_REPORTED, (now, guild_id, pattern)):
                    marked.append(pattern)
        return marked, now

    async def unmark_patterns_reported(self, guild_id: int, patterns: Sequence[str], mark: float) -> None:
        """Take back a mark (the server could not be told after all): it is told another time."""
        async with self._db.transaction() as tx:
            for pattern in patterns:
                await tx.execute(q.UNMARK_PATTERN_REPORTED, (guild_id, pattern, mark))

    async def list_note(self, guild_id: int, kind: ListKind, value: str) -> tuple[bool, str | None]:
        """Whether ``value`` is listed, and its note."""
        row = await self._db.fetchone(q.IN_LIST, (guild_id, kind.value, value))
        return (row is not None, row[0] if row is not None else None)

    async def usage(
        self,
        session: Session,
        guild_id: int,
        user_id: int,
        *,
        day_start: float,
        month_start: float,
        strike_since: float,
    ) -> RawUsage:
        """What the member and server have used (inside the caller's transaction, or on its own)."""
        reset_at = await session.scalar(q.USER_RESET_AT, (guild_id, user_id))
        row = await session.fetchone(
            q.USAGE,
            {
                "guild": guild_id,
                "user": user_id,
                "user_since": max(day_start, float(reset_at or 0.0)),
                "day_start": day_start,
                "month_start": month_start,
                "strike_since": max(strike_since, float(reset_at or 0.0)),
            },
        )
        assert row is not None
        return RawUsage(
            user_today=float(row[0]),
            guild_today=float(row[1]),
            guild_month=float(row[2]),
            user_in_flight=int(row[3]),
            guild_in_flight=int(row[4]),
            last_submission_at=row[5],
            bonus_balance=float(row[6] or 0.0),
            recent_strikes=int(row[7]),
            last_strike_at=row[8],
            user_waiting=int(row[9]),
            guild_waiting=int(row[10]),
        )

    async def current_usage(
        self, guild_id: int, user_id: int, *, day_start: float, month_start: float, strike_since: float
    ) -> RawUsage:
        """``usage`` outside a transaction, for display."""
        async with self._db.session() as session:
            return await self.usage(
                session, guild_id, user_id, day_start=day_start, month_start=month_start, strike_since=strike_since
            )

    async def lock_balances(self, session: Session, guild_id: int) -> None:
        """Hold the server's and its members' balances until the caller's transaction ends (before reading them
        to reserve credits), against reservations in this process and in any other."""
        for statement in q.LOCK_BALANCES[self._db.dialect]:
            await session.execute(statement, (guild_id,))

    async def hold(
        self, session: Session, job_id: str, guild_id: int, user_id: int, credits: float, bonus: float
    ) -> None:
        """Reserve a job's credits (inside the transaction that stored the job)."""
        now = self._clock()
        await session.execute(q.HOLD, (job_id, guild_id, user_id, credits, bonus, now))
        if bonus > 0:
            await session.execute(q.SPEND_BONUS, (bonus, guild_id, user_id))
        await session.execute(q.LEDGER_ROW, (guild_id, user_id, job_id, LedgerKind.RESERVE, credits, bonus, None, now))

    async def settle(self, session: Session, job_id: str, *, succeeded: bool) -> float | None:
        """Commit a finished job's credits, or refund them (bonus credits go back).

        Returns the credits settled, or None when nothing was held (no reservation, or already settled).
        """
        now = self._clock()
        state, kind = ("committed", LedgerKind.COMMIT) if succeeded else ("refunded", LedgerKind.REFUND)
        rows = await session.fetchall(q.SETTLE, (state, now, job_id))
        for row in rows:
            guild_id, user_id, credits, bonus = int(row[0]), int(row[1]), float(row[2]), float(row[3])
            if not succeeded and bonus > 0:
                await session.execute(q.ADD_BONUS, (guild_id, user_id, bonus))
            await session.execute(q.LEDGER_ROW, (guild_id, user_id, job_id, kind, credits, bonus, None, now))
        return float(rows[0][2]) if rows else None

    async def refund_committed(self, session: Session, job_id: str) -> None:
        """Refund a job whose credits were committed but whose video never reached the member."""
        for row in await session.fetchall(q.REFUND_COMMITTED, (self._clock(), job_id)):
            guild_id, user_id, credits, bonus = int(row[0]), int(row[1]), float(row[2]), float(row[3])
            if bonus > 0:
                await session.execute(q.ADD_BONUS, (guild_id, user_id, bonus))
            await session.execute(
                q.LEDGER_ROW, (guild_id, user_id, job_id, LedgerKind.REFUND, credits, bonus, None, self._clock())
            )

    async def add_strike(self, session: Session, guild_id: int, user_id: int, job_id: str | None, reason: str) -> None:
        """Count a content refusal against a member."""
        await session.execute(q.ADD_STRIKE, (guild_id, user_id, job_id, reason, self._clock()))

    async def record_strike(self, guild_id: int, user_id: int, job_id: str | None, reason: str) -> None:
        """``add_strike`` on its own."""
        async with self._db.session() as session:
            await self.add_strike(session, guild_id, user_id, job_id, reason)

    async def grant(self, guild_id: int, user_id: int, credits: float, actor_id: int) -> None:
        """Give a member bonus credits, recorded in the ledger."""
        async with self._db.transaction() as tx:
            await tx.execute(q.ADD_BONUS, (guild_id, user_id, credits))
            await tx.execute(
                q.LEDGER_ROW, (guild_id, user_id, None, LedgerKind.GRANT, credits, 0.0, actor_id, self._clock())
            )

    async def reset_user(self, guild_id: int, user_id: int, actor_id: int) -> None:
        """Forgive a member's usage so far today and their strikes."""
        now = self._clock()
        async with self._db.transaction() as tx:
            await tx.execute(q.SET_USER_RESET, (guild_id, user_id, now))
            await tx.execute(q.CLEAR_STRIKES, (guild_id, user_id))
            await tx.execute(q.LEDGER_ROW, (guild_id, user_id, None, LedgerKind.RESET, 0.0, 0.0, actor_id, now))

    async def ledger(self, guild_id: int, user_id: int, since: float = 0.0) -> list[LedgerRow]:
        """A member's ledger rows, oldest first."""
        rows = await self._db.fetchall(q.LEDGER_FOR_USER, (guild_id, user_id, since))
        return [LedgerRow(r[0], LedgerKind(r[1]), float(r[2]), float(r[3]), r[4], float(r[5])) for r in rows]

    async def report(self, guild_id: int, since: float, top: int = 10) -> Report:
        """Spending, refunds, top users, failures and strikes since ``since``."""
        async with self._db.session() as s:
            totals = await s.fetchone(q.PERIOD_TOTALS, (guild_id, since))
            users = await s.fetchall(q.TOP_SPENDERS, (guild_id, since, top))
            failures = await s.fetchall(q.FAILURES_BY_KIND, (guild_id, since))
            strikes = await s.scalar(q.STRIKES_SINCE, (guild_id, since))
            spending = await s.fetchall(q.SPENDING_BY_MODEL, (guild_id, since))
        assert totals is not None
        return Report(
            committed=float(totals[0]),
            held=float(totals[1]),
            succeeded=int(totals[2]),
            refunded=int(totals[3]),
            top_users=[(int(r[0]), float(r[1]), int(r[2])) for r in users],
            failures=[(str(r[0] or "unknown"), int(r[1])) for r in failures],
            strikes=int(strikes or 0),
            spending=[(float(r[0]), str(r[1]), float(r[2])) for r in spending],
        )

    async def forget_user(self, guild_id: int, user_id: int) -> None:
        """Erase a member's prompts, defaults, kept interaction tokens and the records of their /video show copies,
        and hide their history on a server; the ledger keeps only amounts."""
        async with self._db.transaction() as tx:
            await tx.execute(q.FORGET_USER, (self._clock(), guild_id, user_id))
            await tx.execute(q.FORGET_MEMBER_SETTINGS, (guild_id, user_id))
            await tx.execute(q.FORGET_PRIVATE_REPLIES, (guild_id, user_id))
            await tx.execute(q.FORGET_SHOWN_COPIES, (guild_id, user_id))

    async def dm_posts_of(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """(DM channel id, message id) of every post the bot made in a member's DMs for their jobs on a server."""
        rows = await self._db.fetchall(q.DM_POSTS_OF_USER, {"guild": guild_id, "user": user_id})
        return [(int(r[0]), int(r[1])) for r in rows]

    async def shown_copies_of(self, guild_id: int, user_id: int) -> list[tuple[int, int]]:
        """(channel id, message id) of every copy /video show posted of a member's jobs on a server."""
        rows = await self._db.fetchall(q.SHOWN_COPIES_OF_USER, (guild_id, user_id))
        return [(int(r[0]), int(r[1])) for r in rows]

    async def done_jobs_of(self, guild_id: int, user_id: int) -> list[str]:
        """The ids of a member's jobs on a server that are finished and handed over (their files may go)."""
        return [str(r[0]) for r in await self._db.fetchall(q.DONE_JOBS_OF_USER, (guild_id, user_id))]

    async def member_defaults(self, guild_id: int, user_id: int) -> MemberDefaults:
        """A member's defaults on a server (none set: all None)."""
        row = await self._db.fetchone(q.MEMBER_SETTINGS, (guild_id, user_id))
        if row is None:
            return MemberDefaults()
        return MemberDefaults(
            model=row[0], orientation=row[1], duration=row[2], hd=_flag(row[3]), private=_flag(row[4])
        )

    async def set_member_defaults(self, guild_id: int, user_id: int, defaults: MemberDefaults) -> None:
        """Store a member's defaults on a server."""
        hd = int(defaults.hd) if defaults.hd is not None else None
        private = int(defaults.private) if defaults.private is not None else None
        await self._db.execute(
            q.SET_MEMBER_SETTINGS,
            (guild_id, user_id, defaults.model, defaults.orientation, defaults.duration, hd, private, self._clock()),
        )

    async def results_of(self, guild_id: int, user_id: int) -> list[tuple[str, int | None, int]]:
        """(job id, channel id where it was posted, result message id) of a member's posted results."""
        rows = await self._db.fetchall(q.RESULTS_OF_USER, (guild_id, user_id))
        return [(str(r[0]), r[1], int(r[2])) for r in rows]


def _flag(value: object) -> bool | None:
    """A stored 0/1 default as a bool; NULL (no default) stays None."""
    return bool(value) if value is not None else None
