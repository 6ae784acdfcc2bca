"""Database transactions on a real SQLite file and a real PostgreSQL database: they always end, whatever the caller
or the database does meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.domain import GenerationRequest, NewJob, Orientation, WireFormat
from bot.front.web import HEALTH_TIMEOUT_SECONDS
from bot.services import lifecycle
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.database import DuplicateKeyError
from bot.storage.postgres import PostgresDatabase, translate
from bot.storage.sqlite import BUSY_TIMEOUT_SECONDS, SqliteDatabase
from tests.helpers import eventually


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "reelbot.sqlite3"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[JobStore]:
    opened = await JobStore.open(path, lambda: 1_000.0)
    try:
        yield opened
    finally:
        await opened.close()


def a_job() -> NewJob:
    request = GenerationRequest(
        prompt="a heron at dawn", model="sora-2", orientation=Orientation.LANDSCAPE, duration=4, hd=False, images=()
    )
    return NewJob(request=request, origin="discord", requester_id=1, guild_id=2, channel_id=3)


def stored_prompts(path: Path) -> list[str]:
    """What another connection sees committed."""
    with contextlib.closing(sqlite3.connect(path)) as other:
        return [str(row[0]) for row in other.execute("SELECT prompt FROM jobs")]


async def test_a_health_check_cancelled_while_the_database_is_locked_leaves_no_transaction_open(
    store: JobStore, path: Path
) -> None:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        check = asyncio.create_task(store.check_writable())
        for _ in range(3):
            await asyncio.sleep(0)  # let the check reach its BEGIN, which now waits on the lock
        check.cancel()  # what the /healthz timeout does to it
        holder.execute("ROLLBACK")  # the lock is free again while that BEGIN still waits
        with pytest.raises(asyncio.CancelledError):
            await check
    finally:
        holder.close()

    job = await store.add(lifecycle.created(a_job(), WireFormat.OPENAI, 1_000.0, 1_030.0))

    assert await store.get(job.id) is not None
    assert stored_prompts(path) == ["a heron at dawn"]


async def test_a_failed_commit_is_rolled_back(path: Path) -> None:
    db = await SqliteDatabase.open(path)
    try:
        await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        # A deferred foreign key is checked at COMMIT, which then fails and leaves SQLite's transaction open.
        await db.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO child VALUES (1)")

        async with db.transaction() as tx:
            await tx.execute("INSERT INTO parent VALUES (1)")
    finally:
        await db.close()

    with contextlib.closing(sqlite3.connect(path)) as other:
        assert other.execute("SELECT id FROM parent").fetchall() == [(1,)]
        assert other.execute("SELECT COUNT(*) FROM child").fetchone() == (0,)


async def test_a_transaction_cancelled_in_its_body_is_rolled_back(path: Path) -> None:
    db = await SqliteDatabase.open(path)
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        entered = asyncio.Event()

        async def stuck() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(stuck())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.execute("INSERT INTO t VALUES (2)")
    finally:
        await db.close()

    with contextlib.closing(sqlite3.connect(path)) as other:
        assert other.execute("SELECT x FROM t").fetchall() == [(2,)]


async def test_every_commit_is_on_disk_before_the_next_step(path: Path) -> None:
    # A delivery claimed in a commit that a power cut undoes would be posted again, unlooked-for, after restart.
    db = await SqliteDatabase.open(path)
    try:
        assert await db.scalar("PRAGMA synchronous") == 2  # FULL
    finally:
        await db.close()


def test_the_health_check_waits_longer_than_sqlite_does_for_a_lock() -> None:
    # Otherwise a locked database cuts the health check off instead of answering "not writable".
    assert HEALTH_TIMEOUT_SECONDS > BUSY_TIMEOUT_SECONDS


# --- PostgreSQL: a pooled connection never goes back to the pool inside a transaction ----------------------------


async def test_postgresql_statement_cancelled_while_it_waits_leaves_no_transaction_open(pg_url: str) -> None:
    db = await PostgresDatabase.open(pg_url, max_size=1)  # one connection: the next user gets the same one
    other = await asyncpg.connect(pg_url)
    try:
        await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)")
        await db.execute("INSERT INTO t VALUES ('a', 0)")
        await other.execute("BEGIN")
        await other.execute("SELECT v FROM t WHERE k = 'a' FOR UPDATE")  # another process holds the row

        async def update() -> None:
            async with db.transaction() as tx:
                await tx.execute("UPDATE t SET v = 1 WHERE k = ?", ("a",))

        task = asyncio.create_task(update())

        async def waiting() -> bool:
            waits = await other.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return bool(waits)

        await eventually(waiting)
        task.cancel()
        await other.execute("ROLLBACK")  # the lock is free: the cut-off UPDATE ends, and is rolled back
        with pytest.raises(asyncio.CancelledError):
            await task

        await db.execute("UPDATE t SET v = 2 WHERE k = ?", ("a",))  # on its own: committed at once
        assert await other.fetchval("SELECT v FROM t WHERE k = 'a'") == 2
    finally:
        await other.close()
        await db.close()


async def test_postgresql_transaction_cancelled_in_its_body_is_rolled_back(pg_url: str) -> None:
    db = await PostgresDatabase.open(pg_url, max_size=1)
    try:
        await db.execute("CREATE TABLE t (x BIGINT)")
        entered = asyncio.Event()

        async def stuck() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (?)", (1,))
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(stuck())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.execute("INSERT INTO t VALUES (?)", (2,))
        other = await asyncpg.connect(pg_url)
        try:
            assert [row[0] for row in await other.fetch("SELECT x FROM t")] == [2]
        finally:
            await other.close()
    finally:
        await db.close()


async def test_a_duplicate_key_is_the_same_error_on_both_backends(database_location: Path | str) -> None:
    db = await open_database(database_location)
    try:
        await db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", "1"))
        with pytest.raises(DuplicateKeyError) as raised:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", "2"))
        assert raised.value.table == "meta"
        assert await db.scalar("SELECT value FROM meta WHERE key = ?", ("k",)) == "1"
    finally:
        await db.close()


async def test_round_trips_are_counted_per_database(database_location: Path | str) -> None:
    db = await open_database(database_location)
    try:
        before = db.round_trips
        async with db.transaction() as tx:  # BEGIN, two statements, COMMIT
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("a", "1"))
            await tx.scalar("SELECT value FROM meta WHERE key = ?", ("a",))
        await db.fetchall("SELECT key FROM meta")
        assert db.round_trips - before == 5
    finally:
        await db.close()


def test_placeholders_become_numbered_outside_strings_and_casts() -> None:
    assert translate("SELECT '?', x::text FROM t WHERE a = ? AND b = ?") == (
        "SELECT '?', x::text FROM t WHERE a = $1 AND b = $2",
        None,
    )
    assert translate("SELECT :b, ':a' WHERE c = :a OR d = :b") == ("SELECT $1, ':a' WHERE c = $2 OR d = $1", ("b", "a"))


@pytest.mark.parametrize("password", ["Sekrit-5150", "Se%2Fkrit%405150%3Ax%25"])  # the second: Se/krit@5150:x%
async def test_the_start_log_names_the_database_without_its_password(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, password: str
) -> None:
    with_password = pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")  # trust: ignored
    caplog.set_level(logging.INFO, logger="bot.storage.connect")
    for location in (with_password, tmp_path / "s.sqlite3"):
        await (await open_database(location)).close()
    lines = [record.getMessage() for record in caplog.records if record.name == "bot.storage.connect"]
    host, database = pg_url.split("@", 1)[1].split("/", 1)
    assert lines == [
        f"Database: PostgreSQL at postgresql://postgres:***@{host}/{database}",
        f"Database: SQLite at {tmp_path / 's.sqlite3'}",
    ]
    assert "5150" not in caplog.text
