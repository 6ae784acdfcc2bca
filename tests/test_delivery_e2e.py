"""Discord faults while delivering: each result arrives exactly once, somewhere the requester will see it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import WAIT, BotProcess, create, has_video, private_text, start_bot
from tests.fakediscord import FakeDiscord, P
from tests.helpers import eventually, free_port

pytestmark = [
    pytest.mark.sim(task_seconds=2.0),  # time to break things between the status message and the result
    pytest.mark.fake(channels=["mod-log"]),
    pytest.mark.bot(log_channel="mod-log"),
]


async def started(fake: FakeDiscord, prompt: str) -> int:
    """Start a job; return its thread's id once the thread exists."""
    rec = await create(fake, prompt=prompt, model="veo-3.1-fast-generate-preview")
    text = await private_text(fake, rec, "on its way")
    return int(text.split("<#")[1].split(">")[0])


def dm_channel(fake: FakeDiscord) -> int:
    """The id of the (only) DM channel the bot opened."""
    return next(channel.id for channel in fake.state.channels.values() if channel.type == 1)


def videos_everywhere(fake: FakeDiscord) -> int:
    """How many video posts exist in every channel, thread and DM of the fake."""
    return sum(1 for message in fake.state.messages.values() if has_video(message) and not message.deleted)


async def test_a_429_storm_on_the_post_still_posts_once(fake: FakeDiscord, bot: BotProcess) -> None:
    fault = fake.inject_rate_limit("POST", "/channels/*/messages", times=4, retry_after=0.2)
    thread = await started(fake, "storm")
    await fake.wait_for_message(thread, has_video, timeout=WAIT)
    assert fault.hits >= 1
    assert videos_everywhere(fake) == 1


@pytest.mark.parametrize("status", [502, 503])
async def test_a_lost_answer_during_upload_does_not_double_post(
    fake: FakeDiscord, bot: BotProcess, status: int
) -> None:
    thread = await started(fake, "lost answer")
    # The upload goes through, but the answer is lost; discord.py retries a 502 itself and gives up on a 503
    # at once, so the bot's own retry (which looks for its earlier post first) takes over.
    fake.inject_lost_response("POST", f"/channels/{thread}/messages", status=status, times=1)
    await fake.wait_for_message(thread, has_video, timeout=WAIT)
    await fake.wait_for_request("PATCH", f"/channels/*/messages/{thread}", timeout=WAIT)  # status marked done
    assert videos_everywhere(fake) == 1


async def test_an_archived_thread_is_reopened(fake: FakeDiscord, bot: BotProcess) -> None:
    fake.archived_thread_policy = "reject"  # posting into an archived thread fails until it is reopened
    thread = await started(fake, "archived")
    fake.archive_thread(thread)
    await fake.wait_for_message(thread, has_video, timeout=WAIT)
    assert not fake.channel(thread).archived
    assert videos_everywhere(fake) == 1


async def test_a_locked_thread_the_bot_cannot_reopen_means_posting_in_the_channel(
    fake: FakeDiscord, bot: BotProcess
) -> None:
    thread = await started(fake, "locked")
    fake.archive_thread(thread, locked=True)  # reopening a locked thread needs Manage Threads, which the bot lacks
    await fake.wait_for_message(fake.channel().id, has_video, timeout=WAIT)
    assert videos_everywhere(fake) == 1


async def test_a_deleted_thread_means_posting_in_the_channel(fake: FakeDiscord, bot: BotProcess) -> None:
    thread = await started(fake, "thread gone")
    fake.delete_channel(thread)
    posted = await fake.wait_for_message(fake.channel().id, has_video, timeout=WAIT)
    assert posted.content.startswith(f"<@{fake.default_user.id}>")
    assert videos_everywhere(fake) == 1


async def test_a_deleted_channel_means_a_dm_to_the_requester(fake: FakeDiscord, bot: BotProcess) -> None:
    channel = fake.channel().id
    thread = await started(fake, "channel gone")
    fake.delete_channel(thread)
    fake.delete_channel(channel)
    await fake.wait_for_request("POST", "/users/@me/channels", timeout=WAIT)
    dm = await fake.wait_for_message(dm_channel(fake), has_video, timeout=WAIT)
    assert "your video is ready" in dm.content
    assert videos_everywhere(fake) == 1


async def test_missing_attach_files_is_reported_and_the_video_still_arrives(fake: FakeDiscord, bot: BotProcess) -> None:
    thread = await started(fake, "no attachments")
    fake.set_bot_permissions(fake.channel().id, deny=P.ATTACH_FILES)
    await fake.wait_for_request("POST", "/users/@me/channels", timeout=WAIT)
    dm = await fake.wait_for_message(dm_channel(fake), has_video, timeout=WAIT)
    assert "missing permissions there" in dm.content  # the requester is told why it comes by DM
    notice = await fake.wait_for_message(
        fake.channel(name="mod-log").id, lambda m: "missing permission" in str(m.embeds), timeout=WAIT
    )
    assert "Attach Files" in str(notice.embeds)
    assert not [m for m in fake.messages(thread) if has_video(m)]
    assert videos_everywhere(fake) == 1


async def test_metrics_count_what_happened_and_health_is_reported(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    port = free_port()
    async with await start_bot(fake, sim, tmp_path, METRICS_LISTEN=f"127.0.0.1:{port}"):
        for prompt in ("fine", "please FAIL"):
            thread = await started(fake, prompt)
            await fake.wait_for_message(thread, lambda m: has_video(m) or "failed" in m.content, timeout=WAIT)
        async with aiohttp.ClientSession() as session:
            text = ""

            async def both_delivered() -> bool:
                nonlocal text
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    text = await response.text()
                return "reelbot_delivery_lag_seconds_count 2.0" in text

            await eventually(both_delivered, within=WAIT)
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                health = await response.json()
                status = response.status

    assert 'reelbot_jobs_submitted_total{model="veo-3.1-fast-generate-preview"} 2.0' in text
    assert 'reelbot_jobs_finished_total{model="veo-3.1-fast-generate-preview",outcome="succeeded"} 1.0' in text
    assert 'reelbot_jobs_finished_total{model="veo-3.1-fast-generate-preview",outcome="generation_failed"} 1.0' in text
    assert 'reelbot_deliveries_total{result="posted"} 1.0' in text
    assert 'reelbot_deliveries_total{result="notice"} 1.0' in text
    assert "reelbot_credits_spent_total 12.0" in text  # one 8-second Veo 3.1 Fast video; the failure was refunded
    assert "reelbot_polls_total" in text and "reelbot_delivery_lag_seconds_count 2.0" in text
    assert status == 200 and health["ok"] is True
    assert set(health["checks"]) == {"discord", "database", "gateway", "services"}


async def test_old_results_are_removed_at_start(fake: FakeDiscord, sim: Simulator, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    old, recent = results / "oldjob01.mp4", results / "newjob01.mp4"
    for path in (old, recent):
        path.write_bytes(b"\0" * 1000)
    forty_days_ago = time.time() - 40 * 86400
    os.utime(old, (forty_days_ago, forty_days_ago))
    async with await start_bot(fake, sim, tmp_path, RETENTION_DAYS="30"):
        await eventually(lambda: not old.exists(), within=WAIT)  # the sweep runs in the bot's process
    assert recent.exists()
