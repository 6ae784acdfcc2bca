"""The engine end to end over real HTTP against the gateway simulator: submit, poll, fetch, deliver."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.domain import DeliveryState, ErrorKind, Job, JobStatus, NewJob, Orientation
from bot.engine import Engine, open_engine
from bot.errors import UserFacingError
from bot.images import to_data_uri
from bot.services import lifecycle
from bot.settings import Settings
from tests.helpers import PNG_1PX, Deliveries, assert_playable, engine_env, eventually, run_until

DATA_PNG = to_data_uri(PNG_1PX, "image/png")


async def generate(engine: Engine, deliveries: Deliveries, **request: object) -> Job:
    """Submit a job and run a poller until it is delivered."""
    poller = engine.poller(origin="discord", deliver=deliveries)
    job = await engine.jobs.submit(NewJob(request=engine.jobs.build_request(**request)))  # type: ignore[arg-type]
    return await run_until(poller, deliveries.wait_for(job.id))


@pytest.mark.parametrize(
    ("model", "images"),
    [
        ("veo-3.1-fast-generate-preview", ()),
        ("veo-3.1-fast-generate-preview", (to_data_uri(PNG_1PX, "image/png"),)),
        ("veo3.1-fast", ()),
        ("veo3.1-fast-components", ("https://example.com/a.png", "https://example.com/b.png", "https://c.example/c")),
    ],
    ids=["openai-text", "openai-image", "unified-text", "unified-3-images"],
)
async def test_each_format_ends_in_a_playable_mp4(
    engine: Engine, sim: Simulator, model: str, images: tuple[str, ...]
) -> None:
    deliveries = Deliveries()
    job = await generate(engine, deliveries, prompt="a cat on a skateboard", model=model, images=images)

    assert job.status is JobStatus.SUCCEEDED
    assert job.result_path is not None
    assert Path(job.result_path).stat().st_size == job.result_bytes
    assert_playable(Path(job.result_path))
    stored = await engine.store.get(job.id)
    assert stored is not None and stored.delivery_state is DeliveryState.DELIVERED
    assert len(deliveries.of(job.id)) == 1
    assert sim.stats.route_classes["create"] == 1


@pytest.mark.parametrize(
    ("model", "duration", "hd", "reading"),
    [
        ("veo-3.1-fast-generate-preview", 4, False, {"duration": 4, "aspect_ratio": "9:16", "resolution": "720p"}),
        ("veo-3.1-generate-preview", 6, True, {"duration": 6, "aspect_ratio": "9:16", "resolution": "1080p"}),
        ("kling-v2-1", 10, False, {"duration": 10, "aspect_ratio": "9:16", "mode": "pro"}),
        ("doubao-seedance-1-0-pro-250528", 10, True, {"duration": 10, "aspect_ratio": "9:16", "resolution": "1080p"}),
        ("wan2.5-i2v-preview", 10, False, {"duration": 10, "resolution": "720P"}),
    ],
)
async def test_each_model_reaches_its_provider_as_asked(
    engine: Engine, sim: Simulator, model: str, duration: int, hd: bool, reading: dict[str, object]
) -> None:
    """The simulator reads each body as new-api's adaptor for the provider does; a field in the wrong place would
    come out as that adaptor's default (5 or 8 seconds, 16:9, 720p) instead of what was asked."""
    spec = engine.models.named(model)
    image = "https://example.com/first.png" if spec.image_transport.value == "url" else DATA_PNG
    job = await generate(
        engine,
        Deliveries(),
        prompt="waves",
        model=model,
        duration=duration,
        hd=hd,
        orientation=Orientation.PORTRAIT,
        images=(image,),
    )
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    task = sim.tasks.get(job.task_id or "")
    assert task is not None
    assert {key: task.detail[key] for key in reading} == reading
    assert task.detail["first_frame"] == image
    assert task.seconds == str(duration)


async def test_kling_ends_on_the_last_frame(engine: Engine, sim: Simulator) -> None:
    first, last = "https://example.com/first.png", "https://example.com/last.png"
    job = await generate(
        engine, Deliveries(), prompt="a door opens", model="kling-v2-1", images=(first,), last_frame=last
    )
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    task = sim.tasks.get(job.task_id or "")
    assert task is not None
    assert (task.detail["first_frame"], task.detail["last_frame"], task.detail["mode"]) == (first, last, "pro")


