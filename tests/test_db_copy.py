"""`python -m bot db copy`: an SQLite database made through the store API, copied into a real PostgreSQL database
and read back through the same API there; the refusals, and a failure half-way that leaves the target empty."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import sqlite3
import sys
from pathlib import Path

import asyncpg

from bot.cli.copy import TableProgress
from bot.domain import GenerationRequest, Job, JobStatus, NewJob, Orientation, PrivateReply, Transition, WireFormat
from bot.errors import ExitCode
from bot.services import lifecycle
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.copy import BATCH_ROWS
from bot.storage.database import Database, Session
from bot.storage.guilds import GuildConfig, GuildStore, LedgerKind, ListKind, MemberDefaults
from bot.storage.migrate import bundled_migrations
from tests.helpers import FakeClock, free_port

GUILD = 7
MEMBER = 42
ADMIN = 99
COMMAND_TIMEOUT_SECONDS = 120.0


MEMBER_DEFAULTS = MemberDefaults(model="kling-v2-1", orientation="portrait", duration=10, hd=False, private=True)
PRIVATE_REPLY = PrivateReply(application_id=77, token="interaction-token", expires_at=9_000.0)
DM_CHANNEL = 4242


@dataclasses.dataclass
class Populated:
    """What the source database was given, to compare with what the target reads back."""

    jobs: list[Job]
    config: GuildConfig
    meta: dict[str, str]


def new_job(n: int) -> NewJob:
    request = GenerationRequest(
        prompt=f"a cat on a skateboard, take {n}",
        model="sora-2",
        orientation=Orientation.PORTRAIT,
        duration=8,
        hd=n == 1,
        images=(),
    )
    # The languages the job's later posts and private notes are in (migration 0015) travel with it.
    return NewJob(
        request=request,
        origin="discord",
        requester_id=MEMBER,
        guild_id=GUILD,
        channel_id=9,
        locale="ja",
        member_locale="de",
        private=n == 2,
    )


async def populate(path: Path) -> Populated:
    """An SQLite database with a row in every table, written through the store API as the bot writes them."""
    clock = FakeClock(1_000.0)
    db = await open_database(path)
    try:
        store, guilds = JobStore(db, clock), GuildStore(db, clock)

        async def hold(session: Session, job_id: str) -> bool:
            await guilds.hold(session, job_id, GUILD, MEMBER, 8.0, 0.0)
            return False

        # At one time: only the insertion order (SQLite's rowid, a column on PostgreSQL) tells them apart.
        jobs = [
            await store.add(lifecycle.created(new_job(n), WireFormat.OPENAI, clock.now, 2_000.0), hold=hold)
            for n in range(3)
        ]
        clock.advance(10)
        done = dataclasses.replace(jobs[0], status=JobStatus.SUCCEEDED, finished_at=clock.now, next_poll_at=None)
        await store.apply(Transition(before=jobs[0], job=done))
        async with db.transaction() as tx:
            await guilds.settle(tx, done.id, succeeded=True)
        jobs[0] = done
        await store.set_dm_channel(jobs[2].id, DM_CHANNEL)  # a private job, its status in the member's DMs
        await store.save_private_reply(jobs[2].id, PRIVATE_REPLY)
        await store.add_shown_copy(jobs[0].id, 555, 556)  # a /video show copy, deleted with its result
        config = GuildConfig(user_daily_credits=30.0, max_jobs_per_user=2, cooldown_seconds=15.0)
        await guilds.set_limits(GUILD, config)
        await guilds.set_paused(GUILD, True, "maintenance")
        await guilds.set_log_channel(GUILD, 555)
        await guilds.set_private_allowed(GUILD, False)
        await guilds.set_role_cap(GUILD, 321, 80.0)
        await guilds.add_to_list(GUILD, ListKind.BLOCKED_WORD, "spoiler", "no spoilers")
        await guilds.add_to_list(GUILD, ListKind.BLOCKED_USER, "13")
        await guilds.grant(GUILD, MEMBER, 20.0, ADMIN)
        await guilds.record_strike(GUILD, MEMBER, jobs[1].id, "content_policy")
        await guilds.reset_user(GUILD, MEMBER, ADMIN)  # clears the strike: the id it had must not come back
        await guilds.record_strike(GUILD, MEMBER, jobs[2].id, "blocked_word")
        await guilds.set_member_defaults(GUILD, MEMBER, MEMBER_DEFAULTS)
        meta = {"commands_hash": "abc123", "operator_pause": "balance"}
        for key, value in meta.items():
            await store.set_meta(key, value)
        return Populated(
            jobs=[await store.get(job.id) or job for job in jobs], config=await guilds.config(GUILD), meta=meta
        )
    finally:
        await db.close()


async def row_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}


async def run_copy(source: Path, url: str) -> tuple[int, str, str]:
    """`python -m bot db copy` as the operator runs it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "GATEWAY_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "db",
        "copy",
        "--from",
        str(source),
        "--to",
        url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_SECONDS)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def pg_rows(url: str) -> int:
    """Rows in every table of the target but its migration record."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'"
        )
        return sum([int(await conn.fetchval(f'SELECT count(*) FROM "{row[0]}"')) for row in tables])
    finally:
        await conn.close()


async def test_a_copied_database_reads_back_the_same_through_the_store_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    source = tmp_path / "reelbot.sqlite3"
    given = await populate(source)
    counts = await row_counts(source)
    assert all(counts[table] > 0 for table in counts if table != "schema_migrations"), counts

    code, out, err = await run_copy(source, pg_url)

    assert code == ExitCode.OK, err
    for table, rows in counts.items():
        assert any(line.split()[:2] == [table, f"{rows:,}"] for line in out.splitlines()), (table, out)
    clock = FakeClock(5_000.0)
    db: Database = await open_database(pg_url)
    try:
        store, guilds = JobStore(db, clock), GuildStore(db, clock)
        for job in given.jobs:
            assert await store.get(job.id) == job
            assert (job.locale, job.member_locale) == ("ja", "de")
        assert [j.id for j in await store.list_by_requester(GUILD, MEMBER)] == [j.id for j in reversed(given.jobs)]
        assert await guilds.config(GUILD) == given.config
        assert await guilds.role_caps(GUILD) == {321: 80.0}
        assert await guilds.entries(GUILD, ListKind.BLOCKED_WORD) == [("spoiler", "no spoilers")]
        assert await guilds.entries(GUILD, ListKind.BLOCKED_USER) == [("13", None)]
        assert await guilds.member_defaults(GUILD, MEMBER) == MEMBER_DEFAULTS
        assert not given.config.private_allowed
        private = given.jobs[2]
        assert (private.private, private.dm_channel_id) == (True, DM_CHANNEL)
        assert await store.private_reply(private.id) == PRIVATE_REPLY
        for key, value in given.meta.items():
            assert await store.get_meta(key) == value
        ledger = await guilds.ledger(GUILD, MEMBER)
        assert [row.kind for row in ledger].count(LedgerKind.RESERVE) == 3
        # New rows after the copy take ids past the copied ones (the sequences were moved on): no clash.
        await guilds.grant(GUILD, MEMBER, 5.0, ADMIN)
        await guilds.record_strike(GUILD, MEMBER, None, "content_policy")
        assert len(await guilds.ledger(GUILD, MEMBER)) == len(ledger) + 1
        await store.add(lifecycle.created(new_job(3), WireFormat.OPENAI, clock.now, 6_000.0))
    finally:
        await db.close()
    conn = await asyncpg.connect(pg_url)
    try:
        # The strike the reset cleared had id 1: SQLite never hands it out again, and neither does PostgreSQL.
        assert [row[0] for row in await conn.fetch("SELECT id FROM strikes ORDER BY id")] == [2, 3]
    finally:
        await conn.close()


async def test_a_target_holding_data_is_refused_and_left_as_it_was(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "reelbot.sqlite3"
    await populate(source)
    db = await open_database(pg_url)
    try:
        await GuildStore(db, FakeClock()).set_paused(123, True, "already in use")
    finally:
        await db.close()

    code, out, err = await run_copy(source, pg_url)

    assert code == ExitCode.USAGE
    assert "not empty" in err and "guild_config" in err and "Nothing was copied" in err
    assert "Traceback" not in err and out == ""
    assert await pg_rows(pg_url) == 1


async def test_a_row_that_cannot_be_stored_half_way_leaves_the_target_empty(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "reelbot.sqlite3"
    await populate(source)
    # SQLite keeps what it is given; PostgreSQL refuses text in a BIGINT. strikes is copied after jobs and ledger.
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE strikes SET user_id = 'someone'")

    code, _, err = await run_copy(source, pg_url)

    assert code == ExitCode.ERROR
    assert "strikes" in err and "Nothing was copied" in err and "Traceback" not in err
    assert await pg_rows(pg_url) == 0


async def test_a_source_at_another_schema_version_is_refused_before_the_target_is_touched(tmp_path: Path) -> None:
    latest = bundled_migrations()[-1].version
    for version, advice in ((latest - 1, "Start the bot once on it"), (latest + 1, "newer")):
        source = tmp_path / f"v{version}.sqlite3"
        with sqlite3.connect(source) as conn:
            conn.execute(f"PRAGMA user_version = {version}")
        # Nothing listens there: the refusal comes before any connection.
        code, out, err = await run_copy(source, f"postgresql://reelbot:hunter2@127.0.0.1:{free_port()}/reelbot")
        assert code == ExitCode.USAGE
        assert f"schema version {version}" in err and advice in err and "Nothing was copied" in err
        assert "hunter2" not in err + out


async def test_a_missing_source_and_a_non_postgresql_target_are_refused(tmp_path: Path) -> None:
    code, _, err = await run_copy(tmp_path / "missing.sqlite3", f"postgresql://127.0.0.1:{free_port()}/reelbot")
    assert code == ExitCode.USAGE and "no such file" in err
    source = tmp_path / "reelbot.sqlite3"
    await populate(source)
    code, _, err = await run_copy(source, "mysql://u:hunter2@127.0.0.1/reelbot")
    assert code == ExitCode.USAGE and "not a PostgreSQL URL" in err and "hunter2" not in err


async def test_an_unreachable_target_is_said_in_plain_words(tmp_path: Path) -> None:
    source = tmp_path / "reelbot.sqlite3"
    await populate(source)
    port = free_port()
    code, _, err = await run_copy(source, f"postgresql://reelbot:hunter2@127.0.0.1:{port}/reelbot")
    assert code == ExitCode.UNREACHABLE
    assert "cannot reach" in err and f"127.0.0.1:{port}" in err and "hunter2" not in err and "Traceback" not in err


def test_big_tables_show_progress_every_ten_thousand_rows_and_small_ones_none() -> None:
    stream = io.StringIO()
    progress = TableProgress(stream)
    for table, total in (("jobs", 25_000), ("meta", 3), ("ledger", 10_000)):
        for done in [*range(0, total, BATCH_ROWS), total]:
            progress(table, done, total)
    assert stream.getvalue().splitlines() == [
        "  jobs: 10,000 of 25,000 rows",
        "  jobs: 20,000 of 25,000 rows",
        "  jobs: 25,000 of 25,000 rows",
        "  ledger: 10,000 of 10,000 rows",
    ]
