"""The fake Discord shards like Discord: /gateway/bot, IDENTIFY's shard, guilds and events routed by shard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest

from tests.fakediscord import FakeDiscord, GuildSpec

TOKEN = "shard-test-token"
GUILDS_INTENT = 1


class RawSession:
    """One gateway connection identified as a shard, read frame by frame (no compression)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def identify(self, shard: list[int] | None) -> None:
        assert json.loads(await self.ws.receive_str(timeout=5))["op"] == 10
        d: dict[str, Any] = {"token": TOKEN, "intents": GUILDS_INTENT, "properties": {}}
        if shard is not None:
            d["shard"] = shard
        await self.ws.send_json({"op": 2, "d": d})

    async def event(self) -> tuple[str, dict[str, Any]]:
        """The next dispatch: its name and data."""
        while True:
            message = json.loads(await self.ws.receive_str(timeout=5))
            if message["op"] == 0:
                return message["t"], message["d"]

    async def closed_with(self) -> int | None:
        await self.ws.receive(timeout=5)
        return self.ws.close_code


@asynccontextmanager
async def raw_session(fake: FakeDiscord, shard: list[int] | None) -> AsyncIterator[RawSession]:
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
        session = RawSession(ws)
        await session.identify(shard)
        yield session


def spread(count: int) -> list[GuildSpec]:
    """One guild in each of ``count`` shards, named after its shard."""
    return [GuildSpec(name=f"shard {shard}", shard=(shard, count)) for shard in range(count)]


# Two guilds, one in each shard of two; Discord recommends two shards.
pytestmark = pytest.mark.fake(token=TOKEN, guilds=spread(2), recommended_shards=2, max_concurrency=4)


def ids_by_name(fake: FakeDiscord) -> dict[str, int]:
    return {guild.name: guild.id for guild in fake.guilds}


async def test_guild_ids_land_in_the_shard_asked_for() -> None:
    async with FakeDiscord(token=TOKEN, guilds=spread(3) * 2) as fake:
        assert sorted((guild.id >> 22) % 3 for guild in fake.guilds) == [0, 0, 1, 1, 2, 2]
        ids = [guild.id for guild in fake.guilds]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_gateway_bot_recommends_the_configured_count(fake: FakeDiscord) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(fake.rest_base + "/gateway/bot", headers={"Authorization": f"Bot {TOKEN}"}) as resp,
    ):
        body = await resp.json()
    assert body["shards"] == 2 and body["url"] == fake.gateway_url.rstrip("/")
    assert body["session_start_limit"]["max_concurrency"] == 4
    assert body["session_start_limit"]["total"] == 1000


async def test_each_shard_is_ready_with_its_own_guilds_only(fake: FakeDiscord) -> None:
    ids = ids_by_name(fake)
    for shard_id in (0, 1):
        async with raw_session(fake, [shard_id, 2]) as session:
            name, ready = await session.event()
            assert name == "READY" and ready["shard"] == [shard_id, 2]
            assert [g["id"] for g in ready["guilds"]] == [str(ids[f"shard {shard_id}"])]
            name, created = await session.event()
            assert (name, created["id"]) == ("GUILD_CREATE", str(ids[f"shard {shard_id}"]))


async def test_an_unsharded_session_gets_every_guild(fake: FakeDiscord) -> None:
    async with raw_session(fake, None) as session:
        _, ready = await session.event()
        assert sorted(int(g["id"]) for g in ready["guilds"]) == sorted(ids_by_name(fake).values())


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1"])
async def test_a_shard_outside_its_count_is_closed_4010(fake: FakeDiscord, shard: Any) -> None:
    async with raw_session(fake, shard) as session:
        assert await session.closed_with() == 4010
    assert fake.gateway.identify_count == 0


async def test_too_many_guilds_on_one_shard_is_closed_4011() -> None:
    async with FakeDiscord(token=TOKEN, guilds=spread(2) * 2) as fake:
        fake.gateway.max_guilds_per_shard = 2
        async with raw_session(fake, None) as session:
            assert await session.closed_with() == 4011
        async with raw_session(fake, [1, 2]) as session:
            assert (await session.event())[0] == "READY"


async def test_guild_events_and_interactions_go_to_the_guilds_shard_and_dms_to_shard_zero(fake: FakeDiscord) -> None:
    ids = ids_by_name(fake)
    async with raw_session(fake, [0, 2]) as zero, raw_session(fake, [1, 2]) as one:
        for session in (zero, one):
            await session.event()  # READY
            await session.event()  # its guild's GUILD_CREATE
        await fake.state.changed.wait_for(lambda: len(fake.gateway.live_sessions()) == 2, 5, "two sessions")

        late = fake.create_guild("late", shard=(1, 2))
        fake.create_channel(ids["shard 0"], "only-zero")
        name, data = await one.event()
        assert (name, data["guild_id"]) == ("CHANNEL_CREATE", str(late.id))  # the fake announces its #general first
        name, data = await one.event()
        assert (name, data["id"]) == ("GUILD_CREATE", str(late.id))
        name, data = await zero.event()  # none of the late guild's events came here: this is the next one
        assert (name, data["name"]) == ("CHANNEL_CREATE", "only-zero")

        fake.commands_registry.upsert(None, {"name": "ping", "type": 1, "description": "Ping", "options": []})
        await fake.invoke_slash(guild_id=late.id, name="ping", subcommand=None)
        name, data = await one.event()
        assert (name, data["guild_id"]) == ("INTERACTION_CREATE", str(late.id))
        dm = fake.state.open_dm(fake.default_user.id)
        await fake.invoke_slash(channel_id=dm.id, name="ping", subcommand=None)
        name, data = await zero.event()
        assert name == "INTERACTION_CREATE" and "guild_id" not in data


class ShardedClient(discord.AutoShardedClient):
    """discord.py's own sharded client, identifying its shards back to back (the fake has no identify limit)."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


async def test_discord_py_runs_the_recommended_shards_each_with_its_guild(
    fake: FakeDiscord, discord_targets: None
) -> None:
    intents = discord.Intents.none()
    intents.guilds = True
    async with ShardedClient(intents=intents) as client:
        running = asyncio.create_task(client.start(TOKEN))
        try:
            async with asyncio.timeout(10):
                await client.wait_until_ready()
            assert client.shard_count == 2 and sorted(client.shards) == [0, 1]
            assert {s.shard[0] for s in fake.gateway.live_sessions()} == {0, 1}
            for name, guild_id in ids_by_name(fake).items():
                guild = client.get_guild(guild_id)
                assert guild is not None and f"shard {guild.shard_id}" == name
        finally:
            await client.close()
            await asyncio.gather(running, return_exceptions=True)
