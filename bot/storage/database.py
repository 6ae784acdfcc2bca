"""Database: the one SQLite connection the stores share, and transactions that keep to themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from bot.storage.migrate import migrate

Params = tuple[Any, ...] | Mapping[str, Any]
_T = TypeVar("_T")

# How long a statement waits for another connection's write lock before failing with "database is locked".
BUSY_TIMEOUT_SECONDS: Final = 5.0


class Session:
    """Statements on the connection; inside a transaction, every statement belongs to it."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """The first row of a query, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """Every row of a query (or of an UPDATE ... RETURNING), in one trip to the database thread."""
        return list(await self._conn.execute_fetchall(sql, params))

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetchone(sql, params)
        return row[0] if row is not None else None


class Database:
    """Owns the connection. Every use takes a lock: coroutines share the connection, and a statement run while
    another coroutine's transaction is open would silently join it (and be rolled back with it)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._session = Session(conn)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode = WAL")
            # Every commit is on disk before the bot acts on it: a delivery claim undone by a power cut after its
            # post went out would be posted again without looking first. (In WAL mode, one fsync per commit.)
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await migrate(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """Single statements, each committed on its own."""
        async with self._lock:
            yield self._session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """All statements inside commit together, or none do (BEGIN IMMEDIATE takes the write lock at once).

        The transaction always ends before the next user gets the connection: BEGIN, COMMIT and ROLLBACK run to
        their end even when the caller is cancelled meanwhile (a cut-off health check), and anything that goes
        wrong, a failed COMMIT included, is rolled back.
        """
        async with self._lock:
            try:
                await _to_the_end(self._conn.execute("BEGIN IMMEDIATE"))
                yield self._session
                await _to_the_end(self._conn.commit())
            except BaseException:
                await _to_the_end(self._conn.rollback())  # a no-op when BEGIN itself failed
                raise

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement on its own."""
        async with self.session() as db:
            return await db.execute(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """The first row of a query, or None."""
        async with self.session() as db:
            return await db.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """Every row of a query."""
        async with self.session() as db:
            return await db.fetchall(sql, params)

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        async with self.session() as db:
            return await db.scalar(sql, params)


async def _to_the_end(work: Awaitable[_T]) -> _T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile, then pass the cancellation on.

    The statement runs in aiosqlite's thread whatever happens here; abandoning it would let it finish (a BEGIN
    taking the lock after all) after the connection had been handed to someone else.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # retrieved: the caller's cancellation is what goes on
        raise asyncio.CancelledError
    return task.result()
