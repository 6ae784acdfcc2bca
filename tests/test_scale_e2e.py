"""Several bot processes on one database: fronts answer Discord, workers deliver over REST, and a crash loses nothing.

Every process is the real `python -m bot` against the fake Discord and the gateway simulator; they share one
database (a SQLite file in WAL mode, or PostgreSQL), and only the database tells them of each other's jobs.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.gateway import Simulator
from bot.domain import DeliveryState, Job, JobStatus
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.guilds import GuildStore, LedgerKind
from tests.botproc import WAIT, BotProcess, bot_env, has_video, private_text, start_worker
from tests.fakediscord import Channel, FakeDiscord, GuildSpec
from tests.fakediscord.util import shard_of
from tests.helpers import body_failed, database_env, eventually, free_port

pytestmark = pytest.mark.sim(task_seconds=4.0)  # jobs long enough to be under way when a process dies

MODEL = "veo-3.1-fast-generate-preview"
SHARDS = 2
SERVERS = 4  # two on each shard
# Four servers, two on each of the two shards, each with a #general.
SHARDED = [GuildSpec(name=f"Server {n}", shard=(n % SHARDS, SHARDS)) for n in range(SERVERS)]
# Commands registered globally (no development guild), so that every server has them.
GLOBAL = {"DISCORD_DEV_GUILD_ID": "", "MAX_JOBS_PER_USER": "4"}


@pytest.fixture
def logs(request: pytest.FixtureRequest) -> Iterator[list[BotProcess]]:
    """The test's processes, whose output is shown if it fails."""
    started: list[BotProcess] = []
    yield started
    if body_failed(request):
        for proc in started:
            sys.stderr.write(f"--- {proc.log_path.name} ---\n{proc.output()[-15000:]}\n")


@contextlib.asynccontextmanager
async def stores(location: Path | str) -> AsyncIterator[tuple[JobStore, GuildStore]]:
    """The test's own view of the database the processes share (opened once they have migrated it)."""
    db = await open_database(location)
    try:
        yield JobStore(db, time.time), GuildStore(db, time.time)
    finally:
        await db.close()


async def start_front(fake: FakeDiscord, sim: Simulator, tmp_path: Path, name: str, **env: str) -> BotProcess:
    """Start a bot process with a gateway connection (one shard); return once it is connected (its set-up done)."""
    before = len(fake.gateway.live_sessions())
    proc = await BotProcess(bot_env(fake, sim, tmp_path, **GLOBAL, **env), tmp_path, name=name).start()
    await fake.state.changed.wait_for(
        lambda: len(fake.gateway.live_sessions()) > before or None, WAIT, f"{name} connected"
    )
    return proc


@contextlib.asynccontextmanager
async def front_and_workers(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, logs: list[BotProcess], *names: str, **worker_env: str
) -> AsyncIterator[tuple[list[BotProcess], JobStore, GuildStore]]:
    """A front that only answers Discord and workers (one per name) on one SQLite file, with the test's view of it."""
    front = await start_front(fake, sim, tmp_path, "front", PROCESS_ROLE="front")
    logs.append(front)
    async with contextlib.AsyncExitStack() as running:
        await running.enter_async_context(front)
        workers = [
            await running.enter_async_context(await start_worker(fake, sim, tmp_path, name, **GLOBAL, **worker_env))
            for name in names
        ]
        logs.extend(workers)
        store, guilds = await running.enter_async_context(stores(tmp_path / "reelbot.sqlite3"))
        yield workers, store, guilds


async def started(fake: FakeDiscord, channel: Channel, prompt: str) -> tuple[str, int]:
    """Start a job in ``channel``; return its id and its thread's id once it is on its way."""
    rec = await fake.invoke_slash(channel_id=channel.id, options={"prompt": prompt, "model": MODEL})
    text = await private_text(fake, rec, "on its way")
    return text.split("job `")[1].split("`")[0], int(text.split("<#")[1].split(">")[0])


def videos_everywhere(fake: FakeDiscord) -> int:
    """How many video posts exist in every channel, thread and DM of the fake."""
    return sum(1 for message in fake.state.messages.values() if has_video(message) and not message.deleted)


async def all_delivered(fake: FakeDiscord, store: JobStore, jobs: dict[str, int]) -> None:
    """Wait until every job's video is in its thread, its status message says it is done, and the store agrees."""
    for thread_id in jobs.values():
        await fake.wait_for_message(thread_id, has_video, timeout=WAIT)
    statuses = [fake.message(fake.channel(thread_id).starter_message_id or 0) for thread_id in jobs.values()]
    await eventually(lambda: all("Done" in str(status.embeds) for status in statuses), WAIT)

    async def recorded() -> bool:
        found = [await store.get(job_id) for job_id in jobs]
        return all(job is not None and job.delivery_state is DeliveryState.DELIVERED for job in found)

    # A job whose deliverer died after posting is recorded once its lease has passed and another process found the post.
    await eventually(recorded, WAIT)


