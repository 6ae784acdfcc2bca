"""Who may do what, and where: purge, delete, re-roll and the private listings, against the fake Discord."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.gateway import Simulator
from bot.media.server import MediaLinks
from tests.botproc import EPHEMERAL, WAIT, BotProcess, bot_env, create, has_video, private_text
from tests.fakediscord import FakeDiscord, InteractionRecord, Message, P
from tests.helpers import delivered_jobs, eventually, free_port

SIGNING_KEY = "test-signing-key-0123456789"

pytestmark = pytest.mark.fake(channels=["mod-corner"])


@pytest.fixture
def media_port() -> int:
    """The port of the bot's media server."""
    return free_port()


@pytest.fixture
def bot_settings(media_port: int) -> dict[str, str]:
    """The bot's media server on (so a result has signed links that can be checked)."""
    return {
        "MEDIA_PUBLIC_URL": f"http://127.0.0.1:{media_port}/media",
        "MEDIA_LISTEN": f"127.0.0.1:{media_port}",
        "MEDIA_SIGNING_KEY": SIGNING_KEY,
    }


async def delivered(fake: FakeDiscord, tmp_path: Path, prompt: str) -> Message:
    """Make a video and return its result post, once the delivery is recorded."""
    before = delivered_jobs(tmp_path)
    channel = fake.channel().id
    rec = await fake.invoke_slash(
        channel_id=channel, options={"prompt": prompt, "model": "veo-3.1-fast-generate-preview"}
    )
    text = await private_text(fake, rec, "on its way")
    thread = int(text.split("<#")[1].split(">")[0])
    result = await fake.wait_for_message(thread, has_video, timeout=WAIT)
    await eventually(lambda: delivered_jobs(tmp_path) == before + 1, within=WAIT)
    return result


def job_of(result: Message) -> str:
    """The job id a result post names."""
    return result.content.split("`")[1]


async def reply(fake: FakeDiscord, rec: InteractionRecord) -> str:
    """The private answer to an interaction, once it is more than a deferral."""

    def answered() -> bool:
        message = fake.original_message(rec)
        sent = [c for c in rec.responses if c.kind == "callback" and c.type == 4]
        return bool(sent) or (message is not None and bool(message.content))

    await rec.wait_for(lambda _call: answered(), WAIT)
    message = fake.original_message(rec)
    if message is not None and message.content:
        assert message.flags & EPHEMERAL
        return message.content
    return str(rec.responses[0].data)


async def test_purge_needs_manage_messages_on_the_whole_server(
    fake: FakeDiscord, bot: BotProcess, tmp_path: Path
) -> None:
    result = await delivered(fake, tmp_path, "a harmless kite")
    corner = fake.channel(name="mod-corner")
    local_mod = fake.create_user("corner-mod", guild_ids=[fake.guild.id])
    fake.set_member_permissions(corner.id, local_mod.id, allow=P.MANAGE_MESSAGES)
    refused = await fake.invoke_slash(
        name="video-purge",
        subcommand=None,
        channel_id=corner.id,
        options={"member": fake.default_user.id},
        user_id=local_mod.id,
    )
    assert "whole server" in await reply(fake, refused)
    assert not fake.message(result.id).deleted

    moderators = fake.create_role(fake.guild.id, "Moderators", P.MANAGE_MESSAGES)
    server_mod = fake.create_user("server-mod", guild_ids=[fake.guild.id])
    fake.add_member(fake.guild.id, server_mod.id, role_ids=[moderators.id])
    purge = await fake.invoke_slash(
        name="video-purge",
        subcommand=None,
        channel_id=corner.id,
        options={"member": fake.default_user.id},
        user_id=server_mod.id,
    )
    assert "Deleted 1 video" in await reply(fake, purge)
    assert fake.message(result.id).deleted


