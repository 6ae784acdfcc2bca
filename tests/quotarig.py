"""A quota rig for tests: a real database (a SQLite file or PostgreSQL) with the job store, the guild store and the
quota service on one clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain import ErrorKind, GenerationRequest, Job, NewJob, Orientation, WireFormat
from bot.services import lifecycle
from bot.services.quotas import QuotaRefusal, QuotaService
from bot.settings import Settings
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.database import Database
from bot.storage.guilds import GuildStore, RawUsage
from tests.helpers import FakeClock

GUILD = 7
USER = 42
# Mid-day, mid-month: hours can pass without crossing a quota period.
START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp()


def make_settings(**env: str | float) -> Settings:
    """Settings with every limit off (0) unless a test names it, so each test states what it exercises."""
    values: dict[str, str] = {
        "GATEWAY_BASE_URL": "https://gateway.example.com",
        "GATEWAY_API_KEY": "sk-test",
        "QUOTA_USER_DAILY_CREDITS": "0",
        "QUOTA_GUILD_DAILY_CREDITS": "0",
        "QUOTA_GUILD_MONTHLY_CREDITS": "0",
        "MAX_JOBS_PER_USER": "0",
        "MAX_JOBS_PER_GUILD": "0",
        "QUEUE_MAX_PER_GUILD": "0",
        "COOLDOWN_SECONDS": "0",
        "STRIKE_LIMIT": "3",
        "STRIKE_WINDOW_HOURS": "24",
        "STRIKE_COOLDOWN_MINUTES": "60",
    }
    values.update({name: str(value) for name, value in env.items()})
    return Settings.from_env(values, need_discord=False)


@dataclass
class Rig:
    """A database with the job store, the guild store and the quota service over one clock."""

    db: Database
    clock: FakeClock
    jobs: JobStore
    guilds: GuildStore
    quotas: QuotaService


async def open_rig(location: Path | str, clock: FakeClock, settings: Settings) -> Rig:
    db = await open_database(location)
    guilds = GuildStore(db, clock)
    return Rig(db, clock, JobStore(db, clock), guilds, QuotaService(guilds, settings, clock))


def new_job(user_id: int = USER, guild_id: int = GUILD) -> NewJob:
    request = GenerationRequest(
        prompt="a cat on a skateboard", model="sora-2", orientation=Orientation.PORTRAIT, duration=4
    )
    return NewJob(request=request, origin="discord", requester_id=user_id, guild_id=guild_id, channel_id=9)


def unsaved(rig: Rig, new: NewJob) -> Job:
    """The job as the job service makes it, before it is stored."""
    return lifecycle.created(new, WireFormat.OPENAI, rig.clock(), rig.clock() + 120)


async def submit(
    rig: Rig, cost: float, user_id: int = USER, *, roles: Iterable[int] = (), guild_id: int = GUILD
) -> Job:
    """What the Discord front does: a holder for this member, then the job stored with it."""
    hold = await rig.quotas.holder(guild_id, user_id, roles, cost)
    return await rig.jobs.add(unsaved(rig, new_job(user_id, guild_id)), hold=hold, wait=lifecycle.waiting)


async def refused(rig: Rig, cost: float, user_id: int = USER, *, roles: Iterable[int] = ()) -> QuotaRefusal:
    """Submit, expecting a refusal; nothing may be stored for it."""
    jobs_before = await count(rig, "SELECT COUNT(*) FROM jobs")
    with pytest.raises(QuotaRefusal) as caught:
        await submit(rig, cost, user_id, roles=roles)
    assert await count(rig, "SELECT COUNT(*) FROM jobs") == jobs_before
    return caught.value


async def fail(rig: Rig, job: Job, kind: ErrorKind) -> Job:
    failed = lifecycle.fail(job, kind, "it did not work", rig.clock())
    await rig.jobs.apply(failed)
    return failed.job


async def succeed(rig: Rig, job: Job) -> Job:
    done = lifecycle.downloaded(job, "/results/video.mp4", 1234, rig.clock())
    await rig.jobs.apply(done)
    return done.job


async def count(rig: Rig, sql: str, params: tuple[object, ...] = ()) -> int:
    return int(await rig.db.scalar(sql, params))


async def usage(rig: Rig, user_id: int = USER) -> RawUsage:
    return (await rig.quotas.status(GUILD, user_id, ())).usage
