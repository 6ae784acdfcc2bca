"""Result downloads within bounds: the hosts a link may reach, redirects, size, free disk, data URIs, chunked JSON."""

from __future__ import annotations

import base64
import json
import shutil
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.devtools.gateway.media import clip_of, sample_video
from bot.domain import ErrorKind, JobStatus, NewJob, RemoteState, WireFormat
from bot.engine import Engine, open_engine
from bot.errors import GatewayTaskLostError
from bot.gateway.download import MAX_LINKS_FOLLOWED, NO_DISK_MESSAGE, download_result
from bot.settings import Settings
from tests.filehost import FileHost
from tests.helpers import Deliveries, engine_env, eventually, run_until

MODEL = "veo-3.1-fast-generate-preview"
FILES_ROUTE = "GET /files/{name}"
MIB = 1024 * 1024


def padded(video: bytes, size: int) -> bytes:
    """``video`` with a trailing `free` box, so it stays a whole MP4 of ``size`` bytes."""
    return video + struct.pack(">I4s", size - len(video), b"free") + bytes(size - len(video) - 8)


@pytest.fixture
def video(sim: Simulator) -> bytes:
    """The simulator's own result video for MODEL's default request (8 seconds, landscape)."""
    return sample_video(sim.config.media_dir, clip_of("16:9", 8))


@pytest.fixture
async def host(video: bytes) -> AsyncIterator[FileHost]:
    """Another server on 127.0.0.1, not the gateway, serving a video distinct from the gateway's."""
    async with FileHost(padded(video, len(video) + 64)) as running:
        yield running


@asynccontextmanager
async def engine_with(sim: Simulator, tmp_path: Path, **env: str) -> AsyncIterator[Engine]:
    settings = Settings.from_env(engine_env(sim, tmp_path, **env), need_discord=False)
    async with open_engine(settings, Catalog.load()) as opened:
        yield opened


async def finished_task(engine: Engine) -> str:
    job = await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="x", model=MODEL)))
    assert job.task_id is not None

    async def done() -> bool:
        return (await engine.client.fetch(job.task_id or "", job.wire_format)).state is RemoteState.SUCCEEDED

    await eventually(done)
    return job.task_id


async def fetch(engine: Engine, task_id: str, url: str | None, dest: Path) -> int:
    return await download_result(
        engine.client, engine.session, task_id, WireFormat.OPENAI, url, dest, engine.result_rules
    )


async def test_a_link_to_another_loopback_port_is_refused_and_the_content_route_used(
    engine: Engine, host: FileHost, video: bytes, tmp_path: Path
) -> None:
    task_id = await finished_task(engine)

    size = await fetch(engine, task_id, host.url(), tmp_path / "out.mp4")

    assert not host.requests
    assert size == len(video)  # the gateway's own content route, which is on loopback too


async def test_a_host_in_result_url_allow_is_fetched(sim: Simulator, host: FileHost, tmp_path: Path) -> None:
    async with engine_with(sim, tmp_path, RESULT_URL_ALLOW=f"127.0.0.1:{host.port}") as engine:
        task_id = await finished_task(engine)
        size = await fetch(engine, task_id, host.url(), tmp_path / "out.mp4")

    assert host.requests["/video.mp4"] == 1
    assert size == len(host.video)


async def test_a_name_is_checked_on_the_address_it_resolves_to(
    sim: Simulator, host: FileHost, video: bytes, tmp_path: Path
) -> None:
    async with engine_with(sim, tmp_path, RESULT_URL_ALLOW=f"127.0.0.1:{host.port}") as engine:
        task_id = await finished_task(engine)
        size = await fetch(engine, task_id, host.url(host="localhost"), tmp_path / "out.mp4")

    assert not host.requests
    assert size == len(video)


async def test_every_redirect_is_checked(sim: Simulator, host: FileHost, video: bytes, tmp_path: Path) -> None:
    async with (
        FileHost(video) as other,
        engine_with(sim, tmp_path, RESULT_URL_ALLOW=f"127.0.0.1:{host.port}") as engine,
    ):
        task_id = await finished_task(engine)
        size = await fetch(engine, task_id, host.url("/to?url=" + quote(other.url(), safe="")), tmp_path / "out.mp4")

    assert host.requests["/to"] == 1
    assert not other.requests
    assert size == len(video)


