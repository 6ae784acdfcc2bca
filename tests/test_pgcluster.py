"""The throwaway PostgreSQL cluster the store tests run on."""

from __future__ import annotations

import asyncpg


async def test_each_test_gets_an_empty_database_of_its_own(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT current_database()") == pg_url.rsplit("/", 1)[1]
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables == []
        await conn.execute("CREATE TABLE scratch (n BIGINT)")
    finally:
        await conn.close()
