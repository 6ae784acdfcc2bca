"""SQLite: one connection the stores share, behind a lock."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import aiosqlite

from bot.storage.database import Database, Dialect, DuplicateKeyError, Params, RoundTrips, Row, Session, to_the_end
from bot.storage.migrate import migrate

# How long a statement waits for another connection's write lock before failing with "database is locked".
BUSY_TIMEOUT_SECONDS: Final = 5.0

_UNIQUE = re.compile(r"UNIQUE constraint failed: (\w+)\.")


class SqliteSession(Session):
    """Statements on the connection."""

    def __init__(self, conn: aiosqlite.Connection, trips: RoundTrips) -> None:
        super().__init__(trips)
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        self._trips.count += 1
        try:
            async with self._conn.execute(sql, params) as cursor:
                return cursor.rowcount
        except sqlite3.IntegrityError as exc:
            raise _duplicate(exc) from exc

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._trips.count += 1
        try:
            return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.IntegrityError as exc:
            raise _duplicate(exc) from exc


def _duplicate(exc: sqlite3.IntegrityError) -> Exception:
    match = _UNIQUE.search(str(exc))
    return DuplicateKeyError(match.group(1), str(exc)) if match else exc


class SqliteDatabase(Database):
    """Owns the connection. Every use takes a lock: coroutines share the connection, and a statement run while
    another coroutine's transaction is open would silently join it (and be rolled back with it)."""

    dialect = Dialect.SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__()
        self._conn = conn
        self._session = SqliteSession(conn, self._trips)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
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
        await self._conn.close()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self._lock:
            yield self._session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """BEGIN IMMEDIATE takes the write lock at once; BEGIN, COMMIT and ROLLBACK run to their end even when the
        caller is cancelled meanwhile (a cut-off health check), and anything that goes wrong is rolled back."""
        async with self._lock:
            try:
                self._trips.count += 1
                await to_the_end(self._conn.execute("BEGIN IMMEDIATE"))
                yield self._session
                self._trips.count += 1
                await to_the_end(self._conn.commit())
            except BaseException:
                await to_the_end(self._conn.rollback())  # a no-op when BEGIN itself failed
                raise
