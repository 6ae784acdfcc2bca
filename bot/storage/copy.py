"""Copying a whole SQLite database into an empty PostgreSQL one (`python -m bot db copy`).

The source is read in one read transaction (a consistent picture even if something else has it open) and never
written. The target must be migrated already (by the normal open path); every table is copied, ids included, in one
transaction that also locks the tables, so the copy lands whole or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiosqlite
import asyncpg

from bot.dburl import redacted
from bot.errors import DatabaseCopyError, DatabaseUnavailableError, ExitCode
from bot.storage.connect import describe
from bot.storage.database import Database, Session
from bot.storage.migrate import bundled_migrations
from bot.storage.postgres import PostgresDatabase

ROWID: Final = "rowid"

# Rows per INSERT: well under PostgreSQL's 65,535 parameters a statement for the widest table (jobs, ~50 columns).
BATCH_ROWS: Final = 500

_SOURCE_TABLES: Final = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
_SOURCE_SEQUENCES: Final = "SELECT name, seq FROM sqlite_sequence"
_HAS_SEQUENCES: Final = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
_TARGET_COLUMNS: Final = (
    "SELECT table_name, column_name, data_type, is_identity = 'YES' OR column_default LIKE 'nextval(%' "
    "FROM information_schema.columns WHERE table_schema = current_schema()"
)
_SET_SEQUENCE: Final = "SELECT setval(pg_get_serial_sequence(?, ?), ?)"

Progress = Callable[[str, int, int], None]
"""Told (table, rows copied so far, rows in the table) after each batch."""


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    data_type: str
    numbered: bool  # filled from a sequence (an identity or serial column) when no value is given


@dataclass(frozen=True, slots=True)
class CopiedTable:
    """How many rows of one table were copied."""

    name: str
    rows: int


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteSource:
    """An SQLite database at this release's schema version, open read-only in one read transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def tables(self) -> list[str]:
        """Every table the migrations made, by name."""
        return [str(row[0]) for row in await self._conn.execute_fetchall(_SOURCE_TABLES)]

    async def sequences(self) -> dict[str, int]:
        """The last id SQLite handed out in each AUTOINCREMENT table (deleted rows' ids included)."""
        if await _scalar(self._conn, _HAS_SEQUENCES) != 1:
            return {}
        return {str(row[0]): int(row[1]) for row in await self._conn.execute_fetchall(_SOURCE_SEQUENCES)}

    async def count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        return int(await _scalar(self._conn, f"SELECT count(*) FROM {_quoted(table)}"))  # noqa: S608  # a name from sqlite_master, quoted

    async def columns(self, table: str) -> list[str]:
        """The columns of ``table``, in order (not SQLite's implicit rowid)."""
        return [str(row[1]) for row in await self._conn.execute_fetchall(f"PRAGMA table_info({_quoted(table)})")]

    async def batches(self, table: str, columns: Sequence[str]) -> AsyncIterator[list[sqlite3.Row]]:
        """The rows of ``table``, BATCH_ROWS at a time, in rowid order; ``columns`` may name the rowid."""
        names = ", ".join(map(_quoted, columns))
        async with self._conn.execute(f"SELECT {names} FROM {_quoted(table)} ORDER BY rowid") as cursor:  # noqa: S608  # names from the schema, quoted
            while batch := await cursor.fetchmany(BATCH_ROWS):
                yield list(batch)


@asynccontextmanager
async def open_sqlite_source(path: Path) -> AsyncIterator[SqliteSource]:
    """Open ``path`` read-only; raise DatabaseCopyError if it is missing, not SQLite, or at another schema version."""
    conn = await _open_source(path)
    try:
        await conn.execute("BEGIN")  # one snapshot for every table read from here on
        yield SqliteSource(conn)
    finally:
        await conn.close()


