"""Results in an S3-compatible bucket, against a real S3 server on loopback (moto's): uploads, presigned links that
serve the right bytes, fetches by another process, retention and takedowns deleting objects, and `check`'s words."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.domain import JobStatus, NewJob
from bot.engine import open_engine
from bot.errors import ConfigError
from bot.media.server import MediaLinks
from bot.media.store import BucketMedia, LocalMedia, MediaStore, MediaStoreError, open_media_store
from bot.services.lifecycle import DOWNLOAD_ATTEMPTS
from bot.services.poller import UNSTORED_MESSAGE
from bot.settings import Settings
from tests.helpers import Deliveries, engine_env, free_port, run_bot, run_until
from tests.s3server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, bucket_env, gate, keys, new_bucket, object_bytes

DAY = 86400.0
NO_SIZE_LIMIT = 1 << 40
UNUSED_GATEWAY = {"GATEWAY_BASE_URL": "http://127.0.0.1:9", "GATEWAY_API_KEY": "sk-unused"}


def bucket_settings(endpoint: str, bucket: str, work: Path) -> Settings:
    """Settings for results in ``bucket``, working in ``work``."""
    env = {**bucket_env(endpoint, bucket), "RESULTS_DIR": str(work), **UNUSED_GATEWAY}
    return Settings.from_env(env, need_discord=False)


@pytest.fixture
async def bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket."""
    return await new_bucket(s3_endpoint)


@pytest.fixture
async def media(s3_endpoint: str, bucket: str, tmp_path: Path) -> AsyncIterator[MediaStore]:
    """The bucket store of one process, working in tmp_path/a."""
    async with open_media_store(bucket_settings(s3_endpoint, bucket, tmp_path / "a")) as store:
        assert isinstance(store, BucketMedia)
        yield store


