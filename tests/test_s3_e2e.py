"""The real bot with its results in a bucket (moto's S3 server on loopback), the fake Discord and the simulator:
results are uploaded, a video too large to attach is linked by a presigned URL that serves it, Delete removes the
objects, and a process that lacks a result fetches it from the bucket to attach it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.gateway import Simulator
from bot.domain import JobStatus
from bot.front.results import ResultFiles
from bot.media.ffmpeg import Encoder
from bot.media.store import open_media_store
from bot.settings import Settings
from tests.botproc import WAIT, create, delivered, has_video, private_text, start_bot
from tests.fakediscord import Channel, FakeDiscord, Message
from tests.helpers import engine_env, eventually
from tests.jobs import fresh_job
from tests.media_samples import make_clip
from tests.s3server import SECRET_ACCESS_KEY, bucket_env, gate, keys, new_bucket, object_bytes

NO_FFMPEG = {"IMAGEIO_FFMPEG_EXE": "/nonexistent/ffmpeg"}
LINK_INTRO = "here (the link works for a few days): "


@pytest.fixture
async def bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket."""
    return await new_bucket(s3_endpoint)


async def test_a_result_too_large_to_attach_is_linked_by_a_presigned_url_that_serves_it(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    sim.faults.oversize(size_bytes=11 * 1024 * 1024)
    async with await start_bot(fake, sim, tmp_path, **NO_FFMPEG, **bucket_env(s3_endpoint, bucket)):
        rec = await create(fake, prompt="huge", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        posted = await fake.wait_for_message(thread.id, lambda m: LINK_INTRO in m.content, timeout=WAIT)
        link = posted.content.split(LINK_INTRO)[1].strip()
        job_id = posted.content.split("`")[1]
        assert link.startswith(f"{s3_endpoint}/{bucket}/{job_id}.mp4?") and "X-Amz-Signature=" in link
        async with aiohttp.ClientSession() as session, session.get(link) as response:
            assert response.status == 200 and response.content_type == "video/mp4"
            body = await response.read()
    downloaded = (tmp_path / "results" / f"{job_id}.mp4").read_bytes()
    assert len(body) == 11 * 1024 * 1024 and body == downloaded
    assert await object_bytes(s3_endpoint, bucket, f"{job_id}.mp4") == body
    assert not has_video(posted)


async def test_a_posted_result_is_uploaded_and_delete_removes_its_objects(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    async with await start_bot(fake, sim, tmp_path, **bucket_env(s3_endpoint, bucket)) as proc:
        rec = await create(fake, prompt="keep me in the bucket", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
        job_id = result.content.split("`")[1]
        task = next(iter(sim.tasks))
        stored = await keys(s3_endpoint, bucket)
        assert {f"{job_id}.mp4", f"{job_id}.poster.jpg"} <= stored
        assert await object_bytes(s3_endpoint, bucket, f"{job_id}.mp4") == sim.video_of(task.task_id)

        click = await fake.click_button(result.id, f"reelbot:delete:{job_id}")
        await private_text(fake, click, "deleted")

        async def gone() -> bool:
            return not any(key.startswith(f"{job_id}.") for key in await keys(s3_endpoint, bucket))

        await eventually(gone, within=WAIT)
    assert not list((tmp_path / "results").glob(f"{job_id}.*"))
    assert f"{job_id}.mp4 uploaded to the bucket {bucket}" in proc.output()
    assert SECRET_ACCESS_KEY not in proc.output()


async def test_a_process_without_the_result_attaches_the_one_in_the_bucket(
    sim: Simulator, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    clip = make_clip(tmp_path / "clips", seconds=1, width=320, height=240, audio=False)
    env = engine_env(sim, tmp_path, **bucket_env(s3_endpoint, bucket))
    here = Settings.from_env({**env, "RESULTS_DIR": str(tmp_path / "downloader")}, need_discord=False)
    there = Settings.from_env({**env, "RESULTS_DIR": str(tmp_path / "deliverer")}, need_discord=False)
    job = dataclasses.replace(
        fresh_job(), status=JobStatus.SUCCEEDED, result_path=str(tmp_path / "downloader" / "abcd2345.mp4")
    )
    async with open_media_store(here) as downloader:
        downloader.working_dir.mkdir(parents=True)
        (downloader.working_dir / "abcd2345.mp4").write_bytes(clip.read_bytes())
        await downloader.publish(job.id, downloader.working_dir / "abcd2345.mp4")
    (tmp_path / "downloader" / "abcd2345.mp4").unlink()  # another machine: its folder is not shared
    async with open_media_store(there) as deliverer:
        prepared = await ResultFiles(Encoder(), deliverer, 3600).prepare(job, limit_bytes=10 * 1024 * 1024)
    assert prepared.kind == "posted"
    assert prepared.video == tmp_path / "deliverer" / "abcd2345.mp4"
    assert prepared.video.read_bytes() == clip.read_bytes()
    assert prepared.poster is not None and prepared.poster.parent == tmp_path / "deliverer"
    assert "abcd2345.poster.jpg" in await keys(s3_endpoint, bucket)  # made here once, shared with the others


async def test_video_show_brings_a_result_this_machine_lacks_from_the_bucket(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    async with await start_bot(fake, sim, tmp_path, **bucket_env(s3_endpoint, bucket)):
        rec = await create(fake, prompt="show me from the bucket", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
        job_id = result.content.split("`")[1]
        await eventually(lambda: delivered(tmp_path, job_id), WAIT)
        for path in (tmp_path / "results").glob(f"{job_id}.*"):
            path.unlink()  # as on another machine sharing the bucket
        shown = await fake.invoke_slash(subcommand="show", channel_id=fake.channel().id, options={"job": job_id})
        await private_text(fake, shown, "posted again")
        copy = await fake.wait_for_message(fake.channel().id, has_video, timeout=WAIT)
    (task,) = sim.tasks
    assert task.downloads == 1  # from the bucket, not from the gateway again
    video = next(a for a in copy.attachments if a.filename.endswith(".mp4"))
    assert video.data == sim.video_of(task.task_id)


async def made(fake: FakeDiscord, prompt: str) -> tuple[Message, Channel]:
    """Make a video; its result post and its thread."""
    known = {thread.id for thread in fake.threads()}
    rec = await create(fake, prompt=prompt, model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(lambda thread: thread.id not in known, timeout=WAIT)
    return await fake.wait_for_message(thread.id, has_video, timeout=WAIT), thread


async def test_takedowns_while_the_bucket_is_down_are_finished_once_it_is_back_after_a_restart(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    async with gate(s3_endpoint) as store_gate:
        env = bucket_env(store_gate.url, bucket)
        async with await start_bot(fake, sim, tmp_path, **env):
            deleted, purged = [await made(fake, f"secret recipe {n}") for n in (1, 2)]
            job_ids = [result.content.split("`")[1] for result, _ in (deleted, purged)]
            stored = await keys(s3_endpoint, bucket)
            assert {f"{job_id}.mp4" for job_id in job_ids} <= stored

            await store_gate.shut()
            click = await fake.click_button(deleted[0].id, f"reelbot:delete:{job_ids[0]}")
            reply = await private_text(fake, click, "deleted")
            assert "its stored files could not be deleted yet" in reply and "deletes them by itself" in reply
            purge = await fake.invoke_slash(
                name="video-purge",
                subcommand=None,
                options={"member": fake.default_user.id},
                user_id=fake.owner_user.id,
            )
            reply = await private_text(fake, purge, "Deleted 1 video")
            assert "The stored file of 1 of them could not be deleted yet" in reply
            # What members see is done: the posts gone, the prompts hidden on the status messages and the threads.
            for result, thread in (deleted, purged):
                assert fake.message(result.id).deleted
                assert thread.starter_message_id is not None
                status = fake.message(thread.starter_message_id)
                assert "Video deleted" in str(status.embeds) and "secret recipe" not in str(status.embeds)
                assert "secret recipe" not in str(fake.channel(thread.id).name)
            assert not list((tmp_path / "results").iterdir())  # this process's copies went at once
            assert await keys(s3_endpoint, bucket) == stored  # the objects wait for the bucket

        await store_gate.open()
        async with await start_bot(fake, sim, tmp_path, **env):

            async def emptied() -> bool:
                return not await keys(s3_endpoint, bucket)

            await eventually(emptied, within=WAIT)
