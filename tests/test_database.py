"""Database transactions on a real SQLite file: they always end, whatever the caller or SQLite does meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import GenerationRequest, NewJob, Orientation, WireFormat
from bot.front.web import HEALTH_TIMEOUT_SECONDS
from bot.services import lifecycle
from bot.storage import JobStore
from bot.storage.sqlite import BUSY_TIMEOUT_SECONDS, SqliteDatabase


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