async def assert_charged_once(fake: FakeDiscord, store: JobStore, guilds: GuildStore, jobs: dict[str, int]) -> None:
    """Each job succeeded, was delivered once, and its credits were reserved once and committed once."""
    for job_id in jobs:
        job = await store.get(job_id)
        assert job is not None and job.guild_id is not None
        assert (job.status, job.delivery_state) == (JobStatus.SUCCEEDED, DeliveryState.DELIVERED)
        ledger = await guilds.ledger(job.guild_id, fake.default_user.id)
        assert [row.kind for row in ledger if row.job_id == job_id] == [LedgerKind.RESERVE, LedgerKind.COMMIT]
        assert [row.credits for row in ledger if row.job_id == job_id] == [12.0, 12.0]  # 8 s at 1.5 per second
    for thread_id in jobs.values():
        assert sum(has_video(m) for m in fake.messages(thread_id)) == 1
    assert videos_everywhere(fake) == len(jobs)


async def counted_delivery(port: int) -> bool:
    """Whether the process serving /metrics on ``port`` answers in Prometheus text and has counted one delivery."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain", text
    assert "# TYPE reelbot_deliveries_total counter" in text
    return "reelbot_delivery_lag_seconds_count 1.0" in text


async def test_a_front_starts_the_job_and_a_worker_without_a_gateway_delivers_it(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, logs: list[BotProcess]
) -> None:
    port = free_port()
    processes = front_and_workers(fake, sim, tmp_path, logs, "worker", METRICS_LISTEN=f"127.0.0.1:{port}")
    async with processes as ([worker], store, guilds):
        front = logs[0]
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
            health = await response.json()
        assert response.status == 200, health
        assert health["checks"]["discord"] == {"ok": True, "detail": "logged in over REST (worker)"}

        jobs = dict([await started(fake, fake.channel(), "a front and a worker")])
        await all_delivered(fake, store, jobs)
        await eventually(lambda: counted_delivery(port), WAIT)  # the worker's own metrics count its delivery
        (job_id,) = jobs
        await eventually(lambda: f"Job {job_id}: delivered" in worker.output())
        assert f"Job {job_id}: delivered" not in front.output() and "result saved" not in front.output()
        assert len(fake.gateway.sessions) == 1  # the worker never opened a gateway session
        await assert_charged_once(fake, store, guilds, jobs)
        assert await worker.terminate(within=10.0) == 0


@pytest.mark.sim(task_seconds=0.3)
async def test_a_worker_waits_for_the_front_to_open_the_thread(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, logs: list[BotProcess]
) -> None:
    async with front_and_workers(fake, sim, tmp_path, logs, "worker") as ([worker], store, _guilds):
        # Discord holds the front's thread back for 2 s; the video is ready well before, at the worker.
        fake.inject_rate_limit("POST", re.compile(r"/channels/\d+/messages/\d+/threads$"), retry_after=2.0)
        jobs = dict([await started(fake, fake.channel(), "a thread held back")])
        await all_delivered(fake, store, jobs)
        # The worker waited for the thread (the front stored when it was done showing the job): the video is there.
        assert videos_everywhere(fake) == 1
        assert f"Job {next(iter(jobs))}: delivered" in worker.output()


async def test_a_worker_falls_back_to_the_requesters_dms_over_rest(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, logs: list[BotProcess]
) -> None:
    front = await start_front(fake, sim, tmp_path, "front", PROCESS_ROLE="front")
    logs.append(front)
    async with front, await start_worker(fake, sim, tmp_path, **GLOBAL) as worker:
        logs.append(worker)
        channel = fake.channel()
        _, thread = await started(fake, channel, "the thread and the channel go")
        fake.delete_channel(thread)
        fake.delete_channel(channel.id)
        await fake.wait_for_request("POST", "/users/@me/channels", timeout=WAIT)  # the worker opens the DM
        dm = next(c.id for c in fake.state.channels.values() if c.type == 1)
        posted = await fake.wait_for_message(dm, has_video, timeout=WAIT)
        assert "I could not post this" in posted.content
        assert videos_everywhere(fake) == 1


async def test_a_worker_with_a_token_discord_refuses_says_so(fake: FakeDiscord, sim: Simulator, tmp_path: Path) -> None:
    env = bot_env(fake, sim, tmp_path, DISCORD_TOKEN="not-the-token")
    async with BotProcess(env, tmp_path, name="worker", args=["worker"]) as worker:
        assert await worker.wait() == 2
    assert "Discord rejected DISCORD_TOKEN" in worker.output()
    assert "not-the-token" not in worker.output() and "Traceback" not in worker.output()


@pytest.mark.fake(guilds=SHARDED, recommended_shards=SHARDS)
async def test_two_shards_and_a_worker_deliver_every_job_once_when_a_shard_is_killed_mid_job(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, database_location: Path | str, logs: list[BotProcess]
) -> None:
    shared = database_env(database_location)
    shard = {"DISCORD_SHARD_COUNT": str(SHARDS), **shared}
    zero = await start_front(fake, sim, tmp_path, "shard-0", DISCORD_SHARD_IDS="0", **shard)  # registers the commands
    logs.append(zero)
    async with (
        zero,
        await start_worker(fake, sim, tmp_path, **GLOBAL, **shared) as worker,
        stores(database_location) as (store, guilds),
    ):
        logs.append(worker)
        one = await start_front(fake, sim, tmp_path, "shard-1", DISCORD_SHARD_IDS="1", **shard)
        logs.append(one)
        async with one:
            # Each interaction goes to the process of its server's shard: two jobs on each process.
            jobs = dict([await started(fake, channel, f"first in {channel.id}") for channel in generals(fake)])

            async def holds_one() -> bool:
                return bool(await held_by(store, jobs, one))

            await eventually(holds_one, WAIT)  # leases pass between the processes as polls fall due: wait for one
            await one.kill()  # its jobs are under way (each takes 4 s), some leased to it
        held = await held_by(store, jobs, one)  # what the database says it held when it died
        assert held, "the killed process held no job's lease when it died"
        assert sum(has_video(m) for thread in jobs.values() for m in fake.messages(thread)) < len(jobs)
        # Shard 0's process and the worker deliver everything, the killed process's jobs too, and take new ones.
        on_zero = [channel for channel in generals(fake) if shard_of(channel.guild_id, SHARDS) == 0]
        jobs |= dict([await started(fake, channel, f"then in {channel.id}") for channel in on_zero])
        await all_delivered(fake, store, jobs)
        await assert_charged_once(fake, store, guilds, jobs)
        for job_id in held:  # once each, by one of the others
            assert [f"Job {job_id}: delivered" in proc.output() for proc in (zero, worker)].count(True) == 1, job_id


async def held_by(store: JobStore, jobs: dict[str, int], proc: BotProcess) -> list[str]:
    """The jobs whose lease names ``proc`` (holders are host:pid:random) in the database."""
    assert proc.proc is not None
    found = [await store.get(job_id) for job_id in jobs]
    return [job.id for job in found if job is not None and f":{proc.proc.pid}:" in (job.lease_holder or "")]


def generals(fake: FakeDiscord) -> list[Channel]:
    """The #general channel of each server."""
    return [fake.state.text_channels(guild.id)[0] for guild in fake.guilds]


