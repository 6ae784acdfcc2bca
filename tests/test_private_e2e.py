"""The private lane end to end on the fake Discord: a private job's status and video by DM (progress, Cancel), in
the command's private reply with a signed link when the member's DMs are closed, found through /video history when
neither works; a server that denies it; a private default; /video forget deleting the DM posts; a worker delivering;
Delete in both places; a bot killed mid-job, and killed once Discord took the result, showing it once after restart."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import (
    EPHEMERAL,
    WAIT,
    BotProcess,
    create,
    delivered,
    has_video,
    private_text,
    start_bot,
    start_worker,
)
from tests.fakediscord import FakeDiscord, InteractionRecord, Message
from tests.helpers import eventually, free_port

MODEL = "veo-3.1-fast-generate-preview"
ROOMY = {"MAX_JOBS_PER_USER": "3", "QUOTA_USER_DAILY_CREDITS": "1000", "QUOTA_GUILD_DAILY_CREDITS": "1000"}
DM = 1  # Discord's channel type of a DM


# The bot with its audit log in #reelbot-log (and its media server on: bot_settings).
pytestmark = [pytest.mark.fake(channels=["reelbot-log"]), pytest.mark.bot(log_channel="reelbot-log", **ROOMY)]


def media_env() -> dict[str, str]:
    """The built-in media server on a free port: signed links to results."""
    port = free_port()
    return {"MEDIA_PUBLIC_URL": f"http://127.0.0.1:{port}/media", "MEDIA_LISTEN": f"127.0.0.1:{port}"}


@pytest.fixture
def bot_settings(bot_settings: dict[str, str]) -> dict[str, str]:
    """The marks' settings, with the media server on (signed links to results)."""
    return {**bot_settings, **media_env()}


async def admin(fake: FakeDiscord, subcommand: str, options: dict[str, object], needle: str) -> str:
    """Run a /video-admin command as the server's owner; return its private answer."""
    rec = await fake.invoke_slash(
        name="video-admin", subcommand=subcommand, options=options, user_id=fake.owner_user.id
    )
    return await private_text(fake, rec, needle)


def buttons(message: Message) -> list[str]:
    return [component["custom_id"] for row in message.components for component in row["components"]]


def job_of(message: Message) -> str:
    return str(message.embeds[0]["footer"]["text"]).removeprefix("Job ")


def dm_channel(fake: FakeDiscord) -> int:
    return next(c.id for c in fake.state.channels.values() if c.type == DM)


def public_posts(fake: FakeDiscord) -> list[Message]:
    """The bot's messages anyone in #general can see (its private replies left out)."""
    return [m for m in fake.messages(fake.channel().id) if m.author.id == fake.state.bot_user.id]


async def with_cancel(fake: FakeDiscord, channel_id: int, known: set[int]) -> Message:
    """A new status message in ``channel_id`` once it carries its Cancel button."""
    return await fake.wait_for_message(
        channel_id,
        lambda m: m.id not in known and any(b.startswith("reelbot:cancel:") for b in buttons(m)),
        timeout=WAIT,
    )


def private_replies(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "reelbot.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM private_replies").fetchone()[0])


async def answer(fake: FakeDiscord, rec: InteractionRecord) -> str:
    """The private answer to a button or a menu, once it says something (a deferred answer first says nothing)."""

    def said() -> bool:
        message = fake.original_message(rec)
        return message is not None and bool(message.content)

    await rec.wait_for(lambda _call: said(), WAIT)
    message = fake.original_message(rec)
    assert message is not None and message.flags & EPHEMERAL
    return message.content


