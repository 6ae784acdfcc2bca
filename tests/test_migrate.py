"""migrate(): forward-only numbered migrations tracked with PRAGMA user_version, each applied atomically."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from bot.domain import ErrorKind
from bot.storage import JobStore
from bot.storage.job_rows import COLUMNS
from bot.storage.migrate import Migration, bundled_migrations, migrate

FIRST = Migration(
    1, "0001_first.sql", "CREATE TABLE a (x INTEGER);\n-- a comment; with a semicolon\nINSERT INTO a VALUES (1);"
)
SECOND = Migration(2, "0002_second.sql", "CREATE TABLE b (y TEXT);\nINSERT INTO b VALUES ('two');")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    conn = await aiosqlite.connect(tmp_path / "m.sqlite3", isolation_level=None)
    try:
        yield conn
    finally:
        await conn.close()


async def version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def tables(db: aiosqlite.Connection) -> set[str]:
    async with db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
        return {row[0] for row in await cursor.fetchall()}


def test_bundled_migrations_are_numbered_from_one() -> None:
    found = bundled_migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "0001_create_jobs.sql"
    assert "CREATE TABLE jobs" in found[0].sql


async def test_bundled_migrations_create_the_jobs_table(db: aiosqlite.Connection) -> None:
    assert await migrate(db) == len(bundled_migrations())
    assert "jobs" in await tables(db)
    assert await version(db) == len(bundled_migrations())


async def test_applies_in_order_and_is_idempotent(db: aiosqlite.Connection) -> None:
    assert await migrate(db, (FIRST,)) == 1
    assert await migrate(db, (FIRST, SECOND)) == 2
    assert await migrate(db, (FIRST, SECOND)) == 2
    assert await tables(db) == {"a", "b"}
    async with db.execute("SELECT COUNT(*) FROM a") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] == 1  # the first migration ran once


async def test_empty_list_on_a_new_database(db: aiosqlite.Connection) -> None:
    assert await migrate(db, ()) == 0


async def test_refuses_a_newer_database(db: aiosqlite.Connection) -> None:
    await db.execute("PRAGMA user_version = 5")
    with pytest.raises(RuntimeError, match="newer than this release knows"):
        await migrate(db, (FIRST, SECOND))
    assert await tables(db) == set()


async def test_store_refuses_a_newer_database(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(bundled_migrations()) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await JobStore.open(path, lambda: 0.0)


async def test_a_failing_migration_rolls_back(db: aiosqlite.Connection) -> None:
    broken = Migration(2, "0002_broken.sql", "CREATE TABLE b (y TEXT);\nINSERT INTO no_such_table VALUES (1);")
    with pytest.raises(sqlite3.OperationalError):
        await migrate(db, (FIRST, broken))
    assert await version(db) == 1
    assert await tables(db) == {"a"}
    assert not db.in_transaction
    # A fixed release applies the migration cleanly afterwards.
    assert await migrate(db, (FIRST, SECOND)) == 2
    assert await tables(db) == {"a", "b"}


async def test_a_failure_in_the_first_migration_leaves_nothing(db: aiosqlite.Connection) -> None:
    broken = Migration(1, "0001_broken.sql", "CREATE TABLE a (x INTEGER);\nTHIS IS NOT SQL;")
    with pytest.raises(sqlite3.OperationalError):
        await migrate(db, (broken,))
    assert await version(db) == 0
    assert await tables(db) == set()


async def test_string_literals_with_semicolons_and_dashes(db: aiosqlite.Connection) -> None:
    literal = Migration(1, "0001_literal.sql", "CREATE TABLE n (t TEXT);\nINSERT INTO n VALUES ('a; b -- c');")
    assert await migrate(db, (literal,)) == 1
    async with db.execute("SELECT t FROM n") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] == "a; b -- c"


# Rows as release 7 stored them, where ``attempts`` and ``error_kind`` each meant two things.
_OLD_ROWS = [
    # id, status, attempts, error_kind, error_message
    ("outage01", "running", 2, "unavailable", None),  # two failed polls in a row
    ("lostask1", "queued", 1, "lost", None),  # one "no such task" answer
    ("download", "running", 3, "bad_result", None),  # three failed fetches of the finished result
    ("calmjob1", "running", 0, None, None),
    ("failed01", "failed", 3, "bad_result", "cut short"),
    ("timedout", "failed", 2, "timed_out", "too long"),
    ("success1", "succeeded", 0, None, None),
]


async def test_0008_splits_attempts_and_error_kind_of_old_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn, bundled_migrations()[:7]) == 7
        for job_id, status, attempts, kind, message in _OLD_ROWS:
            await conn.execute(
                "INSERT INTO jobs (id, origin, prompt, model, wire_format, orientation, duration, status, created_at, "
                "updated_at, attempts, error_kind, error_message) "
                "VALUES (?, 'discord', 'p', 'sora-2', 'openai', 'landscape', 4, ?, 1.0, 1.0, ?, ?, ?)",
                (job_id, status, attempts, kind, message),
            )
    store = await JobStore.open(path, lambda: 0.0)
    try:
        jobs = {job_id: await store.get(job_id) for job_id, *_ in _OLD_ROWS}
    finally:
        await store.close()
    split = {
        job_id: (job.poll_errors, job.poll_error_kind, job.download_attempts, job.error_kind, job.error_message)
        for job_id, job in jobs.items()
        if job is not None
    }
    assert split == {
        "outage01": (2, ErrorKind.UNAVAILABLE, 0, None, None),
        "lostask1": (1, ErrorKind.LOST, 0, None, None),
        "download": (0, None, 3, None, None),
        "calmjob1": (0, None, 0, None, None),
        "failed01": (0, None, 3, ErrorKind.BAD_RESULT, "cut short"),
        "timedout": (2, None, 0, ErrorKind.TIMED_OUT, "too long"),
        "success1": (0, None, 0, None, None),
    }


async def test_the_jobs_table_has_exactly_the_job_fields(db: aiosqlite.Connection) -> None:
    await migrate(db)
    async with db.execute("PRAGMA table_info(jobs)") as cursor:
        columns = {row[1] for row in await cursor.fetchall()}
    assert columns == set(COLUMNS)


async def test_processes_migrating_one_file_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")  # another process writes while both read the schema version
    loop = asyncio.get_running_loop()
    begun = asyncio.Semaphore(0)

    def traced(statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            loop.call_soon_threadsafe(begun.release)

    conns = [await aiosqlite.connect(path, isolation_level=None) for _ in range(2)]
    try:
        for conn in conns:
            await conn.execute("PRAGMA busy_timeout = 30000")
            await conn.set_trace_callback(traced)
        runs = [asyncio.create_task(migrate(conn, (FIRST, SECOND))) for conn in conns]
        for _ in conns:  # both read version 0 and now wait for the write lock
            await asyncio.wait_for(begun.acquire(), timeout=10)
        holder.execute("ROLLBACK")
        assert await asyncio.gather(*runs) == [2, 2]
        async with conns[0].execute("SELECT x FROM a") as cursor:
            assert [tuple(row) for row in await cursor.fetchall()] == [(1,)]  # the first migration ran once
    finally:
        holder.close()
        for conn in conns:
            await conn.close()