async def status_link(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        return response.status


@pytest.mark.parametrize("how", ["delete", "purge"])
async def test_delete_and_purge_take_the_video_down(
    fake: FakeDiscord, bot: BotProcess, tmp_path: Path, media_port: int, how: str
) -> None:
    result = await delivered(fake, tmp_path, "a secret garden party")
    job_id = job_of(result)
    results = tmp_path / "results"
    thread = fake.channel(result.channel_id)
    status = fake.message(thread.starter_message_id or 0)
    link = MediaLinks(f"http://127.0.0.1:{media_port}/media", SIGNING_KEY).link(job_id, results / f"{job_id}.mp4", 3600)
    async with aiohttp.ClientSession() as session:
        assert await status_link(session, link) == 200
        assert thread.name is not None
        assert "secret garden" in str(status.embeds) and "secret garden" in thread.name

        if how == "delete":
            rec = await fake.click_button(result.id, f"reelbot:delete:{job_id}")
            assert "deleted" in await reply(fake, rec)
        else:
            rec = await fake.invoke_slash(
                name="video-purge",
                subcommand=None,
                options={"member": fake.default_user.id},
                user_id=fake.owner_user.id,
            )
            assert "Deleted 1 video" in await reply(fake, rec)

        assert fake.message(result.id).deleted
        await eventually(lambda: not list(results.glob(f"{job_id}.*")), within=WAIT)
        assert await status_link(session, link) == 410
    await fake.wait_for_message(
        fake.channel().id, lambda m: m.id == status.id and "Video deleted" in str(m.embeds), timeout=WAIT
    )
    await eventually(lambda: "secret garden" not in (fake.channel(thread.id).name or ""), within=WAIT)
    assert "secret garden" not in str(fake.message(status.id).embeds)
    assert job_id in (fake.channel(thread.id).name or "")
    assert not fake.message(status.id).attachments


async def test_reroll_needs_the_right_to_post_where_the_job_was_made(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    result = await delivered(fake, tmp_path, "a paper boat")
    muted = fake.create_user("muted", guild_ids=[fake.guild.id])
    fake.set_member_permissions(fake.channel().id, muted.id, deny=P.SEND_MESSAGES)
    click = await fake.click_button(result.id, f"reelbot:reroll:{job_of(result)}", user_id=muted.id)
    text = await reply(fake, click)
    assert f"<#{fake.channel().id}>" in text and "post" in text
    assert sim.stats.route_classes["create"] == 1


async def test_a_button_naming_another_servers_job_is_refused(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    result = await delivered(fake, tmp_path, "made on the first server")
    other = fake.create_guild("Other Guild")
    elsewhere = fake.state.text_channels(other.id)[0]
    # A message of the bot on the other server whose button names the first server's job (a forged custom id).
    forged = fake.post_user_message(elsewhere.id, "forged", user_id=fake.state.bot_user.id)
    forged.components = result.components
    click = await fake.click_button(forged.id, f"reelbot:reroll:{job_of(result)}")
    assert "another server" in await reply(fake, click)
    assert sim.stats.route_classes["create"] == 1


async def test_reroll_from_a_dm_is_checked_on_the_jobs_server(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    general = fake.channel().id
    rec = await create(fake, prompt="delivered by dm", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    fake.set_bot_permissions(general, deny=P.ATTACH_FILES)  # the thread and channel refuse the video: it goes by DM
    await fake.wait_for_request("POST", "/users/@me/channels", timeout=WAIT)
    dm = next(channel.id for channel in fake.state.channels.values() if channel.type == 1)
    result = await fake.wait_for_message(dm, has_video, timeout=WAIT)
    fake.set_bot_permissions(general)

    fake.set_member_permissions(general, fake.default_user.id, deny=P.SEND_MESSAGES)
    refused = await fake.click_button(result.id, f"reelbot:reroll:{job_of(result)}")
    assert f"<#{general}>" in await reply(fake, refused)
    assert sim.stats.route_classes["create"] == 1

    fake.set_member_permissions(general, fake.default_user.id)
    again = await fake.click_button(result.id, f"reelbot:reroll:{job_of(result)}")
    await private_text(fake, again, "on its way")
    assert sim.stats.route_classes["create"] == 2


@pytest.mark.fake(guilds=["First", "Second"])  # two guilds, both with the tester in them
@pytest.mark.sim(task_seconds=120.0)  # still running while the listings are asked for
async def test_history_and_status_list_only_this_servers_jobs(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    first, second = (fake.state.text_channels(guild.id)[0].id for guild in fake.guilds)
    # Global commands, so that both servers have them.
    proc = BotProcess(bot_env(fake, sim, tmp_path, DISCORD_DEV_GUILD_ID=""), tmp_path)
    async with proc:
        await fake.wait_for_request("PUT", "/applications/*/commands", timeout=WAIT)
        await fake.wait_connected(timeout=WAIT)
        rec = await fake.invoke_slash(
            channel_id=first, options={"prompt": "only on the first", "model": "veo-3.1-fast-generate-preview"}
        )
        await private_text(fake, rec, "on its way")

        for subcommand, here, there in (
            ("status", "only on the first", "no videos in progress"),
            ("history", "only on the first", "not made any videos"),
        ):
            home = await fake.invoke_slash(channel_id=first, subcommand=subcommand)
            await private_text(fake, home, here)
            away = await fake.invoke_slash(channel_id=second, subcommand=subcommand)
            text = await private_text(fake, away, there)
            assert "only on the first" not in text


@contextlib.contextmanager
def write_lock(database: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as a stuck writer elsewhere would."""
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


async def test_remix_and_delete_answer_while_the_database_is_busy(
    fake: FakeDiscord, bot: BotProcess, tmp_path: Path
) -> None:
    result = await delivered(fake, tmp_path, "a busy day")
    job_id = job_of(result)
    with write_lock(tmp_path / "reelbot.sqlite3"):
        # The admin command's write now waits for the lock (busy_timeout), holding the bot's one connection.
        pause = await fake.invoke_slash(name="video-admin", subcommand="server pause", user_id=fake.owner_user.id)
        await pause.wait_response(WAIT)
        remix = await fake.click_button(result.id, f"reelbot:remix:{job_id}")
        delete = await fake.click_button(result.id, f"reelbot:delete:{job_id}")
        remix_answer, delete_answer = await remix.wait_response(WAIT), await delete.wait_response(WAIT)
    assert remix_answer.ok and remix_answer.type == 9  # the form, at once
    assert delete_answer.ok and delete_answer.type == 5  # deferred, at once
    assert "deleted" in await reply(fake, delete)