async def open_target(url: str) -> Database:
    """Open the PostgreSQL database at ``url`` through the normal open path (which brings its schema up to date);
    raise DatabaseCopyError, with nothing copied, when it cannot be reached or used."""
    where = describe(url)
    try:
        return await PostgresDatabase.open(url, max_size=1)
    except DatabaseUnavailableError as exc:
        raise _unusable(url, exc.__cause__) from exc  # the driver's own error says which way it failed
    except (asyncpg.PostgresError, RuntimeError) as exc:  # RuntimeError: a schema newer than this release
        said = redacted(str(exc), url)
        raise DatabaseCopyError(f"--to: {where}: {said}. Nothing was copied.", ExitCode.USAGE) from exc


def _unusable(url: str, cause: BaseException | None) -> DatabaseCopyError:
    """Why the target could not be connected to, in words (never its password), with the exit code that fits."""
    where = describe(url)
    said = redacted(str(cause), url)
    if isinstance(cause, asyncpg.InvalidCatalogNameError):
        return DatabaseCopyError(
            f"--to: {where} does not exist ({said}). Nothing was copied. Create it first (createdb).", ExitCode.USAGE
        )
    if isinstance(cause, (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError)):
        return DatabaseCopyError(
            f"--to: {where} refused the user or password ({said}). Nothing was copied.", ExitCode.USAGE
        )
    if isinstance(cause, asyncpg.PostgresError):
        return DatabaseCopyError(f"--to: {where}: {said}. Nothing was copied.", ExitCode.USAGE)
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else (said or type(cause).__name__)
    return DatabaseCopyError(
        f"--to: cannot reach {where} ({redacted(reason, url)}). Nothing was copied. Check that the server runs and "
        "that the URL names its host and port.",
        ExitCode.UNREACHABLE,
    )


async def copy_into(source: SqliteSource, target: Database, progress: Progress) -> list[CopiedTable]:
    """Copy every table of ``source`` into ``target`` (migrated, and holding no rows yet), ids included.

    Raises DatabaseCopyError, with nothing copied, when the target already holds data or a row cannot be stored.
    """
    tables = await source.tables()
    sequences = await source.sequences()
    async with target.transaction() as tx:
        columns = await _target_columns(tx, tables)
        # Nothing else writes these tables until the copy commits: a bot started on the target meanwhile waits.
        await tx.execute(f"LOCK TABLE {', '.join(map(_quoted, tables))} IN EXCLUSIVE MODE")
        await _refuse_data(tx, tables)
        copied = []
        for table in tables:
            rows = await _copy_table(source, tx, table, columns[table], progress)
            await _reset_sequences(tx, table, columns[table], sequences.get(table, 0))
            copied.append(CopiedTable(table, rows))
    return copied


def _read_only_uri(source: Path) -> str:
    if not source.is_file():
        raise DatabaseCopyError(
            f"--from {source}: no such file. Give the path of the bot's SQLite database (DATABASE_PATH).",
            ExitCode.USAGE,
        )
    return f"{source.resolve().as_uri()}?mode=ro"


async def _open_source(source: Path) -> aiosqlite.Connection:
    uri = _read_only_uri(source)
    try:
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseCopyError(f"--from {source}: cannot open it: {exc}.", ExitCode.USAGE) from exc
    try:
        version = int(await _scalar(conn, "PRAGMA user_version"))
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise DatabaseCopyError(f"--from {source}: not an SQLite database ({exc}).", ExitCode.USAGE) from exc
    latest = bundled_migrations()[-1].version
    if version != latest:
        await conn.close()
        when = "an older" if version < latest else "a newer"
        advice = (
            "Start the bot once on it with this release (that upgrades it), stop it, then copy again."
            if version < latest
            else "Copy it with the release that upgraded it, or restore a backup from before that upgrade."
        )
        raise DatabaseCopyError(
            f"--from {source}: the database is at schema version {version}, {when} one than this release's "
            f"({latest}). Nothing was copied. {advice}",
            ExitCode.USAGE,
        )
    return conn


async def _scalar(conn: aiosqlite.Connection, sql: str) -> Any:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    return row[0] if row is not None else None


