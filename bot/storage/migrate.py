"""Forward-only numbered migrations: SQLite's in migrations/, tracked with PRAGMA user_version; PostgreSQL's, under
the same names in migrations/postgresql/, tracked in the schema_migrations table."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from typing import Final

import aiosqlite
import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# The key of the session advisory lock a PostgreSQL migration is applied under: one process at a time.
MIGRATION_LOCK_KEY: Final = 0x5265656C626F74  # "Reelbot"

_CREATE_VERSIONS: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)
_CURRENT_VERSION: Final = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
_RECORD_VERSION: Final = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"

# A PostgreSQL connection, on its own or lent by a pool.
PgConnection = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL script."""

    version: int
    name: str
    sql: str


def bundled_migrations(dialect: str = "sqlite") -> tuple[Migration, ...]:
    """The migrations shipped in the package for ``dialect`` (sqlite or postgresql), in order; numbering must have
    no gaps."""
    folder = resources.files("bot.storage").joinpath("migrations")
    if dialect == "postgresql":
        folder = folder.joinpath("postgresql")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {migration.name} breaks the numbering: expected {expected:04d}")
    return tuple(found)


async def migrate(db: aiosqlite.Connection, migrations: tuple[Migration, ...] | None = None) -> int:
    """Apply every migration newer than the database, each in its own transaction; return the new version."""
    todo = bundled_migrations() if migrations is None else migrations
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    _check_not_newer(current, todo)
    for migration in todo:
        if migration.version <= current:
            continue
        log.info("Applying database migration %s", migration.name)
        # executescript would commit on its own; run the statements inside one explicit transaction instead.
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {migration.version:d}")
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        current = migration.version
    return current


async def migrate_postgresql(conn: PgConnection, migrations: tuple[Migration, ...] | None = None) -> int:
    """Apply every migration newer than the database, each in its own transaction, under an advisory lock (so
    processes starting together apply each once); return the new version."""
    todo = bundled_migrations("postgresql") if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_VERSIONS)
        current = int(await conn.fetchval(_CURRENT_VERSION))
        _check_not_newer(current, todo)
        for migration in todo:
            if migration.version <= current:
                continue
            log.info("Applying database migration %s", migration.name)
            async with conn.transaction():
                await conn.execute(migration.sql)  # the whole script, in one simple-protocol message
                await conn.execute(_RECORD_VERSION, migration.version, migration.name, time.time())
            current = migration.version
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return current


def _check_not_newer(current: int, todo: tuple[Migration, ...]) -> None:
    latest = todo[-1].version if todo else 0
    if current > latest:
        raise RuntimeError(
            f"the database is at schema version {current}, newer than this release knows ({latest}); "
            "run a newer Reelbot or restore a matching backup"
        )


def _statements(script: str) -> list[str]:
    """Split a script into statements the way SQLite reads them (semicolons in strings stay put)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if any(line.strip() and not line.strip().startswith("--") for line in pending.splitlines()):
        raise RuntimeError(f"migration ends with an unfinished statement: {pending.strip()[:80]!r}")
    return statements
