"""Which database to open: PostgreSQL when a URL is given, SQLite at a path otherwise."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from bot.storage.database import Database
from bot.storage.postgres import PostgresDatabase
from bot.storage.sqlite import SqliteDatabase

log = logging.getLogger(__name__)


def describe(location: Path | str) -> str:
    """The database, said for a log line: a URL without its password (or user), a path as it is."""
    if isinstance(location, Path):
        return f"SQLite at {location}"
    parts = urlsplit(location)
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL at {parts.hostname}{port}{parts.path}"


async def open_database(location: Path | str) -> Database:
    """Open the database at ``location`` (a postgresql:// URL, or a SQLite file's path) with its schema up to date.

    The engine passes DATABASE_URL when it is set, DATABASE_PATH otherwise.
    """
    log.info("Database: %s", describe(location))
    if isinstance(location, Path):
        return await SqliteDatabase.open(location)
    return await PostgresDatabase.open(location)
