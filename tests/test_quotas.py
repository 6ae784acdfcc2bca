"""Credits and limits on a real database (each test on SQLite, then on PostgreSQL): races, refunds, bonus credits,
role caps, cooldowns and strikes.

Every test drives an injected clock; nothing sleeps and nothing is timed.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from bot.domain import ErrorKind, Job, JobStatus
from bot.errors import GatewayUnavailableError
from bot.services import lifecycle
from bot.services.periods import current_periods
from bot.services.phase import PollTiming
from bot.services.quotas import Limits, QuotaRefusal, StrikeRule, cooldown_until, decide, resolve_limits
from bot.storage.database import Session
from bot.storage.guilds import GuildConfig, LedgerKind, LedgerRow, RawUsage
from tests.conftest import DatabaseFactory
from tests.helpers import FakeClock
from tests.quotarig import (
    GUILD,
    START,
    USER,
    Rig,
    count,
    fail,
    make_settings,
    new_job,
    open_rig,
    refused,
    submit,
    succeed,
    unsaved,
    usage,
)

OTHER_GUILD = 8
ADMIN = 1
POLICY = lifecycle.PollPolicy(
    timing=PollTiming(period=15.0, min_interval=5.0, max_interval=30.0),
    notice_after_seconds=600.0,
    timeout_after_seconds=3600.0,
)


RigFactory = Callable[..., Awaitable[Rig]]
# What the drivers raise when a statement fails in the database.
DRIVER_ERRORS = (sqlite3.Error, asyncpg.PostgresError)

# A trigger that fails every new strike, in each dialect; and how it is dropped.
FAILING_STRIKES = {
    "sqlite": ["CREATE TRIGGER no_strikes BEFORE INSERT ON strikes BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"],
    "postgresql": [
        "CREATE FUNCTION no_strikes() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN RAISE EXCEPTION ''disk trouble''; END'",
        "CREATE TRIGGER no_strikes BEFORE INSERT ON strikes FOR EACH ROW EXECUTE FUNCTION no_strikes()",
    ],
}
DROP_FAILING_STRIKES = {"sqlite": "DROP TRIGGER no_strikes", "postgresql": "DROP TRIGGER no_strikes ON strikes"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def make_rig(new_database: DatabaseFactory, clock: FakeClock) -> AsyncIterator[RigFactory]:
    """``await make_rig(QUOTA_USER_DAILY_CREDITS=12, ...)``: a rig with those settings, closed after the test."""
    opened: list[Rig] = []

    async def make(**env: str | float) -> Rig:
        rig = await open_rig(await new_database(), clock, make_settings(**env))
        opened.append(rig)
        return rig

    yield make
    for rig in opened:
        await rig.db.close()


async def reservation(rig: Rig, job_id: str) -> tuple[str, float, float]:
    row = await rig.db.fetchone("SELECT state, credits, bonus FROM reservations WHERE job_id = ?", (job_id,))
    assert row is not None
    return (str(row[0]), float(row[1]), float(row[2]))


async def ledger_kinds(rig: Rig, job_id: str) -> list[LedgerKind]:
    rows = await rig.db.fetchall("SELECT kind FROM ledger WHERE job_id = ? ORDER BY id", (job_id,))
    return [LedgerKind(r[0]) for r in rows]


async def bonus_balance(rig: Rig, user_id: int = USER) -> float:
    value = await rig.db.scalar(
        "SELECT credits FROM bonus_credits WHERE guild_id = ? AND user_id = ?", (GUILD, user_id)
    )
    return float(value or 0.0)


def explained_allowance_used(rows: list[LedgerRow], since: float) -> float:
    """What the ledger says was spent from the daily allowance since ``since``: reserves minus refunds."""
    spent = 0.0
    for row in rows:
        if row.created_at < since:
            continue
        if row.kind is LedgerKind.RESERVE:
            spent += row.credits - row.bonus
        elif row.kind is LedgerKind.REFUND:
            spent -= row.credits - row.bonus
    return spent


def explained_bonus(rows: list[LedgerRow]) -> float:
    """What the ledger says is left of the bonus credits: grants, minus bonus spent, plus bonus refunded."""
    balance = 0.0
    for row in rows:
        if row.kind is LedgerKind.GRANT:
            balance += row.credits
        elif row.kind is LedgerKind.RESERVE:
            balance -= row.bonus
        elif row.kind is LedgerKind.REFUND:
            balance += row.bonus
    return balance


def split(results: list[Job | BaseException]) -> tuple[list[Job], list[QuotaRefusal]]:
    """Stored jobs and refusals out of a gather; anything else is a failure of the test."""
    stored = [r for r in results if isinstance(r, Job)]
    refusals = [r for r in results if isinstance(r, QuotaRefusal)]
    others = [r for r in results if not isinstance(r, Job | QuotaRefusal)]
    assert not others, others
    return stored, refusals


# --- 1. Races: every decision is made inside the transaction that stores the job -------------------------------


async def test_fifty_concurrent_submissions_by_one_member_get_exactly_the_allowance(make_rig: RigFactory) -> None:
    rig = await make_rig(
        QUOTA_USER_DAILY_CREDITS=12, QUOTA_GUILD_DAILY_CREDITS=100_000, QUOTA_GUILD_MONTHLY_CREDITS=100_000
    )

    results = await asyncio.gather(*(submit(rig, 4) for _ in range(50)), return_exceptions=True)

    stored, refusals = split(results)
    assert len(stored) == 3
    assert len(refusals) == 47
    for refusal in refusals:
        assert refusal.reason == "daily allowance"
        assert "This video costs 4 credits; you have 0 left today." in refusal.user_message
    ids = {job.id for job in stored}
    assert await count(rig, "SELECT COUNT(*) FROM jobs") == 3
    held = await rig.db.fetchall("SELECT job_id FROM reservations WHERE state = 'held'")
    assert {r[0] for r in held} == ids
    assert await count(rig, "SELECT COUNT(*) FROM reservations") == 3
    reserves = await rig.db.fetchall("SELECT job_id, credits FROM ledger WHERE kind = 'reserve'")
    assert sorted((r[0], r[1]) for r in reserves) == sorted((job_id, 4.0) for job_id in ids)
    assert await count(rig, "SELECT COUNT(*) FROM ledger") == 3
    assert (await usage(rig)).user_today == 12


async def test_fifty_concurrent_submissions_respect_the_in_flight_limit(make_rig: RigFactory) -> None:
    rig = await make_rig(MAX_JOBS_PER_USER=3)

    results = await asyncio.gather(*(submit(rig, 4) for _ in range(50)), return_exceptions=True)

    stored, refusals = split(results)
    assert len(stored) == 3
    assert len(refusals) == 47
    for refusal in refusals:
        assert refusal.reason == "user in-flight limit"
        assert "You already have 3 videos in progress (the limit is 3)" in refusal.user_message
    assert await count(rig, "SELECT COUNT(*) FROM jobs") == 3
    assert await count(rig, "SELECT COUNT(*) FROM reservations WHERE state = 'held'") == 3
    assert await count(rig, "SELECT COUNT(*) FROM ledger WHERE kind = 'reserve'") == 3

    # A finished job frees its place, and only one.
    await succeed(rig, stored[0])
    results = await asyncio.gather(*(submit(rig, 4) for _ in range(10)), return_exceptions=True)
    again, refusals = split(results)
    assert len(again) == 1
    assert len(refusals) == 9
    assert await count(rig, "SELECT COUNT(*) FROM reservations WHERE state = 'held'") == 3


@pytest.mark.parametrize(
    ("setting", "reason", "words"),
    [
        ("QUOTA_GUILD_DAILY_CREDITS", "server daily pool", "This server has used today's video budget (20 of 22"),
        ("QUOTA_GUILD_MONTHLY_CREDITS", "server monthly pool", "budget for this period (20 of 22"),
    ],
)
async def test_a_server_pool_shared_by_fifty_members_is_never_overdrawn(
    make_rig: RigFactory, setting: str, reason: str, words: str
) -> None:
    rig = await make_rig(**{setting: 22})

    results = await asyncio.gather(*(submit(rig, 4, user_id=1000 + n) for n in range(50)), return_exceptions=True)

    stored, refusals = split(results)
    assert len(stored) == 5  # 5 x 4 = 20 fits in 22; a sixth would make 24
    assert len(refusals) == 45
    for refusal in refusals:
        assert refusal.reason == reason
        assert words in refusal.user_message
    assert await rig.db.scalar("SELECT SUM(credits) FROM reservations WHERE guild_id = ?", (GUILD,)) == 20
    assert await count(rig, "SELECT COUNT(*) FROM ledger WHERE kind = 'reserve'") == 5
    assert len({job.requester_id for job in stored}) == 5

    # Another server's pool is its own.
    assert (await submit(rig, 4, guild_id=OTHER_GUILD)).guild_id == OTHER_GUILD


async def test_fifty_members_racing_for_the_server_in_flight_limit(make_rig: RigFactory) -> None:
    rig = await make_rig(MAX_JOBS_PER_GUILD=4)

    results = await asyncio.gather(*(submit(rig, 4, user_id=1000 + n) for n in range(50)), return_exceptions=True)

    stored, refusals = split(results)
    assert len(stored) == 4
    assert {r.reason for r in refusals} == {"server in-flight limit"}
    assert await count(rig, "SELECT COUNT(*) FROM reservations WHERE state = 'held'") == 4


async def test_fifty_concurrent_submissions_within_the_cooldown_start_one_job(make_rig: RigFactory) -> None:
    rig = await make_rig(COOLDOWN_SECONDS=30)

    results = await asyncio.gather(*(submit(rig, 4) for _ in range(50)), return_exceptions=True)

    stored, refusals = split(results)
    assert len(stored) == 1
    assert {r.reason for r in refusals} == {"cooldown"}
    assert await count(rig, "SELECT COUNT(*) FROM ledger") == 1


# --- 2. Settling: success commits, every failure refunds, settling twice changes nothing -----------------------


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
async def test_every_failure_kind_refunds_the_reservation(make_rig: RigFactory, kind: ErrorKind) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=12, QUOTA_GUILD_DAILY_CREDITS=40, QUOTA_GUILD_MONTHLY_CREDITS=400)
    before = await usage(rig)
    job = await submit(rig, 4)
    assert await reservation(rig, job.id) == ("held", 4.0, 0.0)
    held = await usage(rig)
    assert (held.user_today, held.guild_today, held.guild_month, held.user_in_flight) == (4, 4, 4, 1)

    rig.clock.advance(60)
    failed = await fail(rig, job, kind)

    assert failed.status is JobStatus.FAILED
    assert (await rig.jobs.get(job.id)) == failed
    assert await reservation(rig, job.id) == ("refunded", 4.0, 0.0)
    settled_at = await rig.db.scalar("SELECT settled_at FROM reservations WHERE job_id = ?", (job.id,))
    assert settled_at == rig.clock.now
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE, LedgerKind.REFUND]
    refund = (await rig.guilds.ledger(GUILD, USER))[-1]
    assert (refund.kind, refund.credits, refund.bonus, refund.job_id) == (LedgerKind.REFUND, 4.0, 0.0, job.id)
    after = await usage(rig)
    assert (after.user_today, after.guild_today, after.guild_month, after.user_in_flight, after.guild_in_flight) == (
        before.user_today,
        before.guild_today,
        before.guild_month,
        before.user_in_flight,
        before.guild_in_flight,
    )
    strikes = await count(rig, "SELECT COUNT(*) FROM strikes WHERE user_id = ?", (USER,))
    assert strikes == (1 if kind is ErrorKind.CONTENT_POLICY else 0)

    # Saving the finished job again (a retry after a crash) settles nothing a second time.
    rig.clock.advance(60)
    await rig.jobs.apply(lifecycle.fail(job, kind, "it did not work", rig.clock()))
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE, LedgerKind.REFUND]
    assert await reservation(rig, job.id) == ("refunded", 4.0, 0.0)
    assert await rig.db.scalar("SELECT settled_at FROM reservations WHERE job_id = ?", (job.id,)) == settled_at
    assert await count(rig, "SELECT COUNT(*) FROM strikes WHERE user_id = ?", (USER,)) == strikes
    assert (await usage(rig)).user_today == before.user_today


async def test_success_commits_the_reservation_once(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=12)
    job = await submit(rig, 4)

    done = await succeed(rig, job)

    assert done.status is JobStatus.SUCCEEDED
    assert await reservation(rig, job.id) == ("committed", 4.0, 0.0)
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE, LedgerKind.COMMIT]
    spent = await usage(rig)
    assert (spent.user_today, spent.guild_today, spent.user_in_flight) == (4, 4, 0)

    await rig.jobs.apply(lifecycle.downloaded(job, "/results/video.mp4", 1234, rig.clock()))
    # A late failure of a job already settled does not refund it either.
    await rig.jobs.apply(lifecycle.fail(job, ErrorKind.CONTENT_POLICY, "refused", rig.clock()))
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE, LedgerKind.COMMIT]
    assert await reservation(rig, job.id) == ("committed", 4.0, 0.0)
    assert (await usage(rig)).user_today == 4
    assert await count(rig, "SELECT COUNT(*) FROM strikes") == 0


async def test_a_job_saved_while_running_settles_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig()
    job = await submit(rig, 4)
    running = lifecycle.poll_failed(job, GatewayUnavailableError("connection reset"), rig.clock(), POLICY)
    assert not running.job.status.is_terminal
    await rig.jobs.apply(running)
    assert await reservation(rig, job.id) == ("held", 4.0, 0.0)
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE]


async def test_content_policy_strikes_pause_the_member_until_the_cooldown_passes(make_rig: RigFactory) -> None:
    rig = await make_rig(STRIKE_LIMIT=3, STRIKE_WINDOW_HOURS=24, STRIKE_COOLDOWN_MINUTES=60)
    for _ in range(2):
        await fail(rig, await submit(rig, 4), ErrorKind.CONTENT_POLICY)
        rig.clock.advance(10)
    # Two strikes are below the limit; other failures are not strikes.
    await fail(rig, await submit(rig, 4), ErrorKind.GENERATION_FAILED)
    rig.clock.advance(10)
    last = await submit(rig, 4)
    rig.clock.advance(10)
    await fail(rig, last, ErrorKind.CONTENT_POLICY)
    last_strike_at = rig.clock.now
    assert await count(rig, "SELECT COUNT(*) FROM strikes WHERE user_id = ?", (USER,)) == 3

    rig.clock.advance(1)
    refusal = await refused(rig, 4)
    assert refusal.reason == "strike cooldown"
    until = math.ceil(last_strike_at + 3600)
    assert "paused until" in refusal.user_message
    assert f"<t:{until}:t>" in refusal.user_message
    assert (await rig.quotas.status(GUILD, USER, ())).cooldown_until == last_strike_at + 3600
    # Other members are not paused.
    await submit(rig, 4, user_id=USER + 1)

    rig.clock.now = last_strike_at + 3600 - 1
    assert (await refused(rig, 4)).reason == "strike cooldown"

    rig.clock.now = last_strike_at + 3600
    accepted = await submit(rig, 4)
    assert await reservation(rig, accepted.id) == ("held", 4.0, 0.0)
    assert (await rig.quotas.status(GUILD, USER, ())).cooldown_until is None


async def test_strikes_outside_the_window_do_not_count(make_rig: RigFactory) -> None:
    rig = await make_rig(STRIKE_LIMIT=2, STRIKE_WINDOW_HOURS=1, STRIKE_COOLDOWN_MINUTES=600)
    await fail(rig, await submit(rig, 4), ErrorKind.CONTENT_POLICY)
    rig.clock.advance(3600 + 1)  # the first strike leaves the window
    await fail(rig, await submit(rig, 4), ErrorKind.CONTENT_POLICY)
    rig.clock.advance(1)
    await submit(rig, 4)  # one strike within the hour: not paused
    await fail(rig, await submit(rig, 4), ErrorKind.CONTENT_POLICY)
    assert (await refused(rig, 4)).reason == "strike cooldown"


async def test_strikes_off_when_the_limit_is_zero(make_rig: RigFactory) -> None:
    rig = await make_rig(STRIKE_LIMIT=0)
    for _ in range(5):
        await fail(rig, await submit(rig, 4), ErrorKind.CONTENT_POLICY)
    await submit(rig, 4)


# --- 3. Bonus credits --------------------------------------------------------------------------------------------


async def test_bonus_credits_are_spent_after_the_allowance_and_come_back_on_refund(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=10)
    await rig.guilds.grant(GUILD, USER, 5, actor_id=ADMIN)
    assert await bonus_balance(rig) == 5

    first = await submit(rig, 4)
    second = await submit(rig, 4)
    assert await reservation(rig, first.id) == ("held", 4.0, 0.0)
    assert await reservation(rig, second.id) == ("held", 4.0, 0.0)
    assert await bonus_balance(rig) == 5  # the allowance pays first

    third = await submit(rig, 4)  # 2 left of the allowance, 2 from bonus
    assert await reservation(rig, third.id) == ("held", 4.0, 2.0)
    assert await bonus_balance(rig) == 3
    assert (await usage(rig)).user_today == 10

    refusal = await refused(rig, 4)  # 0 allowance + 3 bonus < 4
    assert refusal.reason == "daily allowance"
    assert "you have 0 left today and 3 bonus" in refusal.user_message
    bonus_only = await submit(rig, 3)  # wholly from bonus
    assert await reservation(rig, bonus_only.id) == ("held", 3.0, 3.0)
    assert await bonus_balance(rig) == 0

    rig.clock.advance(60)
    await fail(rig, third, ErrorKind.GENERATION_FAILED)
    assert await reservation(rig, third.id) == ("refunded", 4.0, 2.0)
    assert await bonus_balance(rig) == 2  # the bonus part came back
    assert (await usage(rig)).user_today == 8  # and the allowance part
    refund = (await rig.guilds.ledger(GUILD, USER))[-1]
    assert (refund.kind, refund.credits, refund.bonus) == (LedgerKind.REFUND, 4.0, 2.0)

    await fail(rig, bonus_only, ErrorKind.TIMED_OUT)
    await succeed(rig, first)
    assert await bonus_balance(rig) == 5

    # The ledger explains both balances.
    rows = await rig.guilds.ledger(GUILD, USER)
    assert [r.kind for r in rows].count(LedgerKind.GRANT) == 1
    grant = rows[0]
    assert (grant.kind, grant.credits, grant.actor_id, grant.job_id) == (LedgerKind.GRANT, 5.0, ADMIN, None)
    assert explained_bonus(rows) == await bonus_balance(rig) == 5
    status = await rig.quotas.status(GUILD, USER, ())
    assert explained_allowance_used(rows, status.periods.day_start) == status.usage.user_today == 8
    assert status.usage.bonus_balance == 5


async def test_bonus_credits_do_not_expire_with_the_day(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=4)
    await rig.guilds.grant(GUILD, USER, 4, actor_id=ADMIN)
    await submit(rig, 8)
    assert await bonus_balance(rig) == 0
    await rig.guilds.grant(GUILD, USER, 6, actor_id=ADMIN)
    rig.clock.advance(86_400)
    job = await submit(rig, 8)  # a new day's allowance of 4, then 4 of the 6 bonus
    assert await reservation(rig, job.id) == ("held", 8.0, 4.0)
    assert await bonus_balance(rig) == 2
    assert explained_bonus(await rig.guilds.ledger(GUILD, USER)) == 2


async def test_bonus_credits_are_per_server(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=4)
    await rig.guilds.grant(OTHER_GUILD, USER, 100, actor_id=ADMIN)
    await submit(rig, 4)
    assert "you have 0 left today." in (await refused(rig, 4)).user_message


# --- 4. Role caps ------------------------------------------------------------------------------------------------

DEFAULTS = Limits(
    user_daily=40, guild_daily=400, guild_monthly=6000, max_jobs_user=2, max_jobs_guild=10, cooldown_seconds=30
)


@pytest.mark.parametrize(
    ("config", "caps", "roles", "expected"),
    [
        pytest.param(GuildConfig(), {}, [], 40, id="no-config-default"),
        pytest.param(GuildConfig(user_daily_credits=25), {}, [], 25, id="server-value"),
        pytest.param(GuildConfig(user_daily_credits=25), {10: 100}, [11, 12], 25, id="uncapped-roles-server"),
        pytest.param(GuildConfig(), {10: 100}, [11], 40, id="uncapped-roles-default"),
        pytest.param(GuildConfig(user_daily_credits=25), {10: 100}, [10], 100, id="higher-cap"),
        pytest.param(GuildConfig(user_daily_credits=25), {10: 5}, [10], 5, id="lower-cap"),
        pytest.param(GuildConfig(user_daily_credits=25), {10: 0}, [10], 0, id="zero-is-unlimited"),
        pytest.param(GuildConfig(), {10: 5, 11: 80, 12: 60}, [10, 11, 12, 13], 80, id="several-most-generous"),
        pytest.param(GuildConfig(), {10: 5, 11: 80, 12: 0}, [10, 11, 12], 0, id="several-one-unlimited"),
        pytest.param(GuildConfig(user_daily_credits=0), {10: 5}, [10], 5, id="cap-under-unlimited-server"),
    ],
)
def test_resolve_limits_daily_cap(
    config: GuildConfig, caps: dict[int, float], roles: list[int], expected: float
) -> None:
    assert resolve_limits(DEFAULTS, config, caps, roles).user_daily == expected
    # A generator of roles (read once) gives the same answer.
    assert resolve_limits(DEFAULTS, config, caps, iter(roles)).user_daily == expected


def test_resolve_limits_other_limits_come_from_the_server_or_the_defaults() -> None:
    assert resolve_limits(DEFAULTS, GuildConfig(), {10: 1}, [10]) == Limits(
        user_daily=1, guild_daily=400, guild_monthly=6000, max_jobs_user=2, max_jobs_guild=10, cooldown_seconds=30
    )
    config = GuildConfig(
        guild_daily_credits=0,
        guild_monthly_credits=900,
        max_jobs_per_user=0,
        max_jobs_per_guild=3,
        cooldown_seconds=0,
    )
    assert resolve_limits(DEFAULTS, config, {}, []) == Limits(
        user_daily=40, guild_daily=0, guild_monthly=900, max_jobs_user=0, max_jobs_guild=3, cooldown_seconds=0
    )


async def test_role_caps_apply_to_holds(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=4)
    await rig.guilds.set_limits(GUILD, GuildConfig(user_daily_credits=8))
    await rig.guilds.set_role_cap(GUILD, 10, 12)
    await rig.guilds.set_role_cap(GUILD, 11, 0)
    await rig.guilds.set_role_cap(OTHER_GUILD, 12, 1000)

    assert (await rig.quotas.limits(GUILD, [])).user_daily == 8
    assert (await rig.quotas.limits(GUILD, [12])).user_daily == 8  # capped on another server only
    assert (await rig.quotas.limits(GUILD, [10])).user_daily == 12
    assert (await rig.quotas.limits(GUILD, [10, 11])).user_daily == 0
    assert (await rig.quotas.limits(OTHER_GUILD, [])).user_daily == 4

    for _ in range(3):
        await submit(rig, 4, roles=[10])
    assert "you have 0 left today" in (await refused(rig, 4, roles=[10])).user_message
    await submit(rig, 4, roles=[10, 11])  # unlimited

    await rig.guilds.set_role_cap(GUILD, 10, None)  # removed: back to the server's 8, already spent
    assert (await rig.quotas.limits(GUILD, [10])).user_daily == 8
    await refused(rig, 4, roles=[10])


# --- 5. Cooldown, reset and status -------------------------------------------------------------------------------


async def test_cooldown_between_submissions(make_rig: RigFactory) -> None:
    rig = await make_rig(COOLDOWN_SECONDS=30)
    first = await submit(rig, 4)

    rig.clock.advance(10)
    refusal = await refused(rig, 4)
    assert refusal.reason == "cooldown"
    assert "Please wait 20 more seconds before starting another video." in refusal.user_message
    assert (await rig.quotas.status(GUILD, USER, ())).cooldown_until == first.created_at + 30

    rig.clock.advance(19.5)
    assert "Please wait 1 more second before" in (await refused(rig, 4)).user_message

    # A refusal is not a submission: the cooldown still runs from the first job.
    rig.clock.now = first.created_at + 30
    second = await submit(rig, 4)
    assert (await rig.quotas.status(GUILD, USER, ())).cooldown_until == second.created_at + 30
    # A failed job still started the cooldown, and other members have their own.
    await fail(rig, second, ErrorKind.GENERATION_FAILED)
    assert (await refused(rig, 4)).reason == "cooldown"
    await submit(rig, 4, user_id=USER + 1)

    rig.clock.advance(30)
    assert (await rig.quotas.status(GUILD, USER, ())).cooldown_until is None


async def test_server_cooldown_overrides_the_default(make_rig: RigFactory) -> None:
    rig = await make_rig(COOLDOWN_SECONDS=30)
    await rig.guilds.set_limits(GUILD, GuildConfig(cooldown_seconds=0))
    await submit(rig, 4)
    await submit(rig, 4)


async def test_reset_user_forgives_todays_usage_and_strikes(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=12, STRIKE_LIMIT=2, STRIKE_COOLDOWN_MINUTES=600)
    await succeed(rig, await submit(rig, 4))
    rig.clock.advance(1)
    kept = await submit(rig, 4)  # still held over the reset
    for _ in range(2):
        rig.clock.advance(1)
        await fail(rig, await submit(rig, 4), ErrorKind.CONTENT_POLICY)
    rig.clock.advance(1)
    assert (await refused(rig, 4)).reason == "strike cooldown"
    assert (await usage(rig)).user_today == 8

    await rig.guilds.reset_user(GUILD, USER, actor_id=ADMIN)
    reset_at = rig.clock.now
    rig.clock.advance(1)

    forgiven = await usage(rig)
    assert forgiven.user_today == 0
    assert forgiven.recent_strikes == 0
    assert forgiven.user_in_flight == 1  # a job still running is still running
    assert forgiven.guild_today == 8  # the server's pool is not forgiven
    assert await count(rig, "SELECT COUNT(*) FROM strikes WHERE user_id = ?", (USER,)) == 0
    rows = await rig.guilds.ledger(GUILD, USER)
    assert (rows[-1].kind, rows[-1].credits, rows[-1].actor_id, rows[-1].created_at) == (
        LedgerKind.RESET,
        0.0,
        ADMIN,
        reset_at,
    )
    for _ in range(3):
        await submit(rig, 4)
    assert "you have 0 left today" in (await refused(rig, 4)).user_message

    # The job held before the reset settles normally without touching the new allowance.
    await fail(rig, kept, ErrorKind.UNAVAILABLE)
    assert (await usage(rig)).user_today == 12


async def test_status_agrees_with_the_ledger(make_rig: RigFactory) -> None:
    rig = await make_rig(
        QUOTA_USER_DAILY_CREDITS=20,
        QUOTA_GUILD_DAILY_CREDITS=100,
        QUOTA_GUILD_MONTHLY_CREDITS=1000,
        MAX_JOBS_PER_USER=5,
        COOLDOWN_SECONDS=5,
    )
    # Yesterday's spending belongs to the ledger but not to today's allowance.
    rig.clock.advance(-86_400)
    await succeed(rig, await submit(rig, 6))
    rig.clock.now = START
    await rig.guilds.grant(GUILD, USER, 3, actor_id=ADMIN)
    jobs = []
    for cost in (4, 6, 3, 5, 4):
        jobs.append(await submit(rig, cost))
        rig.clock.advance(10)
    await succeed(rig, jobs[0])
    await fail(rig, jobs[1], ErrorKind.RATE_LIMITED)
    await fail(rig, jobs[3], ErrorKind.CONTENT_POLICY)
    await submit(rig, 4, user_id=USER + 1)

    status = await rig.quotas.status(GUILD, USER, [])
    rows = await rig.guilds.ledger(GUILD, USER)
    used = explained_allowance_used(rows, status.periods.day_start)
    assert used == status.usage.user_today == 4 + 3 + (4 - 2)  # 2 of the last job came from bonus
    assert status.limits.user_daily - status.usage.user_today == 11
    assert status.usage.bonus_balance == explained_bonus(rows) == 1
    assert status.usage.user_in_flight == 2
    assert status.usage.guild_in_flight == 3
    assert status.usage.guild_today == 4 + 3 + 4 + 4
    assert status.usage.guild_month == 6 + 4 + 3 + 4 + 4
    assert status.usage.recent_strikes == 1
    assert status.usage.last_submission_at == jobs[-1].created_at
    assert status.periods == current_periods(rig.clock.now, 0, 1)
    assert status.cooldown_until is None  # the last submission was 10 s ago, the cooldown 5 s
    assert status.limits == Limits(
        user_daily=20, guild_daily=100, guild_monthly=1000, max_jobs_user=5, max_jobs_guild=0, cooldown_seconds=5
    )


def test_cooldown_until_is_the_later_of_the_two_waits() -> None:
    limits = Limits(0, 0, 0, 0, 0, cooldown_seconds=30)
    rule = StrikeRule(limit=2, window_seconds=3600, cooldown_seconds=600)
    base = RawUsage(0, 0, 0, 0, 0, last_submission_at=None, bonus_balance=0, recent_strikes=0, last_strike_at=None)
    assert cooldown_until(base, limits, rule) is None
    submitted = RawUsage(0, 0, 0, 0, 0, 100.0, 0, 1, 90.0)
    assert cooldown_until(submitted, limits, rule) == 130.0
    struck = RawUsage(0, 0, 0, 0, 0, 100.0, 0, 2, 90.0)
    assert cooldown_until(struck, limits, rule) == 690.0


def test_decide_charges_the_allowance_first_then_bonus() -> None:
    limits = Limits(
        user_daily=10, guild_daily=0, guild_monthly=0, max_jobs_user=0, max_jobs_guild=0, cooldown_seconds=0
    )
    rule = StrikeRule(limit=0, window_seconds=1, cooldown_seconds=0)
    periods = current_periods(START, 0, 1)

    def used(today: float, bonus: float) -> RawUsage:
        return RawUsage(today, today, today, 0, 0, None, bonus, 0, None)

    assert decide(used(0, 5), limits, rule, periods, 4, START).bonus == 0
    assert decide(used(8, 5), limits, rule, periods, 4, START).bonus == 2
    assert decide(used(12, 5), limits, rule, periods, 4, START).bonus == 4  # over the cap (a lowered cap): all bonus
    with pytest.raises(QuotaRefusal, match="you have 2 left today and 1 bonus"):
        decide(used(8, 1), limits, rule, periods, 4, START)
    unlimited = Limits(0, 0, 0, 0, 0, 0)
    assert decide(used(10_000, 0), unlimited, rule, periods, 4, START).bonus == 0


# --- 6. Fail closed: when the ledger cannot be written, the job is not stored ------------------------------------


async def test_a_hold_that_fails_after_writing_leaves_nothing_behind(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=4)
    await rig.guilds.grant(GUILD, USER, 10, actor_id=ADMIN)
    real = await rig.quotas.holder(GUILD, USER, (), 6)  # 4 from the allowance, 2 from bonus

    async def hold_then_break(session: Session, job_id: str) -> bool:
        await real(session, job_id)
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        await rig.jobs.add(unsaved(rig, new_job()), hold=hold_then_break)

    assert await count(rig, "SELECT COUNT(*) FROM jobs") == 0
    assert await count(rig, "SELECT COUNT(*) FROM reservations") == 0
    assert await count(rig, "SELECT COUNT(*) FROM ledger WHERE kind != 'grant'") == 0
    assert await bonus_balance(rig) == 10  # the bonus spent inside the transaction was rolled back too
    # The connection is not left inside the failed transaction.
    job = await submit(rig, 6)
    assert await reservation(rig, job.id) == ("held", 6.0, 2.0)


async def test_no_ledger_table_means_no_job(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=12)
    await rig.db.execute("DROP TABLE ledger")

    with pytest.raises(DRIVER_ERRORS, match="ledger"):
        await submit(rig, 4)

    assert await count(rig, "SELECT COUNT(*) FROM jobs") == 0
    assert await count(rig, "SELECT COUNT(*) FROM reservations") == 0


async def test_a_refund_that_cannot_be_written_leaves_the_job_running(make_rig: RigFactory) -> None:
    rig = await make_rig()
    job = await submit(rig, 4)
    await rig.db.execute("DROP TABLE ledger")

    with pytest.raises(DRIVER_ERRORS, match="ledger"):
        await fail(rig, job, ErrorKind.LOST)

    stored = await rig.jobs.get(job.id)
    assert stored is not None
    assert stored.status is JobStatus.SUBMITTING  # saved again later, it will settle then
    assert await reservation(rig, job.id) == ("held", 4.0, 0.0)


async def test_a_refusal_inside_the_transaction_stores_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=4)
    await submit(rig, 4)
    await refused(rig, 4)
    assert await count(rig, "SELECT COUNT(*) FROM reservations") == 1
    assert await count(rig, "SELECT COUNT(*) FROM ledger") == 1


async def test_a_submission_cancelled_inside_its_transaction_stores_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=4)
    real = await rig.quotas.holder(GUILD, USER, (), 4)
    inside = asyncio.Event()
    never = asyncio.Event()

    async def hold_and_hang(session: Session, job_id: str) -> bool:
        await real(session, job_id)
        inside.set()
        await never.wait()
        return False

    task = asyncio.create_task(rig.jobs.add(unsaved(rig, new_job()), hold=hold_and_hang))
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await count(rig, "SELECT COUNT(*) FROM jobs") == 0
    assert await count(rig, "SELECT COUNT(*) FROM reservations") == 0
    assert await count(rig, "SELECT COUNT(*) FROM ledger") == 0
    job = await submit(rig, 4)  # the allowance was not spent, and the database is free
    assert await reservation(rig, job.id) == ("held", 4.0, 0.0)


# --- Bugs found while writing these tests --------------------------------------------------------------------


async def test_a_spent_allowance_of_non_binary_costs_reads_as_zero(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=12)
    for _ in range(10):
        await submit(rig, 4 * 0.3)
    refusal = await refused(rig, 4 * 0.3)
    assert "you have 0 left today." in refusal.user_message


async def test_no_bonus_part_without_bonus_credits(make_rig: RigFactory) -> None:
    rig = await make_rig(QUOTA_USER_DAILY_CREDITS=0.3)
    jobs = [await submit(rig, 0.1) for _ in range(3)]
    assert [(await reservation(rig, job.id))[2] for job in jobs] == [0.0, 0.0, 0.0]
    assert all(row.bonus == 0 for row in await rig.guilds.ledger(GUILD, USER))


async def test_server_in_flight_refusal_counts_one_video(make_rig: RigFactory) -> None:
    rig = await make_rig(MAX_JOBS_PER_GUILD=1)
    await submit(rig, 4, user_id=1)
    refusal = await refused(rig, 4, user_id=2)
    assert "This server already has 1 video in progress (the limit is 1)" in refusal.user_message


async def test_a_video_that_could_never_be_delivered_is_refunded(make_rig: RigFactory) -> None:
    rig = await make_rig()
    job = await succeed(rig, await submit(rig, cost=4))
    assert (await reservation(rig, job.id))[0] == "committed"

    await rig.jobs.apply(lifecycle.give_up_delivery(job, "Discord refused every place", rig.clock()))

    assert (await reservation(rig, job.id))[0] == "refunded"
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE, LedgerKind.COMMIT, LedgerKind.REFUND]
    assert (await usage(rig)).user_today == 0


async def test_a_transition_that_fails_half_way_leaves_nothing_done(make_rig: RigFactory, backend: str) -> None:
    rig = await make_rig()
    job = await submit(rig, 4)
    # The last step of a content refusal, its strike, fails (a full disk, say): the job row was written and the
    # credits refunded by then, inside the same transaction.
    for statement in FAILING_STRIKES[backend]:
        await rig.db.execute(statement)
    refused = lifecycle.fail(job, ErrorKind.CONTENT_POLICY, "refused", rig.clock())
    with pytest.raises(DRIVER_ERRORS, match="disk trouble"):
        await rig.jobs.apply(refused)

    assert await rig.jobs.get(job.id) == job
    assert await reservation(rig, job.id) == ("held", 4.0, 0.0)
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE]

    # Once the failure is gone, the same transition goes through whole.
    await rig.db.execute(DROP_FAILING_STRIKES[backend])
    await rig.jobs.apply(refused)
    assert await rig.jobs.get(job.id) == refused.job
    assert await reservation(rig, job.id) == ("refunded", 4.0, 0.0)
    assert await count(rig, "SELECT COUNT(*) FROM strikes WHERE job_id = ?", (job.id,)) == 1


async def test_a_transition_from_a_state_the_job_has_left_does_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig()
    job = await submit(rig, 4)
    running = lifecycle.poll_failed(job, GatewayUnavailableError("connection reset"), rig.clock(), POLICY)
    # Meanwhile the job was given up as unconfirmed: the stale transition neither writes nor settles.
    await rig.jobs.apply(lifecycle.unconfirmed(job, rig.clock()))
    late = lifecycle.downloaded(running.job, "/results/video.mp4", 1234, rig.clock())
    assert await rig.jobs.apply(late) == 0.0
    stored = await rig.jobs.get(job.id)
    assert stored is not None and stored.error_kind is ErrorKind.UNCONFIRMED
    assert await ledger_kinds(rig, job.id) == [LedgerKind.RESERVE, LedgerKind.REFUND]


async def test_apply_returns_the_credits_a_success_committed(make_rig: RigFactory) -> None:
    rig = await make_rig()
    job = await submit(rig, 4)
    assert await rig.jobs.apply(lifecycle.downloaded(job, "/results/video.mp4", 1234, rig.clock())) == 4.0