@pytest.mark.parametrize(
    ("request_fields", "says"),
    [
        ({"model": "veo-3.1-fast-generate-preview", "last_frame": DATA_PNG}, "cannot end the video"),
        ({"model": "wan2.5-i2v-preview"}, "makes videos from a picture"),
        ({"model": "kling-v2-1", "images": (DATA_PNG,)}, "fetches reference images from links"),
    ],
)
async def test_requests_a_model_cannot_take_are_refused_before_sending(
    engine: Engine, sim: Simulator, request_fields: dict[str, object], says: str
) -> None:
    with pytest.raises(UserFacingError, match=says):
        engine.jobs.build_request(prompt="x", **request_fields)  # type: ignore[arg-type]
    assert sim.stats.route_classes["create"] == 0


async def test_success_without_a_video_fails_with_the_reason_and_is_not_charged(engine: Engine, sim: Simulator) -> None:
    sim.faults.withhold_videos()
    job = await generate(engine, Deliveries(), prompt="filtered", model="kling-v2-1")
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.GENERATION_FAILED
    assert job.error_message is not None and "sent no video" in job.error_message
    assert "Nothing was charged" in job.error_message


async def test_generation_failure_is_delivered_once_in_plain_words(engine: Engine) -> None:
    deliveries = Deliveries()
    job = await generate(engine, deliveries, prompt="please FAIL this one", model="veo-3.1-fast-generate-preview")

    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.GENERATION_FAILED
    assert job.error_message and "could not make this video" in job.error_message
    assert len(deliveries.of(job.id)) == 1


async def test_policy_refusal_at_create_fails_the_job_without_polling(engine: Engine, sim: Simulator) -> None:
    sim.faults.refuse_policy()
    job = await engine.jobs.submit(
        NewJob(request=engine.jobs.build_request(prompt="someone famous", model="veo-3.1-fast-generate-preview"))
    )

    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.CONTENT_POLICY
    assert job.task_id is None
    assert job.delivery_state is DeliveryState.PENDING


async def test_policy_refusal_while_running_is_a_content_policy_failure(engine: Engine, sim: Simulator) -> None:
    sim.faults.moderate_tasks()
    job = await generate(engine, Deliveries(), prompt="a beach", model="veo3.1-fast")
    assert job.error_kind is ErrorKind.CONTENT_POLICY


@pytest.mark.parametrize("fault", ["rate_limit", "rate_limit_retry_after", "server_error"])
async def test_poll_storms_recover(engine: Engine, sim: Simulator, fault: str) -> None:
    if fault == "server_error":
        sim.faults.server_error("poll", count=6, status=502)
    else:
        sim.faults.rate_limit("poll", count=6, retry_after=1 if fault == "rate_limit_retry_after" else None)
    job = await generate(engine, Deliveries(), prompt="storm", model="veo-3.1-fast-generate-preview")

    assert job.status is JobStatus.SUCCEEDED
    assert sim.stats.route_classes["create"] == 1


@pytest.mark.parametrize(
    ("arm", "kind"),
    [
        (lambda sim: sim.faults.rate_limit("create"), ErrorKind.RATE_LIMITED),
        (lambda sim: sim.faults.server_error("create", status=500), ErrorKind.UNAVAILABLE),
        (lambda sim: sim.faults.exhaust_balance(), ErrorKind.BALANCE),
    ],
    ids=["429", "500", "balance"],
)
async def test_a_refused_submit_is_never_resent(engine: Engine, sim: Simulator, arm, kind: ErrorKind) -> None:  # type: ignore[no-untyped-def]
    arm(sim)
    job = await engine.jobs.submit(
        NewJob(request=engine.jobs.build_request(prompt="x", model="veo-3.1-fast-generate-preview"))
    )

    assert job.status is JobStatus.FAILED
    assert job.error_kind is kind
    assert sim.stats.route_classes["create"] == 1


