"""The wait queue on the fake Discord: a job over the server's limit waits with its place shown, starts in turn when
a slot frees, stays waiting through a pause, is dropped (refunded, told by DM) when its member is blocked, can be
cancelled while it waits, and survives a SIGKILL."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import WAIT, BotProcess, has_video, private_text, start_bot
from tests.fakediscord import FakeDiscord, Message
from tests.fakediscord.models import User
from tests.helpers import eventually
from tests.test_cancel_e2e import buttons, cancel_started, shown_cancelled
from tests.test_quota_e2e import admin

HOLDS = "veo3.1-fast"  # generating for five minutes: it holds the server's one slot until cancelled
FAST = "veo-3.1-fast-generate-preview"
LIMITS = {
    "MAX_JOBS_PER_GUILD": "1",
    "COOLDOWN_SECONDS": "0",
    "QUOTA_USER_DAILY_CREDITS": "1000",
    "QUOTA_GUILD_DAILY_CREDITS": "1000",
}
DM = 1
JOB_ID = re.compile(r"job `([a-z0-9]+)`")


# The bot allows one video in progress on the server; HOLDS generates for a long while.
pytestmark = [pytest.mark.sim(model_task_seconds={HOLDS: 300.0}), pytest.mark.bot(**LIMITS)]


async def started(fake: FakeDiscord, prompt: str, model: str, user: User | None = None) -> tuple[Message, str]:
    """Ask for a video as ``user`` (default: the default user); its status message and job id once it is shown."""
    rec = await fake.invoke_slash(
        channel_id=fake.channel().id,
        user_id=user.id if user is not None else None,
        options={"prompt": prompt, "model": model},
    )
    await rec.wait_for(lambda _call: bool(JOB_ID.search(getattr(fake.original_message(rec), "content", ""))), WAIT)
    reply = fake.original_message(rec)
    assert reply is not None
    match = JOB_ID.search(reply.content)
    assert match is not None
    job_id = match[1]
    status = await fake.wait_for_message(fake.channel().id, lambda m: footer(m) == f"Job {job_id}", timeout=WAIT)
    return status, job_id


async def waits(fake: FakeDiscord, prompt: str, user: User | None = None, model: str = FAST) -> tuple[Message, str]:
    """Ask for a video that waits in the queue: the private answer says so, the status message has Cancel."""
    rec = await fake.invoke_slash(
        channel_id=fake.channel().id,
        user_id=user.id if user is not None else None,
        options={"prompt": prompt, "model": model},
    )
    text = await private_text(fake, rec, "waits in the queue")
    assert "held now" in text and "Cancel on its status message takes it out" in text
    match = JOB_ID.search(text)
    assert match is not None
    status = await fake.wait_for_message(fake.channel().id, lambda m: footer(m) == f"Job {match[1]}", timeout=WAIT)
    assert buttons(status) == [f"reelbot:cancel:{match[1]}"]  # Cancel from the start, while it waits
    return status, match[1]


def footer(message: Message) -> str:
    return str(message.embeds[0].get("footer", {}).get("text", "")) if message.embeds else ""


def progress(fake: FakeDiscord, status: Message) -> str:
    """The Progress field of a status message as it is now."""
    embed = fake.message(status.id).embeds[0]
    return next(str(field["value"]) for field in embed["fields"] if field["name"] == "Progress")


async def shows(fake: FakeDiscord, status: Message, pattern: str) -> None:
    """Wait until the status message's progress line matches ``pattern``."""
    await eventually(lambda: re.search(pattern, progress(fake, status)) is not None, within=WAIT)


async def video_arrives(fake: FakeDiscord, status: Message) -> None:
    thread = await fake.wait_for_thread(lambda t: t.starter_message_id == status.id, timeout=WAIT)
    await fake.wait_for_message(thread.id, has_video, timeout=WAIT)


def db(tmp_path: Path, sql: str, *params: object) -> object:
    with sqlite3.connect(tmp_path / "reelbot.sqlite3") as connection:
        row = connection.execute(sql, params).fetchone()
    return row[0] if row is not None else None


