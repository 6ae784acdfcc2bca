"""PostgreSQL: a pool of connections that several processes share a database through."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg

from bot import dburl
from bot.errors import DatabaseUnavailableError
from bot.storage.database import Database, Dialect, DuplicateKeyError, Params, RoundTrips, Row, Session, to_the_end
from bot.storage.migrate import PgConnection, migrate_postgresql

POOL_MIN: Final = 1
POOL_MAX: Final = 10

# A placeholder outside quotes and comments: ?, or :name (not the :: of a cast).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::|\?|:([A-Za-z_]\w*)")


@functools.cache
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """A statement with ``?`` or ``:name`` placeholders in PostgreSQL's ``$1..$n``, and the names in their
    numbered order (None for positional placeholders). Each statement is translated once."""
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        found = match.group(0)
        if found == "?":
            positional += 1
            return f"${positional}"
        name = match.group(1)
        if name is None:
            return found  # a string, a quoted name, a comment or a cast: as it is
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    translated = _TOKENS.sub(number, sql)
    if positional and names:
        raise ValueError(f"a statement mixes ? and :name placeholders: {sql[:80]!r}")
    return translated, tuple(names) if names else None


def _arguments(sql: str, params: Params) -> tuple[str, tuple[Any, ...]]:
    statement, names = translate(sql)
    if isinstance(params, Mapping):
        if names is None:
            raise ValueError(f"named parameters for a statement without :names: {sql[:80]!r}")
        return statement, tuple(params[name] for name in names)
    return statement, tuple(params)


def _changed(status: str) -> int:
    """The row count of a command tag such as 'UPDATE 3' or 'INSERT 0 1' (0 for one without a count)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresSession(Session):
    """Statements on one pooled connection; each runs to its end even when its caller is cancelled."""

    def __init__(self, conn: PgConnection, trips: RoundTrips) -> None:
        super().__init__(trips)
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        statement, args = _arguments(sql, params)
        self._trips.count += 1
        try:
            return _changed(await to_the_end(self._conn.execute(statement, *args)))
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateKeyError(exc.table_name or "", str(exc)) from exc

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        statement, args = _arguments(sql, params)
        self._trips.count += 1
        try:
            return list(await to_the_end(self._conn.fetch(statement, *args)))
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateKeyError(exc.table_name or "", str(exc)) from exc

    def abandon(self) -> None:
        """Close the connection at once (the pool opens another in its place)."""
        self._conn.terminate()

    async def command(self, sql: str) -> None:
        """A statement with no parameters and no rows (BEGIN, COMMIT, ROLLBACK)."""
        self._trips.count += 1
        await to_the_end(self._conn.execute(sql))


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool through: the transactions here always end before, so asyncpg's
    default (a RESET ALL and more: one more round trip per use) is not needed; the check stays, for safety."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PostgresDatabase(Database):
    """A connection pool; every session and transaction has a connection of its own for as long as it lasts."""

    dialect = Dialect.POSTGRESQL

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__()
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = POOL_MAX) -> PostgresDatabase:
        """Connect to the database at ``url`` and bring its schema up to date (one process at a time)."""
        try:
            pool = await asyncpg.create_pool(url, min_size=min(POOL_MIN, max_size), max_size=max_size, reset=_reset)
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # ValueError: the URL
            raise DatabaseUnavailableError(
                f"Cannot connect to the PostgreSQL database at {dburl.shown(url)} ({dburl.redacted(str(exc), url)}): "
                "check DATABASE_URL, that the "
                "server is running and reachable from here, and that it accepts this user and password."
            ) from exc
        try:
            async with pool.acquire() as conn:
                await migrate_postgresql(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PostgresSession]:
        conn = await self._pool.acquire()  # asyncpg gives the connection back itself when cancelled here
        try:
            yield PostgresSession(conn, self._trips)
        finally:
            await to_the_end(self._pool.release(conn))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self._connection() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """A failed ROLLBACK (the connection broke) closes the connection: the pool never hands out one still in
        a transaction."""
        async with self._connection() as session:
            try:
                await session.command("BEGIN")
                yield session
                await session.command("COMMIT")
            except BaseException:
                try:
                    await session.command("ROLLBACK")
                except Exception:
                    session.abandon()
                raise
