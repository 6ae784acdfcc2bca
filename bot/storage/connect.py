"""Which database to open: PostgreSQL when a URL is given, SQLite at a path otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.dburl import shown
from bot.storage.database import Database
from bot.storage.postgres import PostgresDatabase
from bot.storage.sqlite import SqliteDatabase

log = logging.getLogger(__name__)


def describe(location: Path | str) -> str:
    """The database, said for a log line: a URL without its password, a path as it is."""
    if isinstance(location, Path):
        return f"SQLite at {location}"
    return f"PostgreSQL at {shown(location)}"


async def open_database(location: Path | str) -> Database:
    """Open the database at ``location`` (a postgresql:// URL, or a SQLite file's path) with its schema up to date.

    The engine passes DATABASE_URL when it is set, DATABASE_PATH otherwise.
    """
    log.info("Database: %s", describe(location))
    if isinstance(location, Path):
        return await SqliteDatabase.open(location)
    return await PostgresDatabase.open(location)
