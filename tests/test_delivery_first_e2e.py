"""Delivery never waits behind cosmetics: under Discord's rate limits the result post goes first, and a status
message edit waiting for its bucket holds no delivery slot."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.devtools.gateway import Simulator, SimulatorConfig
from bot.domain import DeliveryState, Job, JobStatus, NewJob
from bot.engine import Engine
from bot.front import render
from bot.front.progress import StatusEditor
from bot.services.poller import DELIVERY_CONCURRENCY
from tests.botproc import BotProcess, bot_env, has_video
from tests.fakediscord import MESSAGE_EDIT, FakeDiscord
from tests.helpers import Deliveries, body_failed
from tests.jobs import fresh_job

WAIT = 60.0
JOBS = DELIVERY_CONCURRENCY + 2  # more finished jobs than delivery slots
HOUR = 3600.0


async def test_deliveries_do_not_hold_their_slots_while_they_settle(engine: Engine, sim: Simulator) -> None:
    deliveries, released, all_settled = Deliveries(), asyncio.Event(), asyncio.Event()
    settled: list[str] = []

    async def settle(job: Job, message_id: int | None) -> None:
        await released.wait()  # as a status edit waiting for an exhausted bucket would
        settled.append(job.id)
        if len(settled) == JOBS:
            all_settled.set()

    poller = engine.poller(origin="discord", deliver=deliveries, settle=settle)
    request = engine.jobs.build_request(prompt="slot", model="veo-3.1-fast-generate-preview")
    jobs = [await engine.jobs.submit(NewJob(request=request)) for _ in range(JOBS)]
    running = asyncio.create_task(poller.run())
    try:
        for job in jobs:
            await deliveries.wait_for(job.id)  # every one is handed over while none has settled
        stored = [await engine.store.get(job.id) for job in jobs]
        assert all(s is not None and s.delivery_state is DeliveryState.DELIVERING for s in stored)
        released.set()
        await asyncio.wait_for(all_settled.wait(), timeout=30)
        await poller.drain(grace=30)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    stored = [await engine.store.get(job.id) for job in jobs]
    assert all(s is not None and s.delivery_state is DeliveryState.DELIVERED for s in stored)
    assert sorted(len(deliveries.of(job.id)) for job in jobs) == [1] * JOBS


class ShiftedClock:
    """The simulator's clock, moved forward on demand: every task finishes at the moment of the jump."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return asyncio.get_running_loop().time() + self.shift


@pytest.fixture
async def held_sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Simulator, ShiftedClock]]:
    """A simulator whose tasks run for an hour unless its clock is moved."""
    clock = ShiftedClock()
    media = tmp_path_factory.getbasetemp() / "sim-media"
    config = SimulatorConfig(tick_seconds=0, task_seconds=HOUR, media_dir=str(media))
    async with Simulator(config, clock=clock) as simulator:
        yield simulator, clock


async def test_results_are_posted_while_the_channels_edit_bucket_is_exhausted(
    held_sim: tuple[Simulator, ShiftedClock], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    sim, clock = held_sim
    async with FakeDiscord() as fake:
        env = bot_env(fake, sim, tmp_path, MAX_JOBS_PER_USER="0", MAX_JOBS_PER_GUILD="0", QUOTA_USER_DAILY_CREDITS="0")
        async with BotProcess(env, tmp_path) as bot:
            try:
                await fake.wait_for_request("PUT", "*/guilds/*/commands", timeout=WAIT)
                await fake.wait_connected(timeout=WAIT)
                channel = fake.channel().id
                records = [
                    await fake.invoke_slash(
                        channel_id=channel, options={"prompt": f"job {n}", "model": "veo-3.1-fast-generate-preview"}
                    )
                    for n in range(JOBS)
                ]
                await fake.state.changed.wait_for(
                    lambda: (len(fake.threads()) == JOBS and all(len(r.responses) >= 2 for r in records)) or None,
                    WAIT,
                    "every job set up",
                )
                # Other traffic used up the parent channel's edit budget for an hour: no status edit can go.
                fake.rate_limits.exhaust(*MESSAGE_EDIT, str(channel), HOUR)
                edits_before = len(fake.requests_to("PATCH", f"/channels/{channel}/messages/*"))
                clock.shift = HOUR  # every task finishes now

                for thread in fake.threads():
                    await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
                done = [m for m in fake.messages(channel) if "Open the video" in str(m.embeds)]
                edited = [
                    r for r in fake.requests_to("PATCH", f"/channels/{channel}/messages/*")[edits_before:] if r.status
                ]
                assert done == [] and all(r.status == 429 for r in edited)  # every result out, no status edit yet
                assert sorted(sum(has_video(m) for m in fake.messages(t.id)) for t in fake.threads()) == [1] * JOBS
            finally:
                if body_failed(request):
                    sys.stderr.write(f"--- bot log ---\n{bot.output()[-20000:]}\n")


async def test_queued_edits_of_one_status_message_reach_discord_as_the_latest_only() -> None:
    saved = discord.http.Route.BASE
    async with FakeDiscord(token="coalesce-token") as fake:
        discord.http.Route.BASE = fake.rest_base
        client = discord.Client(intents=discord.Intents.none())
        await client.login("coalesce-token")
        try:
            channel = fake.channel().id
            status = await client.get_partial_messageable(channel).send("status")
            editor = StatusEditor(client)

            def running(progress: int) -> Job:
                return fresh_job(
                    id="coal1234",
                    origin="discord",
                    channel_id=channel,
                    status_message_id=status.id,
                    status=JobStatus.RUNNING,
                    remote_status="in_progress",
                    progress=progress,
                    submitted_at=900.0,
                )

            for progress in range(10, 100, 10):
                await editor.on_change(running(progress), became_slow=False)
            await editor.edit_due()
            for progress in (91, 92, 93):  # within the job's edit interval: kept, not sent
                await editor.on_change(running(progress), became_slow=False)
            await editor.edit_due()
            finished = running(100)
            final = render.status_embed(finished, result_link="https://discord.test/r")
            await asyncio.gather(editor.finish(finished, embed=final), editor.edit_due())
        finally:
            await client.close()
            discord.http.Route.BASE = saved
        edits = fake.requests_to("PATCH", f"/channels/{channel}/messages/{status.id}")
        shown = [str(r.json["embeds"][0]["fields"]) for r in edits]
        assert len(edits) == 2 and "90%" in shown[0] and "Open the video" in shown[1]
        assert fake.rate_limits.hits == []