async def _target_columns(tx: Session, tables: Sequence[str]) -> dict[str, dict[str, _Column]]:
    found: dict[str, dict[str, _Column]] = {}
    for row in await tx.fetchall(_TARGET_COLUMNS):
        found.setdefault(str(row[0]), {})[str(row[1])] = _Column(str(row[1]), str(row[2]), bool(row[3]))
    missing = [table for table in tables if table not in found]
    if missing:
        raise DatabaseCopyError(
            f"The target has no table {', '.join(missing)}: it was not made by this release's migrations. "
            "Nothing was copied. Point --to at an empty database that only this release has opened.",
            ExitCode.USAGE,
        )
    return found


async def _refuse_data(tx: Session, tables: Sequence[str]) -> None:
    filled = [table for table in tables if await tx.scalar(f"SELECT EXISTS (SELECT 1 FROM {_quoted(table)})")]  # noqa: S608  # names from the source's own schema, quoted
    if filled:
        raise DatabaseCopyError(
            f"The target database is not empty: {', '.join(filled)} already hold rows. Nothing was copied. "
            "Copy into a new, empty database (createdb), or drop this one first if it holds nothing you need.",
            ExitCode.USAGE,
        )


async def _copy_table(
    source: SqliteSource, tx: Session, table: str, target: dict[str, _Column], progress: Progress
) -> int:
    names = await source.columns(table)
    unknown = [name for name in names if name not in target]
    if unknown:
        raise DatabaseCopyError(
            f"The target's table {table} has no column {', '.join(unknown)}: its schema differs from the source's. "
            "Nothing was copied. Point --to at an empty database that only this release has opened.",
            ExitCode.USAGE,
        )
    if ROWID in target and ROWID not in names:
        names.append(ROWID)  # kept as a column where PostgreSQL needs SQLite's insertion order (jobs)
    kinds = [target[name].data_type for name in names]
    row_sql = "(" + ", ".join("?" for _ in names) + ")"
    insert = f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, names))}) VALUES "  # noqa: S608  # quoted names
    total = await source.count(table)
    done = 0
    progress(table, done, total)
    async for batch in source.batches(table, names):
        params: list[Any] = []
        for offset, row in enumerate(batch):
            params.extend(_value(table, done + offset + 1, names[i], kinds[i], value) for i, value in enumerate(row))
        try:
            await tx.execute(insert + ", ".join(row_sql for _ in batch), tuple(params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseCopyError(
                f"Rows {done + 1} to {done + len(batch)} of {table} could not be stored: {exc}. Nothing was copied. "
                "Fix or delete the row in the SQLite database, then copy again.",
                ExitCode.ERROR,
            ) from exc
        done += len(batch)
        progress(table, done, total)
    return done


def _value(table: str, number: int, column: str, data_type: str, value: Any) -> Any:
    """A source value as the target column takes it: SQLite keeps flags as integers and may keep an integer in a
    REAL column; PostgreSQL's driver wants booleans and floats there."""
    if value is None:
        return None
    try:
        if data_type == "boolean":
            return bool(int(value))
        if data_type in ("double precision", "real"):
            return float(value)
    except (TypeError, ValueError) as exc:
        raise DatabaseCopyError(
            f"Row {number} of {table} cannot be copied: {column} holds {value!r}, not a {data_type}. Nothing was "
            "copied. Fix or delete that row in the SQLite database, then copy again.",
            ExitCode.ERROR,
        ) from exc
    return value


async def _reset_sequences(tx: Session, table: str, columns: dict[str, _Column], used: int) -> None:
    """Point each numbered column's sequence past the copied ids (and past ids SQLite handed out and deleted), so
    the next row gets an id neither database has used."""
    for column in columns.values():
        if not column.numbered:
            continue
        highest = await tx.scalar(f"SELECT max({_quoted(column.name)}) FROM {_quoted(table)}")  # noqa: S608  # names from information_schema, quoted
        last = max(int(highest or 0), used)
        if last > 0:
            await tx.fetchall(_SET_SEQUENCE, (table, column.name, last))