async def test_a_submit_left_unanswered_is_unconfirmed_and_not_resent(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    sim.faults.delay(5.0, route="create")
    async with open_engine(settings, Catalog.load()) as engine:
        engine.client.timeouts = dataclasses.replace(engine.client.timeouts, submit=0.5)
        job = await engine.jobs.submit(
            NewJob(request=engine.jobs.build_request(prompt="x", model="veo-3.1-fast-generate-preview"))
        )

    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.UNCONFIRMED
    assert "not sent again" in (job.error_message or "")
    assert sim.stats.route_classes["create"] == 1


async def test_an_unconfirmed_submit_is_logged_by_job_id_without_its_prompt(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    sim.faults.delay(5.0, route="create")
    caplog.set_level(logging.DEBUG, logger="bot")  # every line of the bot's own, down to DEBUG
    async with open_engine(settings, Catalog.load()) as engine:
        engine.client.timeouts = dataclasses.replace(engine.client.timeouts, submit=0.5)
        request = engine.jobs.build_request(
            prompt="my neighbour's secret garden", model="veo-3.1-fast-generate-preview"
        )
        job = await engine.jobs.submit(NewJob(request=request))

    assert job.error_kind is ErrorKind.UNCONFIRMED
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(job.id in line and "no answer" in line for line in errors), errors
    # The log outlives /video forget: it must never hold a prompt.
    assert "secret garden" not in caplog.text


async def test_a_cut_download_is_detected_and_retried(engine: Engine, sim: Simulator) -> None:
    sim.faults.cut_downloads(count=2, after_bytes=2000)
    job = await generate(engine, Deliveries(), prompt="cut", model="veo-3.1-fast-generate-preview")

    assert job.status is JobStatus.SUCCEEDED
    assert_playable(Path(job.result_path or ""))
    assert sim.stats.route_classes["content"] == 3


async def test_content_route_answering_json_is_followed(engine: Engine, sim: Simulator) -> None:
    sim.faults.content_as_json_url()
    job = await generate(engine, Deliveries(), prompt="json", model="veo-3.1-fast-generate-preview")
    assert job.status is JobStatus.SUCCEEDED
    assert_playable(Path(job.result_path or ""))


async def test_an_expired_link_is_retried_through_the_content_route(engine: Engine, sim: Simulator) -> None:
    sim.faults.expire_links(count=1)
    job = await generate(engine, Deliveries(), prompt="expired", model="veo3.1-fast")
    assert job.status is JobStatus.SUCCEEDED


async def test_a_lost_task_ends_cleanly(engine: Engine, sim: Simulator) -> None:
    sim.faults.lose_tasks(after_polls=0)
    job = await generate(engine, Deliveries(), prompt="lost", model="veo-3.1-fast-generate-preview")

    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.LOST
    assert job.error_message and "lost track" in job.error_message


@pytest.mark.sim(task_seconds=3600)  # from its creation, so a slow submit on a loaded box cannot let it finish first
async def test_a_job_past_its_timeout_fails_as_timed_out(sim: Simulator, tmp_path: Path) -> None:
    slow_sim_settings = Settings.from_env(
        engine_env(sim, tmp_path, JOB_TIMEOUT_MINUTES="0.01", JOB_NOTICE_MINUTES="0.005"), need_discord=False
    )
    slow = []

    async def on_change(job: Job, became_slow: bool) -> None:
        if became_slow:
            slow.append(job.id)

    async with open_engine(slow_sim_settings, Catalog.load()) as engine:
        deliveries = Deliveries()
        poller = engine.poller(origin="discord", deliver=deliveries, on_change=on_change)
        job = await engine.jobs.submit(
            NewJob(request=engine.jobs.build_request(prompt="never ends", model="veo-3.1-fast-generate-preview"))
        )
        done = await run_until(poller, deliveries.wait_for(job.id))

    assert done.error_kind is ErrorKind.TIMED_OUT
    assert slow == [job.id]


async def test_restart_mid_job_resumes_and_delivers_exactly_once(sim: Simulator, tmp_path: Path) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    async with open_engine(settings, Catalog.load()) as first:
        job = await first.jobs.submit(
            NewJob(request=first.jobs.build_request(prompt="restart", model="veo-3.1-fast-generate-preview"))
        )
    # The first process is gone; a new one opens the same database file and carries on.
    deliveries = Deliveries()
    async with open_engine(settings, Catalog.load()) as second:
        done = await run_until(second.poller(origin="discord", deliver=deliveries), deliveries.wait_for(job.id))
        await second.poller(origin="discord", deliver=deliveries).poll_once()
    async with open_engine(settings, Catalog.load()) as third:
        await third.poller(origin="discord", deliver=deliveries).poll_once()

    assert done.status is JobStatus.SUCCEEDED
    assert len(deliveries.of(job.id)) == 1


async def test_a_delivery_cut_off_by_a_crash_is_retried_and_flagged(sim: Simulator, tmp_path: Path) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    posted: list[Job] = []
    handed_over = asyncio.Event()

    async def crash_after_posting(job: Job) -> int | None:
        posted.append(job)
        handed_over.set()
        raise asyncio.CancelledError  # the process dies before the delivery is recorded

    async with open_engine(settings, Catalog.load()) as first:
        job = await first.jobs.submit(
            NewJob(request=first.jobs.build_request(prompt="crash", model="veo-3.1-fast-generate-preview"))
        )
        poller = first.poller(origin="discord", deliver=crash_after_posting)
        task = asyncio.create_task(poller.run())
        await asyncio.wait_for(handed_over.wait(), timeout=30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    later = time.time() + 3600  # past the delivery lease
    deliveries = Deliveries()
    async with open_engine(settings, Catalog.load(), clock=lambda: later) as second:
        await second.poller(origin="discord", deliver=deliveries).poll_once()

    assert [j.maybe_delivered for j in posted] == [False]
    assert [j.maybe_delivered for j in deliveries.of(job.id)] == [True]


async def test_a_delivery_that_keeps_failing_is_retried_then_given_up(sim: Simulator, tmp_path: Path) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    offset = [0.0]  # the bot's clock runs ahead by this much, to reach each retry without waiting for it
    refused: list[Job] = []

    async def refuse(job: Job) -> int | None:
        refused.append(job)
        raise RuntimeError("Discord is down")

    async with open_engine(settings, Catalog.load(), clock=lambda: time.time() + offset[0]) as engine:
        request = engine.jobs.build_request(prompt="undeliverable", model="veo-3.1-fast-generate-preview")
        job = await engine.jobs.submit(NewJob(request=request))
        poller = engine.poller(origin="discord", deliver=refuse)
        running = asyncio.create_task(poller.run())

        async def first_attempt_recorded() -> bool:
            stored = await engine.store.get(job.id)
            return (
                stored is not None and stored.delivery_attempts == 1 and stored.delivery_state is DeliveryState.PENDING
            )

        await eventually(first_attempt_recorded)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        for _ in range(2 * lifecycle.MAX_DELIVERY_ATTEMPTS):
            stored = await engine.store.get(job.id)
            assert stored is not None
            if stored.delivery_state is DeliveryState.FAILED:
                break
            assert stored.deliver_at is not None
            offset[0] += max(0.0, stored.deliver_at - (time.time() + offset[0])) + 1.0
            await poller.poll_once()

    assert stored is not None and stored.delivery_state is DeliveryState.FAILED
    assert stored.status is JobStatus.SUCCEEDED
    assert stored.error_message == lifecycle.UNDELIVERABLE_MESSAGE
    assert [j.delivery_attempts for j in refused] == list(range(1, lifecycle.MAX_DELIVERY_ATTEMPTS + 1))
    assert [j.maybe_delivered for j in refused] == [False] + [True] * (lifecycle.MAX_DELIVERY_ATTEMPTS - 1)


async def test_jobs_of_another_origin_are_left_alone(engine: Engine) -> None:
    mine, theirs = Deliveries(), Deliveries()
    job = await engine.jobs.submit(
        NewJob(request=engine.jobs.build_request(prompt="a", model="veo-3.1-fast-generate-preview"), origin="cli")
    )
    await run_until(engine.poller(origin="cli", deliver=mine), mine.wait_for(job.id))
    await engine.poller(origin="discord", deliver=theirs).poll_once()
    assert theirs.jobs == []


async def test_wrong_key_and_wrong_base_url_are_named(sim: Simulator, tmp_path: Path) -> None:
    for overrides, kind in (
        ({"GATEWAY_API_KEY": "sk-wrong-key-123"}, ErrorKind.AUTH),
        ({"GATEWAY_BASE_URL": sim.base_url + "/dashboard"}, ErrorKind.UNAVAILABLE),
    ):
        settings = Settings.from_env(engine_env(sim, tmp_path, **overrides), need_discord=False)
        async with open_engine(settings, Catalog.load()) as engine:
            job = await engine.jobs.submit(
                NewJob(request=engine.jobs.build_request(prompt="x", model="veo-3.1-fast-generate-preview"))
            )
        assert job.error_kind is kind, overrides
        assert "sk-wrong-key-123" not in (job.error_message or "")


async def test_a_job_given_up_during_a_slow_set_up_is_never_submitted(sim: Simulator, tmp_path: Path) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    later = [time.time()]
    async with open_engine(settings, Catalog.load(), clock=lambda: later[0]) as engine:
        request = engine.jobs.build_request(prompt="slow set-up", model="veo-3.1-fast-generate-preview")
        job = await engine.jobs.add(NewJob(request=request))
        later[0] += 3600  # the status message took longer than the submit's grace: the poller gives the job up
        await engine.poller(origin="discord", deliver=Deliveries()).poll_once()
        with pytest.raises(UserFacingError, match="not sent"):
            await engine.jobs.send(job, request)
        stored = await engine.store.get(job.id)

    assert stored is not None and stored.error_kind is ErrorKind.UNCONFIRMED
    assert sim.stats.route_classes["create"] == 0


async def test_a_job_the_poller_is_giving_up_is_never_submitted(sim: Simulator, tmp_path: Path) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path), need_discord=False)
    later = [time.time()]
    async with open_engine(settings, Catalog.load(), clock=lambda: later[0]) as engine:
        request = engine.jobs.build_request(prompt="slow set-up", model="veo-3.1-fast-generate-preview")
        job = await engine.jobs.add(NewJob(request=request))
        later[0] += 3600
        # The poller has taken the job to give it up as unconfirmed, and not yet recorded that.
        lease = functools.partial(lifecycle.lease_poll, until=later[0] + settings.job_lease_seconds, holder="test")
        claimed = await engine.store.claim_due("discord", later[0], 10, lease)
        assert [j.id for j in claimed] == [job.id]
        with pytest.raises(UserFacingError, match="not sent"):
            await engine.jobs.send(job, request)
        await engine.store.apply(lifecycle.unconfirmed(claimed[0], later[0]))
        stored = await engine.store.get(job.id)

    assert stored is not None and stored.error_kind is ErrorKind.UNCONFIRMED
    assert sim.stats.route_classes["create"] == 0


async def test_a_results_folder_that_cannot_be_written_fails_the_job_cleanly(sim: Simulator, tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the results folder should be")
    settings = Settings.from_env(
        engine_env(sim, tmp_path, RESULTS_DIR=str(tmp_path / "not-a-folder" / "results")), need_discord=False
    )
    async with open_engine(settings, Catalog.load()) as engine:
        job = await generate(engine, Deliveries(), prompt="nowhere to put it", model="veo-3.1-fast-generate-preview")

    assert job.status is JobStatus.FAILED and job.error_kind is ErrorKind.BAD_RESULT


async def test_an_engine_on_postgresql_takes_its_leases_in_its_own_name(
    sim: Simulator, tmp_path: Path, pg_url: str
) -> None:
    settings = Settings.from_env({**engine_env(sim, tmp_path), "DATABASE_URL": pg_url}, need_discord=False)
    later = [time.time()]
    async with open_engine(settings, Catalog.load(), clock=lambda: later[0]) as engine:
        request = engine.jobs.build_request(prompt="slow set-up", model="veo-3.1-fast-generate-preview")
        job = await engine.jobs.add(NewJob(request=request))
        later[0] += 3600  # never sent: the poller claims it to give it up
        await engine.poller(origin="discord", deliver=Deliveries()).poll_once()
        stored = await engine.store.get(job.id)
        holder = engine.lease_holder
        statements = engine.metrics.registry.get_sample_value("reelbot_database_statements_total")
        assert statements == engine.store.round_trips > 0

    assert stored is not None and stored.error_kind is ErrorKind.UNCONFIRMED
    assert stored.lease_holder == holder
    host, pid, tag = holder.split(":")
    assert (host, int(pid), len(tag)) == (socket.gethostname(), os.getpid(), 8)
    assert not settings.database_path.exists()  # DATABASE_URL won over DATABASE_PATH