def job_status(tmp_path: Path, job_id: str) -> object:
    return db(tmp_path, "SELECT status FROM jobs WHERE id = ?", job_id)


def reservation(tmp_path: Path, job_id: str) -> object:
    return db(tmp_path, "SELECT state FROM reservations WHERE job_id = ?", job_id)


def sent_prompts(sim: Simulator) -> list[str]:
    """The prompts the gateway was sent, in order."""
    return [task.prompt for task in sim.tasks]


def dms(fake: FakeDiscord, user: User) -> list[Message]:
    return [
        message
        for channel in fake.state.channels.values()
        if channel.type == DM and channel.recipient_ids == [user.id]
        for message in fake.messages(channel.id)
    ]


async def test_a_job_over_the_limit_waits_with_its_place_and_starts_in_turn_as_slots_free(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    bob = fake.create_user("bob", guild_ids=[fake.guild.id])
    blocker, blocker_id = await started(fake, "a long night", HOLDS)
    # The status message had Cancel when it was posted, before the submit (not only once the provider had it).
    (posted,) = [
        r
        for r in fake.requests_to("POST", "/channels/*/messages")
        if isinstance(r.response, dict) and str(r.response.get("id")) == str(blocker.id)
    ]
    assert f"reelbot:cancel:{blocker_id}" in str(posted.json) and "Sending to the video service" in str(posted.json)
    alice_one, _ = await waits(fake, "alice one")
    alice_two, _ = await waits(fake, "alice two")
    bob_one, bob_id = await waits(fake, "bob one", bob, model=HOLDS)
    # Bob asked last, but Alice has a video in progress and Bob none: his goes first.
    await shows(fake, bob_one, r"^waiting: position 1 of 3, about \d+ min$")
    await shows(fake, alice_one, r"^waiting: position 2 of 3, about \d+ min$")
    await shows(fake, alice_two, r"^waiting: position 3 of 3, about \d+ min$")
    assert job_status(tmp_path, bob_id) == "waiting" and reservation(tmp_path, bob_id) == "held"
    assert sent_prompts(sim) == ["a long night"]

    await cancel_started(fake, blocker, blocker_id)  # frees the slot
    await eventually(lambda: sent_prompts(sim) == ["a long night", "bob one"], within=WAIT)
    await shows(fake, bob_one, r"Queued|Generating")
    await shows(fake, alice_one, r"^waiting: position 1 of 2")  # the status messages follow the queue
    await shows(fake, alice_two, r"^waiting: position 2 of 2")

    await cancel_started(fake, bob_one, bob_id, user_id=bob.id)
    await video_arrives(fake, alice_one)
    await video_arrives(fake, alice_two)
    assert sent_prompts(sim) == ["a long night", "bob one", "alice one", "alice two"]
    assert "Traceback" not in bot.output()


async def test_a_pause_keeps_the_queue_and_a_block_drops_with_a_refund_and_a_private_notice(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    bob = fake.create_user("bob", guild_ids=[fake.guild.id])
    carol = fake.create_user("carol", guild_ids=[fake.guild.id])
    blocker, blocker_id = await started(fake, "a long night", HOLDS)
    bob_one, bob_one_id = await waits(fake, "bob one", bob)
    await admin(fake, "server pause", reason="maintenance")
    await shows(fake, bob_one, r"^waiting: position 1 of 1 · paused")
    await cancel_started(fake, blocker, blocker_id)
    await shown_cancelled(fake, blocker, fake.default_user.id)
    assert job_status(tmp_path, bob_one_id) == "waiting"  # the free slot does not start it while paused
    assert "paused" in progress(fake, bob_one) and sent_prompts(sim) == ["a long night"]
    await admin(fake, "server resume")
    await video_arrives(fake, bob_one)

    blocker, _ = await started(fake, "another long night", HOLDS)
    bob_two, bob_two_id = await waits(fake, "bob two", bob)
    fake.set_dms_open(carol.id, False)
    carol_one, carol_id = await waits(fake, "carol one", carol)
    await admin(fake, "users block", member=bob.id, reason="spam")
    await eventually(lambda: any("taken out of the queue" in m.content for m in dms(fake, bob)), within=WAIT)
    (notice,) = [m for m in dms(fake, bob) if "taken out of the queue" in m.content]
    assert bob_two_id in notice.content and "not allowed to make videos on this server" in notice.content
    assert "Its credits are back" in notice.content
    await eventually(lambda: reservation(tmp_path, bob_two_id) == "refunded", within=WAIT)
    await eventually(lambda: not fake.message(bob_two.id).components, within=WAIT)  # no Cancel on a dropped job
    assert "Video failed" in str(fake.message(bob_two.id).embeds)
    await shows(fake, carol_one, r"^waiting: position 1 of 1")  # the queue moved up

    # Carol's DMs are closed: the notice comes in her job's thread instead.
    await admin(fake, "users block", member=carol.id)
    thread = await fake.wait_for_thread(lambda t: t.starter_message_id == carol_one.id, timeout=WAIT)
    posted = await fake.wait_for_message(thread.id, lambda m: "taken out of the queue" in m.content, timeout=WAIT)
    assert f"<@{carol.id}>" in posted.content and carol_id in posted.content
    assert reservation(tmp_path, carol_id) == "refunded"
    assert sent_prompts(sim) == ["a long night", "bob one", "another long night"]
    assert "Traceback" not in bot.output()


async def test_cancelling_a_waiting_job_refunds_it_and_moves_the_queue(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    bob = fake.create_user("bob", guild_ids=[fake.guild.id])
    carol = fake.create_user("carol", guild_ids=[fake.guild.id])
    await started(fake, "a long night", HOLDS)
    bob_one, bob_id = await waits(fake, "bob one", bob)
    carol_one, _ = await waits(fake, "carol one", carol)
    await shows(fake, carol_one, r"^waiting: position 2 of 2")
    quota = await fake.invoke_slash(subcommand="quota", user_id=carol.id)
    await quota.wait_for(
        lambda _call: "waiting: you 1 · server 2" in str(getattr(fake.original_message(quota), "embeds", "")), WAIT
    )

    pressed = await fake.click_button(bob_one.id, f"reelbot:cancel:{bob_id}", user_id=bob.id)
    answer = await private_text(fake, pressed, "Cancelled")
    assert "never sent to the video provider, so its credits are back" in answer
    await shown_cancelled(fake, bob_one, bob.id)
    assert reservation(tmp_path, bob_id) == "refunded"
    await shows(fake, carol_one, r"^waiting: position 1 of 1")
    assert sent_prompts(sim) == ["a long night"]


async def test_the_queue_survives_a_sigkill(fake: FakeDiscord, sim: Simulator, tmp_path: Path) -> None:
    bob = fake.create_user("bob", guild_ids=[fake.guild.id])
    first = await start_bot(fake, sim, tmp_path, **LIMITS)
    async with first:
        blocker, blocker_id = await started(fake, "a long night", HOLDS)
        bob_one, bob_id = await waits(fake, "bob one", bob)
        await shows(fake, bob_one, r"^waiting: position 1 of 1")
        await first.kill()
    assert job_status(tmp_path, bob_id) == "waiting"
    async with await start_bot(fake, sim, tmp_path, **LIMITS) as second:
        carol = fake.create_user("carol", guild_ids=[fake.guild.id])
        carol_one, _ = await waits(fake, "carol one", carol)
        await shows(fake, carol_one, r"^waiting: position 2 of 2")  # behind Bob's, which waited through the kill
        await cancel_started(fake, blocker, blocker_id)
        await video_arrives(fake, bob_one)
        await video_arrives(fake, carol_one)
        assert sent_prompts(sim) == ["a long night", "bob one", "carol one"]
        assert reservation(tmp_path, bob_id) == "committed"
    assert "Traceback" not in second.output()
