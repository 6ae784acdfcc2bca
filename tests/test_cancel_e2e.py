"""Cancel, pressed on the fake Discord: before the provider has a job, once it has started it, and after a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import WAIT, BotProcess, create, has_video, private_text, start_bot
from tests.fakediscord import FakeDiscord, Message, P
from tests.helpers import eventually

SLOW = "veo-3.1-generate-preview"  # generating for a while: long enough to be cancelled
SLOWER = "veo3.1-fast"  # generating long enough for a restart as well
FAST = "veo-3.1-fast-generate-preview"
MODERATOR = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.MANAGE_MESSAGES
LIMITS = {"MAX_JOBS_PER_USER": "1", "QUOTA_USER_DAILY_CREDITS": "1000", "QUOTA_GUILD_DAILY_CREDITS": "1000"}

# The bot allows one video in progress per member, its audit log in #reelbot-log; the SLOW models take a while.
pytestmark = [
    pytest.mark.fake(channels=["reelbot-log"]),
    pytest.mark.sim(model_task_seconds={SLOW: 12.0, SLOWER: 300.0}),
    pytest.mark.bot(log_channel="reelbot-log", owner=True, **LIMITS),
]


def buttons(message: Message) -> list[str]:
    return [component["custom_id"] for row in message.components for component in row["components"]]


async def generating(fake: FakeDiscord, prompt: str, model: str = SLOW) -> tuple[Message, str]:
    """Start a slow job; return its status message once it carries the Cancel button, and the job id."""
    rec = await create(fake, prompt=prompt, model=model)
    await private_text(fake, rec, "on its way")
    status = await fake.wait_for_message(
        fake.channel().id, lambda m: any(b.startswith("reelbot:cancel:") for b in buttons(m)), timeout=WAIT
    )
    return status, status.embeds[0]["footer"]["text"].removeprefix("Job ")


async def cancel_started(
    fake: FakeDiscord, status: Message, job_id: str, user_id: int | None = None, permissions: int | None = None
) -> tuple[str, Message]:
    """Press Cancel, read the warning that the credits stay spent, confirm; return the final private answer and
    the question with the confirm button."""
    asked = await fake.click_button(
        status.id, f"reelbot:cancel:{job_id}", user_id=user_id, member_permissions=permissions
    )
    warning = await private_text(fake, asked, "already started")
    assert "credits stay spent" in warning
    question = fake.original_message(asked)
    assert question is not None and buttons(question) == [f"reelbot:cancelsent:{job_id}"]
    confirmed = await fake.click_button(
        question.id, f"reelbot:cancelsent:{job_id}", user_id=user_id, member_permissions=permissions
    )
    return await private_text(fake, confirmed, "Cancelled"), question


async def shown_cancelled(fake: FakeDiscord, status: Message, user_id: int) -> Message:
    """Wait until the status message says who cancelled and has lost its Cancel button."""
    return await fake.wait_for_message(
        fake.channel().id,
        lambda m: m.id == status.id and f"Cancelled by <@{user_id}>" in str(m.embeds) and not m.components,
        timeout=WAIT,
    )


def ledger(tmp_path: Path, job_id: str) -> tuple[str, int]:
    """The job's reservation state and the strikes on record, as the bot's database holds them."""
    with sqlite3.connect(tmp_path / "reelbot.sqlite3") as db:
        (state,) = db.execute("SELECT state FROM reservations WHERE job_id = ?", (job_id,)).fetchone()
        (strikes,) = db.execute("SELECT COUNT(*) FROM strikes").fetchone()
    return str(state), int(strikes)


async def made(fake: FakeDiscord, prompt: str) -> None:
    """Start a FAST job and wait for its video in its own thread."""
    await private_text(fake, await create(fake, prompt=prompt, model=FAST), "on its way")
    thread = await fake.wait_for_thread(lambda t: (t.name or "").startswith(prompt), timeout=WAIT)
    await fake.wait_for_message(thread.id, has_video, timeout=WAIT)


async def test_a_generating_job_cancelled_is_never_posted_and_its_credits_are_spent_without_a_strike(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    status, job_id = await generating(fake, "a slow sunrise")
    thread = await fake.wait_for_thread(lambda t: t.starter_message_id == status.id, timeout=WAIT)
    stranger = fake.create_user("stranger", guild_ids=[fake.guild.id])
    refused = await fake.click_button(status.id, f"reelbot:cancel:{job_id}", user_id=stranger.id, member_permissions=0)
    await private_text(fake, refused, "Only the person who asked for this video, or a moderator, can cancel it")

    answer, _ = await cancel_started(fake, status, job_id)
    assert "credits stay spent" in answer and "nothing will be posted" in answer
    shown = await shown_cancelled(fake, status, fake.default_user.id)
    assert "credits were spent" in str(shown.embeds)
    assert ledger(tmp_path, job_id) == ("committed", 0)
    logged = await fake.wait_for_message(
        fake.channel(name="reelbot-log").id, lambda m: "cancelled by" in str(m.embeds), timeout=WAIT
    )
    assert job_id in str(logged.embeds) and "spent" in str(logged.embeds)
    status_reply = await fake.invoke_slash(subcommand="status", options={"job": job_id})
    assert f"Cancelled by <@{fake.default_user.id}>" in await private_text(fake, status_reply, "Cancelled")

    # The slot is free at once (one video at a time here), and a later job still arrives...
    await made(fake, "a quick sunset")
    # ...also after the gateway finished the cancelled one: it is neither fetched nor posted.
    task = next(task for task in sim.tasks if task.model == SLOW)
    await eventually(lambda: sim.now() >= task.created + task.run_seconds + 1, within=WAIT)
    await made(fake, "a quick moonrise")
    assert task.downloads == 0
    assert not [m for m in fake.messages(thread.id) if has_video(m) or job_id in m.content]


async def test_cancel_still_works_after_a_restart_and_moderators_may_press_it(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    first = await start_bot(fake, sim, tmp_path, **LIMITS)
    async with first:
        status, job_id = await generating(fake, "a restart in the rain", SLOWER)
        assert await first.terminate() == 0
    moderator = fake.create_user("moderator", guild_ids=[fake.guild.id])
    async with await start_bot(fake, sim, tmp_path, **LIMITS) as second:
        _, question = await cancel_started(fake, status, job_id, user_id=moderator.id, permissions=MODERATOR)
        shown = await shown_cancelled(fake, status, moderator.id)
        assert "Generating" not in str(shown.embeds)
        assert ledger(tmp_path, job_id) == ("committed", 0)
        again = await fake.click_button(question.id, f"reelbot:cancelsent:{job_id}")
        await private_text(fake, again, f"already cancelled by <@{moderator.id}>")
        await made(fake, "after the restart")  # the slot the cancelled job held is free
    assert "Traceback" not in second.output()