@pytest.mark.sim(task_seconds=6.0)
async def test_a_private_job_comes_by_dm_with_progress_and_cancel_and_forget_deletes_the_dm_posts(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    rec = await create(fake, prompt="a secret garden at night", model=MODEL, private=True)
    assert "its status and the video come to your DMs" in await private_text(fake, rec, "on its way")
    dm = dm_channel(fake)
    status = await with_cancel(fake, dm, set())
    job_id = job_of(status)
    # Progress edits land on the DM's status message, then the video and its buttons come in the DMs.
    await eventually(lambda: "%" in str(fake.message(status.id).embeds), WAIT)
    video = await fake.wait_for_message(dm, has_video, timeout=WAIT)
    assert buttons(video) == [f"reelbot:reroll:{job_id}", f"reelbot:remix:{job_id}", f"reelbot:delete:{job_id}"]
    await eventually(lambda: "Done" in str(fake.message(status.id).embeds) and not fake.message(status.id).components)
    # Nothing public: no status message, no thread; moderators still see it, prompt included, in the audit log.
    assert public_posts(fake) == [] and fake.threads() == []
    logged = await fake.wait_for_message(
        fake.channel(name="reelbot-log").id, lambda m: "a secret garden at night" in str(m.embeds), timeout=WAIT
    )
    assert "Private" in str(logged.embeds)
    await eventually(lambda: private_replies(tmp_path) == 0)  # the interaction token goes once delivered

    # Cancel, pressed in the DMs.
    second = await create(fake, prompt="a hidden waterfall", model=MODEL, private=True)
    await private_text(fake, second, "on its way")
    other = await with_cancel(fake, dm, {status.id})
    pressed = await fake.click_button(other.id, f"reelbot:cancel:{job_of(other)}")
    said = await answer(fake, pressed)
    if "already started" in said:
        question = fake.original_message(pressed)
        assert question is not None
        confirm = await fake.click_button(question.id, f"reelbot:cancelsent:{job_of(other)}")
        said = await private_text(fake, confirm, "Cancelled")
    assert f"Cancelled job `{job_of(other)}`" in said
    await eventually(lambda: "Cancelled by" in str(fake.message(other.id).embeds), WAIT)

    history = await fake.invoke_slash(subcommand="history")
    assert "sent to you by DM" in await private_text(fake, history, job_id)

    forget = await fake.invoke_slash(subcommand="forget")
    assert "my DMs to you" in await private_text(fake, forget, "erased")
    assert fake.messages(dm) == []  # both status messages and the video
    assert not (tmp_path / "results" / f"{job_id}.mp4").exists()


async def test_with_dms_closed_the_status_and_then_the_video_come_in_the_private_reply_with_a_signed_link(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    fake.set_dms_open(fake.default_user.id, False)
    rec = await create(fake, prompt="a paper boat", model=MODEL, private=True)
    assert "your DMs are closed to me" in await private_text(fake, rec, "on its way")
    reply = fake.original_message(rec)
    assert reply is not None and reply.embeds  # the status is the command's private reply itself
    job_id = job_of(reply)
    # The video goes into that reply, its final state with it: a retried edit cannot post it twice.
    await eventually(lambda: has_video(fake.message(reply.id)), WAIT)
    video = fake.message(reply.id)
    assert video.flags & EPHEMERAL and "Done" in str(video.embeds) and not rec.followup_ids
    assert buttons(video) == [f"reelbot:reroll:{job_id}", f"reelbot:remix:{job_id}", f"reelbot:delete:{job_id}"]
    assert "Your DMs are closed to me" in video.content
    link = video.content.split("<")[1].split(">")[0]
    async with aiohttp.ClientSession() as session, session.get(link) as response:
        assert response.status == 200 and (await response.read())[4:8] == b"ftyp"
    assert public_posts(fake) == [] and fake.threads() == []
    assert not [c for c in fake.state.channels.values() if c.type == DM and fake.messages(c.id)]
    await eventually(lambda: private_replies(tmp_path) == 0)
    assert rec.token not in bot.output()  # a credential, never logged


async def test_a_bot_killed_once_discord_took_the_private_result_shows_it_once_after_its_restart(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    fake.set_dms_open(fake.default_user.id, False)
    # Discord takes the result's upload into the private reply, but the bot never hears so: it is killed first.
    taken = fake.hold_answers("PATCH", re.compile(r"/webhooks/\d+/[^/]+/messages/\d+"), with_files_only=True)
    first = await start_bot(fake, sim, tmp_path, **ROOMY, **media_env())
    async with first:
        rec = await create(fake, prompt="a glass of rain", model=MODEL, private=True)
        await private_text(fake, rec, "your DMs are closed to me")
        reply = fake.original_message(rec)
        assert reply is not None
        job_id = job_of(reply)
        await eventually(lambda: taken.hits == 1 and has_video(fake.message(reply.id)), WAIT)
        await first.kill()
    taken.released.set()
    assert not delivered(tmp_path, job_id)
    async with await start_bot(fake, sim, tmp_path, **ROOMY, **media_env()):
        await eventually(lambda: delivered(tmp_path, job_id), WAIT)
    uploads = [r for r in fake.requests_to("PATCH", f"/webhooks/*/messages/{reply.id}") if r.files]
    assert len(uploads) == 2  # the cut-off edit and its retry, on the same message
    everywhere = [m for m in fake.state.messages.values() if not m.deleted and has_video(m)]
    assert [m.id for m in everywhere] == [reply.id] and not rec.followup_ids


async def test_when_neither_dms_nor_the_private_reply_work_history_says_where_the_video_is(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    fake.set_dms_open(fake.default_user.id, False)
    rec = await create(fake, prompt="a lost kite", model=MODEL, private=True)
    await private_text(fake, rec, "on its way")
    fake.expire_token(rec)  # as if the video took longer than the token's 15 minutes

    async def found() -> bool:
        history = await fake.invoke_slash(subcommand="history")
        await private_text(fake, history, "lost kite")
        message = fake.original_message(history)
        return message is not None and "could not reach you" in message.content

    await eventually(found, WAIT)
    history = await fake.invoke_slash(subcommand="history")
    text = await private_text(fake, history, "could not reach you")
    assert "your DMs are closed to me" in text and "had expired" in text
    link = text.split("here (the link works for a few days): <")[1].split(">")[0]
    async with aiohttp.ClientSession() as session, session.get(link) as response:
        assert response.status == 200
    assert public_posts(fake) == [] and not rec.followup_ids


async def test_a_server_that_denies_private_videos_refuses_them_and_a_private_default_when_set_and_used(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    menus_rec = await fake.invoke_slash(subcommand="settings")
    # /video settings acknowledges first, then shows the menus in its answer.

    def shown() -> bool:
        message = fake.original_message(menus_rec)
        return message is not None and "reelbot:settings:private" in buttons(message)

    await menus_rec.wait_for(lambda _call: shown(), WAIT)
    menus = fake.original_message(menus_rec)
    assert menus is not None and "reelbot:settings:private" in buttons(menus)
    picked = await fake.use_component(menus.id, "reelbot:settings:private", ["on"])
    await picked.wait_for(lambda _call: "by DM only" in str(fake.message(menus.id).embeds), WAIT)

    assert "denied" in await admin(fake, "server private", {"setting": "deny"}, "Private videos are denied")
    used = await create(fake, prompt="a quiet pond", model=MODEL)
    refusal = await private_text(fake, used, "turned private videos off")
    assert "Your /video settings make every video private by default" in refusal
    asked = await create(fake, prompt="a quiet pond", model=MODEL, private=True)
    assert "nothing was charged" in await private_text(fake, asked, "turned private videos off")
    # The refusal comes beside the menus, which stay for the member's next pick.
    again = await fake.use_component(menus.id, "reelbot:settings:private", ["on"])
    await again.wait_for(lambda _call: bool(again.followup_ids), WAIT)
    refused = fake.message(again.followup_ids[0])
    assert refused.flags & EPHEMERAL and "turned private videos off" in refused.content
    assert "reelbot:settings:private" in buttons(fake.message(menus.id))
    assert len(sim.tasks) == 0

    public = await create(fake, prompt="a quiet pond", model=MODEL, private=False)
    await private_text(fake, public, "on its way")
    await fake.wait_for_thread(lambda t: (t.name or "").startswith("a quiet pond"), timeout=WAIT)
    await admin(fake, "server private", {"setting": "allow"}, "Private videos are allowed here")


async def test_a_worker_without_a_gateway_delivers_private_jobs_by_dm_and_by_private_follow_up(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    media = media_env()
    front = await start_bot(fake, sim, tmp_path, **ROOMY, **media, PROCESS_ROLE="front")
    own_port = {"MEDIA_LISTEN": f"127.0.0.1:{free_port()}"}  # the same links, its own server for them
    async with front, await start_worker(fake, sim, tmp_path, **ROOMY, **{**media, **own_port}) as worker:
        try:
            rec = await create(fake, prompt="a letter by hand", model=MODEL, private=True)
            await private_text(fake, rec, "on its way")
            dm = dm_channel(fake)
            video = await fake.wait_for_message(dm, has_video, timeout=WAIT)
            job_id = job_of(fake.messages(dm)[0])
            await eventually(lambda: f"Job {job_id}: delivered" in worker.output(), WAIT)

            fake.set_dms_open(fake.default_user.id, False)
            closed = await create(fake, prompt="a letter unread", model=MODEL, private=True)
            await private_text(fake, closed, "your DMs are closed to me")
            answer = fake.original_message(closed)
            assert answer is not None
            await eventually(lambda: has_video(fake.message(answer.id)), WAIT)
            followup = fake.message(answer.id)
            assert followup.flags & EPHEMERAL and "/media/" in followup.content
            assert public_posts(fake) == [] and video.id != followup.id
            assert len(fake.gateway.sessions) == 1  # the worker never opened a gateway session
        except BaseException:
            sys.stderr.write(f"--- front ---\n{front.output()[-10000:]}\n--- worker ---\n{worker.output()[-10000:]}")
            raise


def result_deleted(tmp_path: Path, job_id: str) -> bool:
    with sqlite3.connect(tmp_path / "reelbot.sqlite3") as db:
        row = db.execute("SELECT result_deleted_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row is not None and row[0] is not None


async def test_delete_on_a_private_result_removes_it_by_dm_and_in_the_private_reply_and_its_files(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    rec = await create(fake, prompt="a note in a bottle", model=MODEL, private=True)
    await private_text(fake, rec, "on its way")
    dm = dm_channel(fake)
    video = await fake.wait_for_message(dm, has_video, timeout=WAIT)
    job_id = job_of(fake.messages(dm)[0])
    await eventually(lambda: delivered(tmp_path, job_id), WAIT)
    pressed = await fake.click_button(video.id, f"reelbot:delete:{job_id}")
    assert "The video was deleted." in await answer(fake, pressed)
    assert fake.message(video.id).deleted and result_deleted(tmp_path, job_id)
    assert not (tmp_path / "results" / f"{job_id}.mp4").exists()

    fake.set_dms_open(fake.default_user.id, False)
    closed = await create(fake, prompt="a note unread", model=MODEL, private=True)
    await private_text(fake, closed, "your DMs are closed to me")
    reply = fake.original_message(closed)
    assert reply is not None
    hidden = job_of(reply)
    await eventually(lambda: delivered(tmp_path, hidden), WAIT)
    # Removed through the press's own webhook (Discord refuses the bot's token on a private reply); said privately.
    press = await fake.click_button(reply.id, f"reelbot:delete:{hidden}")
    await press.wait_for(lambda _call: bool(press.followup_ids), WAIT)
    said = fake.message(press.followup_ids[0])
    assert said.flags & EPHEMERAL and "The video was deleted." in said.content and "Dismiss" not in said.content
    assert fake.message(reply.id).deleted and result_deleted(tmp_path, hidden)
    assert not (tmp_path / "results" / f"{hidden}.mp4").exists()

    # Should Discord refuse, the member is told plainly that they can dismiss it; the video is taken down all the same.
    third = await create(fake, prompt="a note refused", model=MODEL, private=True)
    await private_text(fake, third, "your DMs are closed to me")
    kept = fake.original_message(third)
    assert kept is not None
    await eventually(lambda: delivered(tmp_path, job_of(kept)), WAIT)
    fake.inject_error("DELETE", "/webhooks/*/messages/@original", status=403, html=False)
    press = await fake.click_button(kept.id, f"reelbot:delete:{job_of(kept)}")
    await press.wait_for(lambda _call: bool(press.followup_ids), WAIT)
    assert '"Dismiss message", under it' in fake.message(press.followup_ids[0]).content
    assert not fake.message(kept.id).deleted and result_deleted(tmp_path, job_of(kept))


@pytest.mark.sim(task_seconds=8.0)
@pytest.mark.parametrize("dms_open", [True, False], ids=["by-dm", "dms-closed"])
async def test_a_private_job_under_way_when_the_bot_is_killed_completes_after_its_restart_once(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, dms_open: bool
) -> None:
    fake.set_dms_open(fake.default_user.id, dms_open)
    async with await start_bot(fake, sim, tmp_path, **ROOMY, **media_env()) as first:
        rec = await create(fake, prompt="a clock without hands", model=MODEL, private=True)
        await private_text(fake, rec, "on its way")
        reply = fake.original_message(rec)
        assert reply is not None
        status = await with_cancel(fake, dm_channel(fake), set()) if dms_open else reply
        job_id = job_of(status)
        await eventually(lambda: "%" in str(fake.message(status.id).embeds), WAIT)  # being made
        await first.kill()
    assert not delivered(tmp_path, job_id)
    async with await start_bot(fake, sim, tmp_path, **ROOMY, **media_env()):
        await eventually(lambda: delivered(tmp_path, job_id), WAIT)
        await eventually(lambda: "Done" in str(fake.message(status.id).embeds), WAIT)  # the same status, edited
    videos = [m for m in fake.state.messages.values() if not m.deleted and has_video(m)]
    assert len(videos) == 1 and public_posts(fake) == [] and not rec.followup_ids
    if dms_open:
        assert [m.id for m in fake.messages(dm_channel(fake))] == [status.id, videos[0].id]
    else:
        assert videos[0].id == reply.id  # the result went into the status reply
        assert not [c for c in fake.state.channels.values() if c.type == DM and fake.messages(c.id)]


@pytest.mark.sim(task_seconds=4.0)
async def test_dms_that_close_before_the_result_get_it_as_a_follow_up_never_sent_twice_after_a_crash(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    # The first post of the result as a follow-up is taken by Discord, but the bot is killed before it hears so.
    taken = fake.hold_answers("POST", re.compile(r"/webhooks/\d+/[^/]+"), with_files_only=True)
    async with await start_bot(fake, sim, tmp_path, **ROOMY, **media_env()) as first:
        rec = await create(fake, prompt="a door left ajar", model=MODEL, private=True)
        await private_text(fake, rec, "on its way")
        status = await with_cancel(fake, dm_channel(fake), set())
        job_id = job_of(status)
        fake.set_dms_open(fake.default_user.id, False)  # closed while it is being made
        await eventually(lambda: taken.hits == 1 and bool(rec.followup_ids), WAIT)
        await first.kill()
    taken.released.set()
    (followup,) = rec.followup_ids
    assert has_video(fake.message(followup)) and fake.message(followup).flags & EPHEMERAL
    async with await start_bot(fake, sim, tmp_path, **ROOMY, **media_env()):
        await eventually(lambda: delivered(tmp_path, job_id), WAIT)
    # A follow-up cannot be looked for: the retry, not knowing whether it went out, does not send it again.
    assert rec.followup_ids == [followup]
    assert [m.id for m in fake.state.messages.values() if not m.deleted and has_video(m)] == [followup]
