"""PostgreSQL migrations: the same scripts as SQLite's, under the same names, to the same schema; applied once,
each atomically, by one process at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from bot.storage.job_rows import COLUMNS
from bot.storage.migrate import Migration, bundled_migrations, migrate, migrate_postgresql
from bot.storage.postgres import PostgresDatabase

FIRST = Migration(
    1, "0001_first.sql", "CREATE TABLE a (x BIGINT);\n-- a comment; with a semicolon\nINSERT INTO a VALUES (1);"
)
SECOND = Migration(2, "0002_second.sql", "CREATE TABLE b (y TEXT);\nINSERT INTO b VALUES ('two; -- three');")

# Not part of the schema the two dialects share: PostgreSQL's version table, and the column standing for SQLite's
# implicit rowid.
PG_ONLY = {"schema_migrations": {"version", "name", "applied_at"}, "jobs": {"rowid"}}


async def pg_schema(url: str) -> dict[str, dict[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    schema: dict[str, dict[str, str]] = {}
    for row in rows:
        schema.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return schema


async def sqlite_schema(path: Path) -> dict[str, set[str]]:
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn)
        names = [row[0] for row in await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: {row[1] for row in await conn.execute_fetchall(f"PRAGMA table_info({name})")}
            for name in names
            if not name.startswith("sqlite_")
        }


async def version(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
    finally:
        await conn.close()


def test_both_dialects_ship_the_same_migrations() -> None:
    sqlite = [m.name for m in bundled_migrations("sqlite")]
    postgresql = [m.name for m in bundled_migrations("postgresql")]
    assert sqlite == postgresql
    assert sqlite[-1] == "0009_lease_holder.sql"


async def test_the_final_schemas_have_the_same_tables_and_columns(pg_url: str, tmp_path: Path) -> None:
    await (await PostgresDatabase.open(pg_url)).close()
    postgresql = await pg_schema(pg_url)
    shared = {
        table: set(columns) - PG_ONLY.get(table, set())
        for table, columns in postgresql.items()
        if table != "schema_migrations"
    }
    assert shared == await sqlite_schema(tmp_path / "s.sqlite3")
    assert set(postgresql["jobs"]) - PG_ONLY["jobs"] == set(COLUMNS)


async def test_no_column_is_a_4_byte_number(pg_url: str) -> None:
    # Discord ids do not fit an INTEGER, and REAL would round unix times to minutes.
    await (await PostgresDatabase.open(pg_url)).close()
    narrow = [
        (table, column)
        for table, columns in (await pg_schema(pg_url)).items()
        for column, kind in columns.items()
        if kind in ("integer", "real", "smallint")
    ]
    assert narrow == []


async def test_applies_in_order_once(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        assert await migrate_postgresql(conn, (FIRST,)) == 1
        assert await migrate_postgresql(conn, (FIRST, SECOND)) == 2
        assert await migrate_postgresql(conn, (FIRST, SECOND)) == 2
        assert await conn.fetchval("SELECT COUNT(*) FROM a") == 1
        assert await conn.fetchval("SELECT y FROM b") == "two; -- three"
    finally:
        await conn.close()


async def test_a_failing_migration_rolls_back(pg_url: str) -> None:
    broken = Migration(2, "0002_broken.sql", "CREATE TABLE b (y TEXT);\nINSERT INTO no_such_table VALUES (1);")
    conn = await asyncpg.connect(pg_url)
    try:
        await migrate_postgresql(conn, (FIRST,))
        with pytest.raises(asyncpg.UndefinedTableError):
            await migrate_postgresql(conn, (FIRST, broken))
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT to_regclass('b')") is None
        assert await migrate_postgresql(conn, (FIRST, SECOND)) == 2
    finally:
        await conn.close()
    assert await version(pg_url) == 2


async def test_refuses_a_newer_database(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await migrate_postgresql(conn, (FIRST, SECOND))
        with pytest.raises(RuntimeError, match="newer than this release knows"):
            await migrate_postgresql(conn, (FIRST,))
    finally:
        await conn.close()


async def test_processes_starting_together_apply_each_migration_once(pg_url: str) -> None:
    # Separate pools stand for separate processes: without the advisory lock, all would create the same tables.
    opened = await asyncio.gather(*(PostgresDatabase.open(pg_url, max_size=1) for _ in range(4)))
    for db in opened:
        await db.close()
    conn = await asyncpg.connect(pg_url)
    try:
        applied = [row[0] for row in await conn.fetch("SELECT name FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()
    assert applied == [m.name for m in bundled_migrations("postgresql")]