async def test_redirects_are_capped(sim: Simulator, host: FileHost, video: bytes, tmp_path: Path) -> None:
    url = host.url()
    for _ in range(MAX_LINKS_FOLLOWED + 3):
        url = host.url("/to?url=" + quote(url, safe=""))
    async with engine_with(sim, tmp_path, RESULT_URL_ALLOW=f"127.0.0.1:{host.port}") as engine:
        task_id = await finished_task(engine)
        size = await fetch(engine, task_id, url, tmp_path / "out.mp4")

    assert host.requests == {"/to": MAX_LINKS_FOLLOWED + 1}  # followed as far as the cap, once, then given up
    assert size == len(video)


async def test_a_result_over_result_max_mb_is_refused_in_plain_words(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.oversize(2 * MIB, count=None)
    async with engine_with(sim, tmp_path, RESULT_MAX_MB="1") as engine:
        deliveries = Deliveries()
        job = await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="big", model=MODEL)))
        done = await run_until(engine.poller(origin="discord", deliver=deliveries), deliveries.wait_for(job.id))

    assert done.status is JobStatus.FAILED and done.error_kind is ErrorKind.BAD_RESULT
    assert "larger than the 1 MB" in (done.error_message or "")
    assert sim.stats.route_classes["content"] == 1  # refused from its Content-Length, not fetched again
    assert not list((tmp_path / "results").glob("*"))


async def test_a_data_uri_result_is_capped(sim: Simulator, video: bytes, tmp_path: Path) -> None:
    def data_uri(size: int) -> str:
        return "data:video/mp4;base64," + base64.b64encode(padded(video, size)).decode()

    async with engine_with(sim, tmp_path, RESULT_MAX_MB="1") as engine:
        task_id = await finished_task(engine)
        small = await fetch(engine, task_id, data_uri(len(video) + 100), tmp_path / "small.mp4")
        large = await fetch(engine, task_id, data_uri(2 * MIB), tmp_path / "large.mp4")

    assert small == len(video) + 100
    assert large == len(video)  # refused before decoding; the content route served the gateway's copy


async def test_free_disk_is_checked_before_a_download(sim: Simulator, tmp_path: Path) -> None:
    too_big = shutil.disk_usage(tmp_path).free + 2 * 1024 * MIB
    sim.faults.oversize(too_big, count=None)  # announced by Content-Length; the bot must not start writing
    async with engine_with(sim, tmp_path, RESULT_MAX_MB=str(too_big // MIB + 1)) as engine:
        deliveries = Deliveries()
        job = await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="disk", model=MODEL)))
        done = await run_until(engine.poller(origin="discord", deliver=deliveries), deliveries.wait_for(job.id))

    assert done.status is JobStatus.FAILED and done.error_kind is ErrorKind.BAD_RESULT
    assert done.error_message == str(NO_DISK_MESSAGE)
    assert not list((tmp_path / "results").glob("*"))


async def test_a_json_link_sent_in_chunks_is_read_whole(
    engine: Engine, sim: Simulator, video: bytes, tmp_path: Path
) -> None:
    task_id = await finished_task(engine)
    link = json.dumps({"url": f"{sim.base_url}/files/{task_id}.mp4"})
    sim.faults.raw_body("content", link, chunk_bytes=8, pause_seconds=0.02)

    size = await fetch(engine, task_id, None, tmp_path / "out.mp4")

    assert size == len(video)
    assert sim.stats.requests[FILES_ROUTE] == 1  # the link was followed, not retried around


async def test_an_error_reason_sent_in_chunks_is_read_whole(engine: Engine, sim: Simulator, tmp_path: Path) -> None:
    task_id = await finished_task(engine)
    reason = json.dumps({"error": {"message": "Task not found", "type": "new_api_error"}})
    sim.faults.raw_body("content", reason, status=404, chunk_bytes=8, pause_seconds=0.02, count=None)

    with pytest.raises(GatewayTaskLostError):
        await fetch(engine, task_id, None, tmp_path / "out.mp4")
