"""Database: what the stores see of SQLite or PostgreSQL, and transactions that keep to themselves.

Statements are written once, with ``?`` (or ``:name``) placeholders; each backend runs them its own way. Where the
two dialects truly differ, the queries modules keep both variants side by side, picked by ``Database.dialect``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import Any, Protocol, TypeVar

Params = tuple[Any, ...] | Mapping[str, Any]
_T = TypeVar("_T")


class Dialect(StrEnum):
    """The SQL a Database speaks."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Row(Protocol):
    """A result row, read by position (or by column name)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __len__(self) -> int: ...


class DuplicateKeyError(Exception):
    """A statement would have stored a second row under a unique key of ``table``."""

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(detail)
        self.table = table


class RoundTrips:
    """How many statements a Database has sent (BEGIN and COMMIT included): each is one trip to the database."""

    def __init__(self) -> None:
        self.count = 0


class Session(ABC):
    """Statements on one connection; inside a transaction, every statement belongs to it."""

    def __init__(self, trips: RoundTrips) -> None:
        self._trips = trips

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query (or of an UPDATE ... RETURNING), in one trip to the database."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetchone(sql, params)
        return row[0] if row is not None else None


class Database(ABC):
    """One database the stores share: single statements (``session``) and transactions (``transaction``)."""

    dialect: Dialect

    def __init__(self) -> None:
        self._trips = RoundTrips()

    @property
    def round_trips(self) -> int:
        """Statements sent so far (for benchmarks: round trips per job)."""
        return self._trips.count

    @abstractmethod
    async def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    def session(self) -> AbstractAsyncContextManager[Session]:
        """Single statements, each committed on its own."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """All statements inside commit together, or none do; the transaction always ends before the connection
        goes to its next user, even when the caller is cancelled meanwhile or something fails (COMMIT included)."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement on its own."""
        async with self.session() as db:
            return await db.execute(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        async with self.session() as db:
            return await db.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        async with self.session() as db:
            return await db.fetchall(sql, params)

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        async with self.session() as db:
            return await db.scalar(sql, params)


async def to_the_end(work: Awaitable[_T]) -> _T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile, then pass the cancellation on.

    A statement goes on in the driver (aiosqlite's thread, the PostgreSQL server) whatever happens here; abandoning
    it would let it finish (a BEGIN taking the lock after all) after the connection had been handed to someone else.
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
