"""ModerationService's word check: admins' patterns on RE2, off the event loop, in bounded time, failing closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.services.moderation import ModerationRefusal, ModerationService, Requester
from bot.storage.connect import open_database
from bot.storage.database import Database
from bot.storage.guilds import GuildStore, ListKind

GUILD = 10
OTHER = 20
PATHOLOGICAL = (r"(a|aa)+$", r"\w*\w*\w*\w*\w*!", r"a{1,100}a{1,100}a{1,100}b")


@pytest.fixture
async def db(database_location: Path | str) -> AsyncIterator[Database]:
    opened = await open_database(database_location)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def guilds(db: Database) -> GuildStore:
    return GuildStore(db, lambda: 1_000.0)


@pytest.fixture
def moderation(guilds: GuildStore) -> Iterator[ModerationService]:
    service = ModerationService(guilds)
    yield service
    service.close()


def member(guild_id: int = GUILD) -> Requester:
    return Requester(guild_id=guild_id, user_id=1, channel_id=2, role_ids=frozenset())


async def test_a_long_prompt_is_checked_against_backtracking_patterns_in_one_pass(
    moderation: ModerationService, guilds: GuildStore
) -> None:
    for pattern in PATHOLOGICAL:
        await guilds.add_to_list(GUILD, ListKind.BLOCKED_REGEX, pattern)

    with pytest.raises(ModerationRefusal) as refused:
        await moderation.check(member(), "a" * 1999 + "!", "sora-2")
    assert refused.value.strike
    assert any(pattern in refused.value.reason for pattern in PATHOLOGICAL)
    await moderation.check(member(), "a quiet harbour at dusk, " * 80, "sora-2")  # 2,000 characters that pass
    await moderation.check(member(OTHER), "a" * 1999 + "!", "sora-2")  # another server's rules are its own


async def test_a_check_that_overruns_its_time_refuses_in_plain_words(guilds: GuildStore) -> None:
    impatient = ModerationService(guilds, filter_timeout=0.0)  # no check can finish in no time
    try:
        with pytest.raises(ModerationRefusal) as refused:
            await impatient.check(member(), "a lighthouse in a storm", "sora-2")
    finally:
        impatient.close()
    assert "could not be checked" in refused.value.user_message
    assert "Try again" in refused.value.user_message
    assert not refused.value.strike  # the member did nothing wrong


async def test_stored_patterns_re2_cannot_run_are_not_applied_and_reported_once(
    moderation: ModerationService, guilds: GuildStore, db: Database
) -> None:
    # Stored before the bot matched on RE2, when look-around was accepted.
    await guilds.add_to_list(GUILD, ListKind.BLOCKED_REGEX, "(?<=blood)bath")
    await guilds.add_to_list(GUILD, ListKind.BLOCKED_REGEX, "gore+")
    await guilds.add_to_list(OTHER, ListKind.BLOCKED_REGEX, r"(\w)\1")

    await moderation.check(member(), "a bloodbath", "sora-2")  # inactive: not applied
    with pytest.raises(ModerationRefusal):
        await moderation.check(member(), "goreee", "sora-2")  # the usable one still is

    unreported = await moderation.unreported_inactive_patterns()
    assert sorted(unreported) == [GUILD, OTHER]
    [(pattern, problem)] = unreported[GUILD]
    assert pattern == "(?<=blood)bath" and "look-around" in problem
    assert list(await moderation.unreported_inactive_patterns(OTHER)) == [OTHER]

    await moderation.mark_inactive_reported(GUILD, [pattern])
    assert list(await moderation.unreported_inactive_patterns()) == [OTHER]
    again = ModerationService(GuildStore(db, lambda: 2_000.0))  # after a restart: the record is in the database
    try:
        assert list(await again.unreported_inactive_patterns()) == [OTHER]
    finally:
        again.close()
    assert [v for v, _ in await guilds.entries(GUILD, ListKind.BLOCKED_REGEX)] == ["(?<=blood)bath", "gore+"]


async def test_two_processes_marking_inactive_patterns_at_once_each_mark_them_once(
    moderation: ModerationService, guilds: GuildStore, database_location: Path | str
) -> None:
    patterns = [f"(?<=blood)bath{n}" for n in range(20)]
    for pattern in patterns:
        await guilds.add_to_list(GUILD, ListKind.BLOCKED_REGEX, pattern)
    other_db = await open_database(database_location)  # a second process, with connections of its own
    other = ModerationService(GuildStore(other_db, lambda: 1_001.0))
    try:
        (mine, my_mark), (theirs, their_mark) = await asyncio.gather(
            moderation.mark_inactive_reported(GUILD, patterns), other.mark_inactive_reported(GUILD, patterns)
        )
        assert sorted(mine + theirs) == sorted(patterns)  # each pattern is told by exactly one of them
        assert (my_mark, their_mark) == (1_000.0, 1_001.0)
        assert await moderation.unreported_inactive_patterns() == {}

        # The other could not post its notice (no log channel): it gives its patterns back, and only those.
        await other.unmark_inactive_reported(GUILD, theirs + mine, their_mark)
        assert sorted(p for p, _ in (await moderation.unreported_inactive_patterns()).get(GUILD, [])) == sorted(theirs)
        assert await other.mark_inactive_reported(GUILD, patterns) == (sorted(theirs, key=patterns.index), 1_001.0)
    finally:
        other.close()
        await other_db.close()
