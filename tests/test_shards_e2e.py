"""Two bot processes, shards 0 and 1 of 2, on one database against one fake Discord: what each one does."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.gateway import Simulator
from bot.storage.connect import open_database
from bot.storage.guilds import GuildStore, ListKind
from tests.botproc import WAIT, BotProcess, bot_env, has_video, private_text
from tests.fakediscord import Channel, FakeDiscord, GuildSpec, InteractionRecord
from tests.helpers import database_env, eventually, free_port

SHARDS = 2
# Without ffmpeg nothing is re-encoded: a result over the upload limit would be explained instead of posted.
NO_FFMPEG = {"IMAGEIO_FFMPEG_EXE": "/nonexistent/ffmpeg"}

# Two servers, Alpha on shard 0 and Beta on shard 1 of 2 (by Discord's rule on their ids).
pytestmark = pytest.mark.fake(
    guilds=[GuildSpec(name="Alpha", shard=(0, SHARDS)), GuildSpec(name="Beta", shard=(1, SHARDS))],
    recommended_shards=SHARDS,
)


def shard_env(fake: FakeDiscord, sim: Simulator, tmp_path: Path, shard_id: int, **extra: str) -> dict[str, str]:
    """One shard's process: global commands (no dev guild), the owner, and the database every process shares."""
    return bot_env(
        fake,
        sim,
        tmp_path,
        DISCORD_DEV_GUILD_ID="",
        DISCORD_SHARD_COUNT=str(SHARDS),
        DISCORD_SHARD_IDS=str(shard_id),
        OWNER_IDS=str(fake.owner_user.id),
        **extra,
    )


def channel_of(fake: FakeDiscord, name: str) -> Channel:
    guild = next(g for g in fake.guilds if g.name == name)
    return fake.state.text_channels(guild.id)[0]


async def create_in(fake: FakeDiscord, server: str, prompt: str) -> InteractionRecord:
    """/video create by the default member in a server's first channel."""
    return await fake.invoke_slash(channel_id=channel_of(fake, server).id, options={"prompt": prompt})


async def operator(fake: FakeDiscord, server: str, subcommand: str, **options: str) -> None:
    """/video-admin operator ... by the owner in a server; waits for the private confirmation."""
    rec = await fake.invoke_slash(
        channel_id=channel_of(fake, server).id,
        name="video-admin",
        subcommand=f"operator {subcommand}",
        options=options,
        user_id=fake.owner_user.id,
    )
    await private_text(fake, rec, "every server" if subcommand == "pause" else "resumed")


async def delivered_in_thread(fake: FakeDiscord, rec: InteractionRecord) -> str:
    """Wait until the job started by ``rec`` has its video in its thread; return the job id."""
    text = await private_text(fake, rec, "on its way")
    thread_id = int(text.split("<#")[1].split(">")[0])
    await fake.wait_for_message(thread_id, has_video, timeout=WAIT)
    status = await fake.wait_for_message(rec.channel_id, lambda m: bool(m.embeds), timeout=WAIT)
    return str(status.embeds[0]["footer"]["text"]).removeprefix("Job ")


async def healthz(port: int) -> dict[str, object] | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            body: dict[str, object] = await resp.json()
            return body
    except aiohttp.ClientError:
        return None