@pytest.mark.sim(task_seconds=0.3)
async def test_a_delivery_that_outlasts_its_lease_is_posted_once_by_one_of_two_workers(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, logs: list[BotProcess]
) -> None:
    async with front_and_workers(fake, sim, tmp_path, logs, "worker-a", "worker-b") as (workers, store, _guilds):
        # Discord holds the front's thread back: each delivery waits for it, far longer than its 2 s lease.
        thread_held = fake.hold_requests("POST", re.compile(r"/channels/\d+/messages/\d+/threads$"))
        rec = await fake.invoke_slash(channel_id=fake.channel().id, options={"prompt": "a long wait", "model": MODEL})

        async def claimed() -> Job | None:
            jobs = await store.list_by_requester(fake.guild.id, fake.default_user.id)
            return next((job for job in jobs if job.delivery_state is DeliveryState.DELIVERING), None)

        async def is_claimed() -> bool:
            return await claimed() is not None

        await eventually(is_claimed, WAIT)
        first = await claimed()
        assert first is not None and first.deliver_at is not None and first.lease_holder is not None
        lease_ends = first.deliver_at  # JOB_LEASE_SECONDS is 2 in tests

        async def renewed_past_its_first_lease() -> bool:
            job = await store.get(first.id)
            return job is not None and job.deliver_at is not None and job.deliver_at >= lease_ends + 2.0

        await eventually(renewed_past_its_first_lease, WAIT)
        thread_held.released.set()
        text = await private_text(fake, rec, "on its way")
        thread_id = int(text.split("<#")[1].split(">")[0])
        await all_delivered(fake, store, {first.id: thread_id})
        done = await store.get(first.id)
        assert done is not None
        assert (done.lease_holder, done.delivery_attempts) == (first.lease_holder, 1)  # never taken over
        assert videos_everywhere(fake) == 1
        outputs = [worker.output() for worker in workers]
        assert sum(f"Job {first.id}: delivered" in output for output in outputs) == 1
        assert not any("stopped without posting" in output for output in outputs)
