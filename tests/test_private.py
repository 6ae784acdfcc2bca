"""The private lane's store and words: the interaction kept for any process (until it expires, is delivered or
forgotten), a server's allow/deny, the member's DM posts, and what /video status says of a private job."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import (
    DeliveryState,
    GenerationRequest,
    Job,
    JobStatus,
    NewJob,
    Orientation,
    PrivateReply,
    Transition,
    WireFormat,
)
from bot.errors import PrivateNotAllowedError
from bot.front import private, render
from bot.front.progress import final_fields
from bot.services import lifecycle
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.database import Database
from bot.storage.guilds import GuildConfig, GuildStore
from tests.helpers import FakeClock
from tests.jobs import fresh_job

GUILD, MEMBER, CHANNEL, DM = 7, 42, 9, 4242


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture
async def db(database_location: Path | str) -> AsyncIterator[Database]:
    opened = await open_database(database_location)
    try:
        yield opened
    finally:
        await opened.close()


async def add_job(store: JobStore, clock: FakeClock, *, private: bool) -> Job:
    request = GenerationRequest(prompt="a secret", model="sora-2", orientation=Orientation.LANDSCAPE, duration=8)
    new = NewJob(request=request, requester_id=MEMBER, guild_id=GUILD, channel_id=CHANNEL, private=private)
    return await store.add(lifecycle.created(new, WireFormat.OPENAI, clock.now, clock.now + 60))


async def test_the_interaction_is_kept_until_it_expires_or_is_dropped(db: Database, clock: FakeClock) -> None:
    store = JobStore(db, clock)
    job = await add_job(store, clock, private=True)
    assert job.private and (await store.get(job.id)) == job
    reply = PrivateReply(application_id=77, token="secret-token-value", expires_at=clock.now + 870)
    assert "secret-token-value" not in repr(reply)
    await store.save_private_reply(job.id, reply)
    assert await store.private_reply(job.id) == reply
    clock.advance(871)
    assert await store.private_reply(job.id) is None  # Discord refuses it now: as good as none
    await store.save_private_reply(job.id, dataclasses.replace(reply, expires_at=clock.now + 10))
    await store.drop_private_reply(job.id)
    assert await store.private_reply(job.id) is None


async def test_forget_erases_the_tokens_and_lists_the_dm_posts_and_done_jobs(db: Database, clock: FakeClock) -> None:
    store, guilds = JobStore(db, clock), GuildStore(db, clock)
    dm_job = await add_job(store, clock, private=True)
    await store.set_discord_refs(dm_job.id, status_message_id=501)
    await store.set_dm_channel(dm_job.id, DM)
    running = await add_job(store, clock, private=True)
    await store.save_private_reply(running.id, PrivateReply(77, "token-of-the-running-job", clock.now + 600))
    public = await add_job(store, clock, private=False)
    await store.set_discord_refs(public.id, thread_id=600, status_message_id=601)
    for job, channel, message in ((dm_job, DM, 502), (public, DM + 1, 602)):  # the public one by the DM fallback
        stored = await store.get(job.id)
        assert stored is not None
        done = dataclasses.replace(
            stored,
            status=JobStatus.SUCCEEDED,
            next_poll_at=None,
            delivery_state=DeliveryState.DELIVERED,
            result_message_id=message,
        )
        await store.apply(Transition(before=stored, job=done))
        await store.set_result_channel(job.id, channel)

    assert sorted(await guilds.dm_posts_of(GUILD, MEMBER)) == [(DM, 501), (DM, 502), (DM + 1, 602)]
    assert sorted(await guilds.done_jobs_of(GUILD, MEMBER)) == sorted([dm_job.id, public.id])
    assert await guilds.dm_posts_of(GUILD, MEMBER + 1) == []
    await guilds.forget_user(GUILD, MEMBER)
    assert await store.private_reply(running.id) is None


async def test_a_server_may_deny_private_videos(db: Database, clock: FakeClock) -> None:
    guilds = GuildStore(db, clock)
    assert (await guilds.config(GUILD)).private_allowed
    await guilds.set_private_allowed(GUILD, False)
    config = await guilds.config(GUILD)
    assert not config.private_allowed
    with pytest.raises(PrivateNotAllowedError, match="private by default"):
        private.check_allowed(config, by_default=True)
    with pytest.raises(PrivateNotAllowedError, match="without private: True"):
        private.check_allowed(config, by_default=False)
    private.check_allowed(GuildConfig(), by_default=True)


def test_status_says_where_a_private_video_is() -> None:
    base = Job(
        channel_id=None,
        thread_id=None,
        status_message_id=None,
        result_message_id=None,
        id="abcd2345",
        origin="discord",
        requester_id=MEMBER,
        guild_id=GUILD,
        prompt="a secret",
        model="sora-2",
        wire_format=WireFormat.OPENAI,
        orientation=Orientation.LANDSCAPE,
        duration=8,
        hd=False,
        image_count=0,
        task_id="task_1",
        status=JobStatus.SUCCEEDED,
        remote_status="completed",
        progress=100,
        created_at=1.0,
        submitted_at=1.0,
        updated_at=2.0,
        finished_at=2.0,
        next_poll_at=None,
        last_poll_at=None,
        poll_count=1,
        refresh_start=None,
        refresh_end=None,
        slow_notified=False,
        error_kind=None,
        error_message=None,
        result_path=None,
        result_bytes=None,
        delivery_state=DeliveryState.DELIVERED,
        deliver_at=None,
        delivery_attempts=1,
        maybe_delivered=False,
        delivered_at=2.0,
        private=True,
    )
    unreached = render.job_summary(base, None, private_link="https://media.example/abcd2345.mp4?sig=1")
    assert (
        "private, but it could not reach you" in unreached and "<https://media.example/abcd2345.mp4?sig=1>" in unreached
    )
    assert "bot's operator keeps it as `abcd2345.mp4`" in render.job_summary(base, None)
    by_dm = dataclasses.replace(base, channel_id=CHANNEL, result_channel_id=DM, result_message_id=5, dm_channel_id=DM)
    assert "sent to you by DM" in render.job_summary(by_dm, None)
    replied = dataclasses.replace(base, channel_id=CHANNEL, result_channel_id=CHANNEL, result_message_id=5)
    assert "sent to you in your command's private reply" in render.job_summary(replied, None)
    assert f"discord.com/channels/{GUILD}/" not in render.job_summary(replied, None)  # no public link of any kind


def test_a_result_in_the_status_reply_keeps_its_files_and_buttons_when_the_final_state_is_shown_again() -> None:
    merged = fresh_job(
        private=True,
        status=JobStatus.SUCCEEDED,
        delivery_state=DeliveryState.DELIVERED,
        status_message_id=501,
        result_message_id=501,
    )
    assert set(final_fields(merged, None)) == {"embed"}  # no view, no attachments: the result's stay
    by_dm = dataclasses.replace(merged, dm_channel_id=DM, result_message_id=502)
    assert final_fields(by_dm, None)["view"] is None
