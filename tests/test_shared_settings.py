"""Moderators' settings hold in every process at once: two engines on one database, nothing cached in either.

Discord sends a server's commands to the one shard holding it, so in production the process that checks a
server's rule is usually the one that set it; this covers the rest (a DM button, which shard 0 answers, a process
started later, a worker) and proves that each check reads the database, not something kept from before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.engine import Engine, open_engine
from bot.services.moderation import ModerationRefusal, Requester
from bot.settings import Settings
from bot.storage.guilds import GuildConfig, ListKind
from tests.helpers import database_env, engine_env

GUILD, MEMBER, CHANNEL = 41, 42, 43
MODEL = "veo-3.1-fast-generate-preview"
WHO = Requester(guild_id=GUILD, user_id=MEMBER, channel_id=CHANNEL, role_ids=frozenset())


@pytest.fixture
def settings(sim: Simulator, tmp_path: Path, database_location: Path | str) -> Settings:
    """The ``engine`` fixture's settings on each backend in turn: a SQLite file, then a PostgreSQL database."""
    return Settings.from_env(engine_env(sim, tmp_path, **database_env(database_location)), need_discord=False)


@pytest.fixture
async def other(settings: Settings, engine: Engine) -> AsyncIterator[Engine]:
    """A second engine, as another process would open it, on the ``engine`` fixture's database."""
    async with open_engine(settings, Catalog.load()) as opened:
        yield opened


async def refusal(engine: Engine, prompt: str = "a quiet harbour") -> str:
    with pytest.raises(ModerationRefusal) as refused:
        await engine.moderation.check(WHO, prompt, MODEL)
    return refused.value.reason


async def test_the_other_process_sees_each_setting_the_moment_it_is_made(engine: Engine, other: Engine) -> None:
    await other.moderation.check(WHO, "a quiet harbour", MODEL)  # read once before: nothing kept from it

    await engine.guilds.set_paused(GUILD, True, "maintenance")
    assert await refusal(other) == "server pause"
    await engine.guilds.set_paused(GUILD, False, None)

    await engine.guilds.add_to_list(GUILD, ListKind.BLOCKED_USER, str(MEMBER), "spam")
    assert await refusal(other) == "blocked user"
    await engine.guilds.remove_from_list(GUILD, ListKind.BLOCKED_USER, str(MEMBER))

    await engine.guilds.add_to_list(GUILD, ListKind.BLOCKED_WORD, "harbour")
    assert (await refusal(other)).startswith("blocked word")
    await engine.guilds.remove_from_list(GUILD, ListKind.BLOCKED_WORD, "harbour")

    await engine.guilds.add_to_list(GUILD, ListKind.ALLOWED_CHANNEL, str(CHANNEL + 1))
    assert await refusal(other) == "channel not allowed"
    await engine.guilds.remove_from_list(GUILD, ListKind.ALLOWED_CHANNEL, str(CHANNEL + 1))

    await engine.guilds.add_to_list(GUILD, ListKind.DISABLED_MODEL, MODEL)
    assert await refusal(other) == "model disabled"
    await engine.guilds.remove_from_list(GUILD, ListKind.DISABLED_MODEL, MODEL)

    await engine.moderation.set_operator_pause("upgrade")
    assert await refusal(other) == "operator pause"
    await engine.moderation.set_operator_pause(None)

    await other.moderation.check(WHO, "a quiet harbour", MODEL)  # everything lifted is lifted there too


async def test_limits_set_through_one_process_bind_the_other_at_once(engine: Engine, other: Engine) -> None:
    before = await other.quotas.limits(GUILD, [])
    await engine.guilds.set_limits(GUILD, GuildConfig(user_daily_credits=3, max_jobs_per_user=1))
    after = await other.quotas.limits(GUILD, [])
    assert (after.user_daily, after.max_jobs_user) == (3, 1)
    assert (before.user_daily, before.max_jobs_user) != (3, 1)
