"""Forward-only numbered migrations, tracked with PRAGMA user_version."""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

import aiosqlite

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL script."""

    version: int
    name: str
    sql: str


def bundled_migrations() -> tuple[Migration, ...]:
    """The migrations shipped in the package, in order; numbering must have no gaps."""
    folder = resources.files("bot.storage").joinpath("migrations")
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
    latest = todo[-1].version if todo else 0
    if current > latest:
        raise RuntimeError(
            f"the database is at schema version {current}, newer than this release knows ({latest}); "
            "run a newer Reelbot or restore a matching backup"
        )
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