# Tasks that take a moment: a job is set up (status message, thread) by the process that took the command, and
# another process's poller may deliver it; it must find the thread recorded by then.
@pytest.mark.sim(task_seconds=2)
async def test_two_shard_processes_share_one_sync_one_database_and_the_work(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    port = free_port()
    first = BotProcess(shard_env(fake, sim, tmp_path, 0), tmp_path, name="shard0")
    second = BotProcess(shard_env(fake, sim, tmp_path, 1, METRICS_LISTEN=f"127.0.0.1:{port}"), tmp_path, name="shard1")
    async with first:
        # The second starts once the first has migrated the shared database and registered the commands.
        await fake.wait_connected(timeout=WAIT, shard_id=0)
        await fake.wait_for_request("PUT", "*/commands", timeout=WAIT)
        async with second:
            await fake.wait_connected(timeout=WAIT, shard_id=1)
            await _work_in_both(fake, sim, first, second, port)


async def _work_in_both(fake: FakeDiscord, sim: Simulator, first: BotProcess, second: BotProcess, port: int) -> None:
    await eventually(lambda: "Not syncing commands: the process holding shard 0 does" in second.output(), WAIT)
    assert fake.sync_count(None) == 1 and len(fake.requests_to("PUT", "*/commands")) == 1
    assert {s.shard for s in fake.gateway.live_sessions()} == {(0, SHARDS), (1, SHARDS)}

    async def shard_one_healthy() -> bool:
        body = await healthz(port)
        return body is not None and body["ok"] is True

    await eventually(shard_one_healthy, WAIT)
    body = await healthz(port)
    assert body is not None and body["checks"]["discord"]["detail"] == "connected: shard 1 of 2"  # type: ignore[index]

    # The owner pauses through shard 0's process (Alpha); Beta's member, answered by shard 1's, is refused at once.
    await operator(fake, "Alpha", "pause", reason="maintenance")
    refused = await create_in(fake, "Beta", "a heron at dawn")
    assert refused.shard == (1, SHARDS)
    assert "paused by the bot's operator (maintenance)" in await private_text(fake, refused, "paused")
    assert sim.stats.route_classes["create"] == 0
    await operator(fake, "Alpha", "resume")

    alpha = await create_in(fake, "Alpha", "a lighthouse in fog")
    beta = await create_in(fake, "Beta", "a heron at dawn")
    assert (alpha.shard, beta.shard) == ((0, SHARDS), (1, SHARDS))
    jobs = [await delivered_in_thread(fake, alpha), await delivered_in_thread(fake, beta)]
    for job_id in jobs:
        marks = f"Job {job_id}: delivered"
        await eventually(lambda: marks in first.output() + second.output(), WAIT)  # noqa: B023 - awaited here
        assert (first.output() + second.output()).count(marks) == 1
    for name in ("Alpha", "Beta"):
        posts = [m for m in fake.messages(channel_of(fake, name).id) if has_video(m)]
        assert posts == []  # each video went to its thread only


async def test_without_shard_settings_one_process_runs_every_recommended_shard(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    env = bot_env(fake, sim, tmp_path, DISCORD_DEV_GUILD_ID="")
    async with BotProcess(env, tmp_path) as bot:
        for shard_id in range(SHARDS):
            await fake.wait_connected(timeout=WAIT, shard_id=shard_id)
        assert "Discord recommends 2 shard(s); this process runs all of them" in bot.output()
        assert {s.shard for s in fake.gateway.live_sessions()} == {(0, SHARDS), (1, SHARDS)}
        beta = await create_in(fake, "Beta", "a heron at dawn")
        assert beta.shard == (1, SHARDS)
        await delivered_in_thread(fake, beta)
        assert fake.sync_count(None) == 1


@pytest.mark.sim(task_seconds=4.0)
async def test_a_job_whose_process_died_is_delivered_by_the_other_shard_with_its_server_upload_limit(
    sim: Simulator, tmp_path: Path
) -> None:
    # Beta is boosted (tier 2: 50 MiB per file), and its process is killed mid-job: shard 0's process, which
    # does not hold Beta, delivers; the 11 MiB result must still go out whole, at Beta's limit, not 10 MiB.
    guilds = [GuildSpec(name="Alpha", shard=(0, SHARDS)), GuildSpec(name="Beta", shard=(1, SHARDS), premium_tier=2)]
    sim.faults.oversize(size_bytes=11 * 1024 * 1024)
    async with FakeDiscord(guilds=guilds) as fake:
        first = BotProcess(shard_env(fake, sim, tmp_path, 0, **NO_FFMPEG), tmp_path, name="shard0")
        second = BotProcess(shard_env(fake, sim, tmp_path, 1, **NO_FFMPEG), tmp_path, name="shard1")
        async with first:
            await fake.wait_connected(timeout=WAIT, shard_id=0)
            await fake.wait_for_request("PUT", "*/commands", timeout=WAIT)
            async with second:
                await fake.wait_connected(timeout=WAIT, shard_id=1)
                rec = await create_in(fake, "Beta", "a heron at dawn")
                await private_text(fake, rec, "on its way")
                thread = await fake.wait_for_thread(timeout=WAIT)
                await second.kill()
                posted = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    video = next(a for a in posted.attachments if a.filename.endswith(".mp4"))
    assert video.size >= 11 * 1024 * 1024 and "Compressed" not in posted.content
    assert "delivered" not in second.output()


async def test_too_few_shards_stop_the_bot_saying_to_raise_the_count(sim: Simulator, tmp_path: Path) -> None:
    async with FakeDiscord(guilds=["Alpha", "Beta"], max_guilds_per_shard=1) as fake:
        env = bot_env(fake, sim, tmp_path, DISCORD_SHARD_COUNT="1")
        async with BotProcess(env, tmp_path) as bot:
            assert await bot.wait(within=WAIT) == 2
    assert "Discord requires more shards" in bot.output() and "DISCORD_SHARD_COUNT" in bot.output()
    assert "Traceback" not in bot.output().split("Discord requires more shards")[1]


async def test_inactive_patterns_are_told_once_per_server_however_many_processes_connect_its_shard(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, database_location: Path | str
) -> None:
    # Each server has a log channel and a stored pattern the regex engine cannot run (from before it matched on RE2).
    log_channels: dict[int, int] = {}
    db = await open_database(database_location)
    guilds = GuildStore(db, time.time)
    for guild in fake.guilds:
        log_channels[guild.id] = fake.create_channel(guild.id, "reelbot-log").id
        await guilds.set_log_channel(guild.id, log_channels[guild.id])
        await guilds.add_to_list(guild.id, ListKind.BLOCKED_REGEX, "(?<=blood)bath")
    await db.close()

    # Shard 0's process, shard 1's, and a third connecting both (another deployment of the same shards) start at once.
    shared = database_env(database_location)
    both = bot_env(
        fake,
        sim,
        tmp_path,
        DISCORD_DEV_GUILD_ID="",
        DISCORD_SHARD_COUNT=str(SHARDS),
        DISCORD_SHARD_IDS="0-1",
        **shared,
    )
    processes = [
        BotProcess(shard_env(fake, sim, tmp_path, 0, **shared), tmp_path, name="shard0"),
        BotProcess(shard_env(fake, sim, tmp_path, 1, **shared), tmp_path, name="shard1"),
        BotProcess(both, tmp_path, name="both"),
    ]
    async with processes[0], processes[1], processes[2]:
        for proc in processes:  # each has looked at every server it connects, and told those it marked first
            await eventually(lambda: "Stored patterns that are not applied: told" in proc.output(), WAIT)  # noqa: B023
        told = [int(p.output().split("not applied: told ")[1].split(" ")[0]) for p in processes]
    for guild_id, channel_id in log_channels.items():
        notices = [m for m in fake.messages(channel_id) if "kept but not applied" in str(m.embeds)]
        assert len(notices) == 1, guild_id
    assert sum(told) == len(log_channels)
    assert told[1] <= 1  # shard 1's process tells Beta at most: Alpha is not on its shard