def job_files(folder: Path, job_id: str, size: int = 100) -> dict[str, bytes]:
    """A job's three finished files, each with its own content."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for suffix in (".mp4", ".fit.mp4", ".poster.jpg"):
        data = os.urandom(size)
        (folder / f"{job_id}{suffix}").write_bytes(data)
        made[f"{job_id}{suffix}"] = data
    return made


async def publish_all(media: MediaStore, job_id: str, size: int = 100) -> dict[str, bytes]:
    made = job_files(media.working_dir, job_id, size)
    for name in made:
        await media.publish(job_id, media.working_dir / name)
    return made


async def test_a_published_file_is_served_by_its_presigned_link(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    made = await publish_all(media, "linkjob1")
    assert await keys(s3_endpoint, bucket) == set(made)
    link = await media.link("linkjob1", media.working_dir / "linkjob1.mp4", 3600)
    assert link is not None and link.startswith(f"{s3_endpoint}/{bucket}/linkjob1.mp4?")
    assert "X-Amz-Expires=3600" in link
    async with aiohttp.ClientSession() as session, session.get(link) as response:
        assert response.status == 200
        assert response.content_type == "video/mp4"
        assert await response.read() == made["linkjob1.mp4"]


async def test_a_file_kept_only_here_is_uploaded_when_first_linked(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    made = job_files(media.working_dir, "beforeb1")  # downloaded before MEDIA_S3_BUCKET was set
    link = await media.link("beforeb1", media.working_dir / "beforeb1.mp4", 3600)
    assert link is not None
    async with aiohttp.ClientSession() as session, session.get(link) as response:
        assert await response.read() == made["beforeb1.mp4"]
    assert await keys(s3_endpoint, bucket) == {"beforeb1.mp4"}
    assert await media.link("nowhere1", media.working_dir / "nowhere1.mp4", 3600) is None


async def test_a_process_without_the_file_fetches_it_from_the_bucket(
    media: MediaStore, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    made = await publish_all(media, "fetchjob", size=3 * 1024 * 1024)
    async with open_media_store(bucket_settings(s3_endpoint, bucket, tmp_path / "b")) as other:
        fetched = await other.fetch("fetchjob", ".mp4")
        assert fetched == tmp_path / "b" / "fetchjob.mp4"
        assert fetched.read_bytes() == made["fetchjob.mp4"]
        assert await other.fetch("nosuchjb", ".mp4") is None
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["fetchjob.mp4"]  # no .part left behind


async def test_retention_deletes_expired_objects_but_not_jobs_in_progress(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    await publish_all(media, "oldjob01")
    running = await publish_all(media, "running1")
    later = time.time() + 10 * DAY
    report = await media.sweep(max_age_seconds=7 * DAY, max_bytes=NO_SIZE_LIMIT, now=later, protected={"running1"})
    assert report.deleted_jobs == ("oldjob01",)
    assert report.freed_bytes == 300 and report.remaining_bytes == 300
    assert await keys(s3_endpoint, bucket) == set(running)
    assert {p.name for p in media.working_dir.iterdir()} == set(running)  # the working copies follow


async def test_retention_deletes_the_oldest_objects_past_the_size_limit(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    for job_id in ("sizejob1", "sizejob2", "sizejob3"):
        await publish_all(media, job_id)
    report = await media.sweep(max_age_seconds=7 * DAY, max_bytes=650, now=time.time(), protected=())
    assert len(report.deleted_jobs) == 1 and report.remaining_bytes == 600
    left = await keys(s3_endpoint, bucket)
    assert len(left) == 6 and not any(key.startswith(report.deleted_jobs[0]) for key in left)


async def test_retention_leaves_objects_outside_the_naming_alone(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    notes = media.working_dir / "notes.txt"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text("not ours")
    with pytest.raises(ValueError, match="not a file job"):
        await media.publish("notesjob", notes)
    await publish_all(media, "keptjob1")
    report = await media.sweep(max_age_seconds=7 * DAY, max_bytes=0, now=time.time(), protected={"keptjob1"})
    assert report.deleted_files == ()
    assert len(await keys(s3_endpoint, bucket)) == 3


async def test_a_takedown_deletes_the_jobs_objects_and_working_copies(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    await publish_all(media, "gonejob1")
    kept = await publish_all(media, "keptjob1")
    await media.remove_job("gonejob1")
    assert await keys(s3_endpoint, bucket) == set(kept)
    assert {p.name for p in media.working_dir.iterdir()} == set(kept)
    await media.remove_job("gonejob1")  # already gone: no error


async def test_a_takedown_the_bucket_fails_leaves_the_objects_to_the_sweep_once_it_is_back(
    s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    async with gate(s3_endpoint) as store_gate:
        settings = bucket_settings(store_gate.url, bucket, tmp_path / "a")
        async with open_media_store(settings) as media:
            gone = await publish_all(media, "gonejob1")
            kept = await publish_all(media, "keptjob1")
            await store_gate.shut()
            with pytest.raises(MediaStoreError, match="cannot be reached"):
                await media.remove_job("gonejob1")
            assert {p.name for p in media.working_dir.iterdir()} == set(kept)  # the working copies went at once
            assert await keys(s3_endpoint, bucket) == {*gone, *kept}
            with pytest.raises(MediaStoreError, match="cannot be reached"):
                await media.sweep(
                    max_age_seconds=DAY, max_bytes=NO_SIZE_LIMIT, now=time.time(), protected=(), taken_down={"gonejob1"}
                )

            await store_gate.open()
            report = await media.sweep(
                max_age_seconds=DAY, max_bytes=NO_SIZE_LIMIT, now=time.time(), protected=(), taken_down={"gonejob1"}
            )
    assert report.deleted_jobs == ("gonejob1",)
    assert await keys(s3_endpoint, bucket) == set(kept)


async def test_check_passes_on_a_usable_bucket_and_leaves_nothing_behind(
    media: MediaStore, s3_endpoint: str, bucket: str
) -> None:
    await media.check()
    assert await keys(s3_endpoint, bucket) == set()


async def test_check_says_in_plain_words_what_is_wrong(s3_endpoint: str, tmp_path: Path) -> None:
    async with open_media_store(bucket_settings(s3_endpoint, "no-such-bucket-here", tmp_path)) as missing:
        with pytest.raises(MediaStoreError, match="the bucket does not exist: create it, or correct MEDIA_S3_BUCKET"):
            await missing.check()
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with open_media_store(bucket_settings(nowhere, "some-bucket", tmp_path)) as unreachable:
        with pytest.raises(MediaStoreError, match="cannot be reached: check MEDIA_S3_ENDPOINT"):
            await unreachable.check()


async def test_an_uploaded_object_keeps_the_bytes_and_type(media: MediaStore, s3_endpoint: str, bucket: str) -> None:
    made = await publish_all(media, "typejob1")
    assert await object_bytes(s3_endpoint, bucket, "typejob1.poster.jpg") == made["typejob1.poster.jpg"]
    link = await media.link("typejob1", media.working_dir / "typejob1.poster.jpg", 60)
    assert link is not None
    async with aiohttp.ClientSession() as session, session.get(link) as response:
        assert response.content_type == "image/jpeg"


async def test_without_a_bucket_files_stay_in_results_dir(tmp_path: Path) -> None:
    links = MediaLinks("https://bot.example.com/media", "a-signing-secret-0123")
    async with open_media_store(Settings(results_dir=tmp_path), links) as local:
        assert isinstance(local, LocalMedia) and local.served_links is links
        job_files(tmp_path, "localjob")
        await local.publish("localjob", tmp_path / "localjob.mp4")
        link = await local.link("localjob", tmp_path / "localjob.mp4", 60)
        assert link is not None and link.startswith("https://bot.example.com/media/v/localjob/localjob.mp4?")
        assert await local.fetch("localjob", ".mp4") == tmp_path / "localjob.mp4"
        await local.remove_job("localjob")
    assert list(tmp_path.iterdir()) == []


def settings_problems(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**UNUSED_GATEWAY, **env}, need_discord=False)
    return str(caught.value)


def test_a_bucket_needs_its_keys_and_keys_need_a_bucket() -> None:
    text = settings_problems(MEDIA_S3_BUCKET="results")
    assert "MEDIA_S3_ACCESS_KEY_ID must be set with MEDIA_S3_BUCKET" in text
    assert "MEDIA_S3_SECRET_ACCESS_KEY must be set with MEDIA_S3_BUCKET" in text
    text = settings_problems(MEDIA_S3_ENDPOINT="http://minio:9000", MEDIA_S3_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    assert "MEDIA_S3_ENDPOINT and MEDIA_S3_SECRET_ACCESS_KEY set without MEDIA_S3_BUCKET" in text
    assert SECRET_ACCESS_KEY not in text


def test_a_bucket_rules_out_the_media_server_and_links_past_seven_days() -> None:
    env = bucket_env("http://minio:9000", "results")
    text = settings_problems(**env, MEDIA_PUBLIC_URL="https://bot.example.com/media", MEDIA_LINK_HOURS="200")
    assert "MEDIA_PUBLIC_URL and MEDIA_S3_BUCKET are both set" in text
    assert "MEDIA_LINK_HOURS must be at most 168 with MEDIA_S3_BUCKET" in text
    assert "must be a bucket name" in settings_problems(**{**env, "MEDIA_S3_BUCKET": "Not_A_Bucket"})
    assert "must be an http(s) URL" in settings_problems(**{**env, "MEDIA_S3_ENDPOINT": "minio:9000"})


def test_the_bucket_keys_are_not_in_repr() -> None:
    settings = Settings.from_env({**UNUSED_GATEWAY, **bucket_env("http://minio:9000", "results")}, need_discord=False)
    assert SECRET_ACCESS_KEY not in repr(settings) and ACCESS_KEY_ID not in repr(settings)
    assert "results" in repr(settings)


async def test_check_reports_the_bucket_in_plain_words(sim: Simulator, s3_endpoint: str, tmp_path: Path) -> None:
    bucket = await new_bucket(s3_endpoint)
    ok = await run_bot(tmp_path, engine_env(sim, tmp_path, **bucket_env(s3_endpoint, bucket)), "check")
    assert ok.code == 0, ok.out + ok.err
    assert f"[  ok] finished videos go to the bucket {bucket} at {s3_endpoint}, which is reachable and writable" in (
        ok.out
    )
    missing = await run_bot(tmp_path, engine_env(sim, tmp_path, **bucket_env(s3_endpoint, "not-made-yet")), "check")
    assert missing.code == 2
    assert "[FAIL] MEDIA_S3_BUCKET: could not store a test object in the bucket not-made-yet" in missing.out
    assert "the bucket does not exist: create it, or correct MEDIA_S3_BUCKET" in missing.out
    for ran in (ok, missing):
        assert SECRET_ACCESS_KEY not in ran.out + ran.err and "Traceback" not in ran.out + ran.err


async def test_a_result_the_bucket_refuses_is_retried_then_failed_in_plain_words(
    sim: Simulator, s3_endpoint: str, tmp_path: Path
) -> None:
    env = engine_env(sim, tmp_path, **bucket_env(s3_endpoint, "never-created"))
    async with open_engine(Settings.from_env(env, need_discord=False), Catalog.load()) as engine:
        deliveries = Deliveries()
        poller = engine.poller(origin="discord", deliver=deliveries)
        request = engine.jobs.build_request(prompt="nowhere to keep it", model="veo-3.1-fast-generate-preview")
        job = await engine.jobs.submit(NewJob(request=request))
        done = await run_until(poller, deliveries.wait_for(job.id, within=120))
    assert done.status is JobStatus.FAILED and done.download_attempts == DOWNLOAD_ATTEMPTS - 1
    assert done.error_message == str(UNSTORED_MESSAGE)
