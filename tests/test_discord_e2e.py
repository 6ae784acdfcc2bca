"""The real bot process against the fake Discord and the gateway simulator: what members and moderators see."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.devtools.gateway import Simulator, SimulatorConfig
from bot.media import Encoder
from tests.botproc import EPHEMERAL, WAIT, BotProcess, bot_env, create, has_video, private_text, start_bot
from tests.fakediscord import Channel, FakeDiscord, P
from tests.helpers import PNG_1PX, assert_playable, eventually, free_port, png, png_header_only
from tests.media_samples import make_clip


@pytest.mark.parametrize("model", ["veo-3.1-fast-generate-preview", "veo3.1-fast"])
async def test_text_to_video_in_a_thread(fake: FakeDiscord, sim: Simulator, bot: BotProcess, model: str) -> None:
    channel = fake.channel()
    rec = await create(fake, prompt="a cat surfing", model=model)
    first = await rec.wait_response(WAIT)
    assert first.type == 5 and first.flags & EPHEMERAL  # deferred privately

    await private_text(fake, rec, "on its way")
    status = await fake.wait_for_message(channel.id, lambda m: bool(m.embeds), timeout=WAIT)
    thread = await fake.wait_for_thread(timeout=WAIT)
    assert thread.parent_id == channel.id and thread.starter_message_id == status.id
    result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)

    job_id = status.embeds[0]["footer"]["text"].removeprefix("Job ")
    task = next(iter(sim.tasks))
    assert fake.attachment_bytes(result.attachments[0].id) == sim.video_of(task.task_id)
    assert task.model == model
    assert result.content.startswith(f"<@{fake.default_user.id}>") and f"job `{job_id}`" in result.content
    ids = [c["custom_id"] for row in result.components for c in row["components"]]
    assert ids == [f"reelbot:reroll:{job_id}", f"reelbot:remix:{job_id}", f"reelbot:delete:{job_id}"]
    done = await fake.wait_for_message(
        channel.id, lambda m: m.id == status.id and "Done" in str(m.embeds), timeout=WAIT
    )
    assert str(result.id) in str(done.embeds)  # the status message links to the result
    assert len([m for m in fake.messages(thread.id) if has_video(m)]) == 1


async def test_one_reference_image_is_fitted_to_the_output_size(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    rec = await create(
        fake,
        prompt="animate this",
        model="veo-3.1-fast-generate-preview",
        image=("photo.png", png(400, 400), "image/png"),
    )
    await private_text(fake, rec, "on its way")
    status = await fake.wait_for_message(fake.channel().id, lambda m: bool(m.attachments), timeout=WAIT)

    posted = fake.attachment_bytes(status.attachments[0].id)
    with Image.open(io.BytesIO(posted)) as image:
        assert image.size == (1280, 720)
        assert "Author" not in image.info
    reference = next(iter(sim.tasks)).detail["first_frame"]
    assert isinstance(reference, str) and reference.startswith("data:image/jpeg;base64,")


async def test_three_images_travel_as_urls(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    images = {key: (f"{key}.png", png(64, 48), "image/png") for key in ("image", "image2", "image3")}
    rec = await create(fake, prompt="three frames", model="veo3.1-fast-components", **images)
    await private_text(fake, rec, "on its way")
    status = await fake.wait_for_message(fake.channel().id, lambda m: len(m.attachments) == 3, timeout=WAIT)

    task = next(iter(sim.tasks))
    assert task.detail["images"] == [a.url for a in status.attachments]
    await fake.wait_for_message(status.id, has_video, timeout=WAIT)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"image": ("notes.png", b"just text, not a picture", "image/png")}, "not a PNG, JPEG, WebP or GIF"),
        ({"duration": 5}, "4, 6, 8 seconds, not 5"),
        (
            {"image": ("a.png", PNG_1PX, "image/png"), "image2": ("b.png", PNG_1PX, "image/png")},
            "at most 1 reference image",
        ),
        ({"hd": True}, "no HD option"),
    ],
    ids=["not-an-image", "wrong-duration", "too-many-images", "hd-unsupported"],
)
async def test_bad_requests_are_refused_privately_leaving_nothing(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, options: dict[str, object], says: str
) -> None:
    rec = await create(fake, prompt="x", model="veo-3.1-fast-generate-preview", **options)
    await private_text(fake, rec, says)

    assert [m for m in fake.messages(fake.channel().id) if not m.flags & EPHEMERAL] == []
    assert sim.stats.route_classes["create"] == 0


async def test_missing_permissions_are_refused_before_spending(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    fake.set_bot_permissions(fake.channel().id, deny=P.ATTACH_FILES)
    rec = await create(fake, prompt="x")
    text = await private_text(fake, rec, "missing the")
    assert "Attach Files" in text
    assert sim.stats.route_classes["create"] == 0


async def test_without_thread_permission_the_video_arrives_in_the_channel(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    fake.set_bot_permissions(fake.channel().id, deny=P.CREATE_PUBLIC_THREADS)
    rec = await create(fake, prompt="no threads here")
    await private_text(fake, rec, "on its way")
    await fake.wait_for_message(fake.channel().id, has_video, timeout=WAIT)
    assert fake.threads() == []


async def test_a_failed_job_is_explained_with_a_retry_button(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    rec = await create(fake, prompt="please FAIL", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    notice = await fake.wait_for_message(thread.id, lambda m: "failed" in m.content, timeout=WAIT)

    assert "could not make this video" in notice.content and "Traceback" not in notice.content
    assert "reelbot:retry:" in str(notice.components)
    status = fake.message(thread.starter_message_id or 0)
    await fake.wait_for_message(fake.channel().id, lambda m: m.id == status.id and "Failed" in str(m.embeds))


async def test_a_policy_refusal_at_submit_is_private_and_leaves_nothing(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    sim.faults.refuse_policy()
    rec = await create(fake, prompt="a famous actor", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "content policy")
    assert [m for m in fake.messages(fake.channel().id) if not m.flags & EPHEMERAL and not m.deleted] == []
    assert fake.threads() == []


@pytest.mark.sim(task_seconds=8.0)  # long enough for a progress edit between start and finish
async def test_progress_edits_the_status_message(fake: FakeDiscord, sim: Simulator, tmp_path: Path) -> None:
    async with await start_bot(fake, sim, tmp_path):
        rec = await create(fake, prompt="slow one", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        status = await fake.wait_for_message(fake.channel().id, lambda m: bool(m.embeds), timeout=WAIT)
        await fake.wait_for_message(
            fake.channel().id, lambda m: m.id == status.id and "Generating" in str(m.embeds), timeout=WAIT
        )
        thread = await fake.wait_for_thread(timeout=WAIT)
        await fake.wait_for_message(thread.id, has_video, timeout=WAIT)


@pytest.mark.sim(task_seconds=4.0)
async def test_sigkill_mid_job_then_restart_delivers_exactly_once(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    first = await start_bot(fake, sim, tmp_path)
    async with first:
        rec = await create(fake, prompt="survive a crash", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        await first.kill()
    async with await start_bot(fake, sim, tmp_path):
        await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
        await fake.wait_for_request("PATCH", f"*/messages/{thread.starter_message_id}", timeout=WAIT)
    assert len([m for m in fake.messages(thread.id) if has_video(m)]) == 1


async def _kill_right_after_posting(fake: FakeDiscord, sim: Simulator, tmp_path: Path, prompt: str) -> Channel:
    """Start a job and SIGKILL the bot once its video is posted but before the delivery is recorded."""
    first = await start_bot(fake, sim, tmp_path)
    async with first:
        rec = await create(fake, prompt=prompt, model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        # After posting the video the bot marks the status message done; while Discord fails that edit
        # (discord.py retries it for seconds), the delivery is not yet recorded. Kill the bot in that window.
        fake.inject_error("PATCH", f"/channels/*/messages/{thread.starter_message_id}", status=502, times=10)
        await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
        await first.kill()
    fake.clear_faults()
    return thread


async def _restart_until_done(fake: FakeDiscord, sim: Simulator, tmp_path: Path, thread: Channel) -> BotProcess:
    """Start the bot again and wait until the killed job's status message says it is done."""
    second = await start_bot(fake, sim, tmp_path)
    async with second:
        await fake.wait_for_message(
            fake.channel().id, lambda m: m.id == thread.starter_message_id and "Done" in str(m.embeds), timeout=WAIT
        )
    return second


async def test_killed_right_after_posting_the_result_is_not_posted_twice(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    thread = await _kill_right_after_posting(fake, sim, tmp_path, "crash after posting")
    second = await _restart_until_done(fake, sim, tmp_path, thread)
    assert "found its earlier post" in second.output()
    assert len([m for m in fake.messages(thread.id) if has_video(m)]) == 1
    assert len(fake.requests_to("POST", f"/channels/{thread.id}/messages")) == 1


async def test_a_busy_thread_does_not_hide_the_earlier_post_from_a_retried_delivery(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    thread = await _kill_right_after_posting(fake, sim, tmp_path, "crash after posting, then chatter")
    for number in range(250):  # more than two pages of Discord's message history after the post
        fake.post_user_message(thread.id, f"nice one {number}")
    second = await _restart_until_done(fake, sim, tmp_path, thread)
    assert "found its earlier post" in second.output()
    assert len([m for m in fake.messages(thread.id) if has_video(m)]) == 1


async def test_buttons_work_after_a_restart(fake: FakeDiscord, sim: Simulator, tmp_path: Path) -> None:
    first = await start_bot(fake, sim, tmp_path)
    async with first:
        rec = await create(
            fake,
            prompt="a red kite",
            model="veo-3.1-fast-generate-preview",
            image=("kite.png", png(300, 200), "image/png"),
        )
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
        assert await first.terminate() == 0
    presser = fake.create_user("presser", guild_ids=[fake.guild.id])
    async with await start_bot(fake, sim, tmp_path):
        job_id = result.content.split("`")[1]
        click = await fake.click_button(result.id, f"reelbot:reroll:{job_id}", user_id=presser.id)
        await private_text(fake, click, "on its way")
        new_thread = await fake.wait_for_thread(lambda t: t.id != thread.id, timeout=WAIT)
        rerolled = await fake.wait_for_message(new_thread.id, has_video, timeout=WAIT)

    assert rerolled.content.startswith(f"<@{presser.id}>")  # the re-roll belongs to the presser
    assert sim.stats.route_classes["create"] == 2
    second_task = list(sim.tasks)[1]
    assert second_task.prompt == "a red kite"
    assert str(second_task.detail["first_frame"]).startswith("data:image/jpeg;base64,")


async def test_remix_edits_the_prompt(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    rec = await create(fake, prompt="a blue whale", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    job_id = result.content.split("`")[1]

    click = await fake.click_button(result.id, f"reelbot:remix:{job_id}")
    await click.wait_response(WAIT)
    assert click.modal is not None
    field_id = click.modal["components"][0]["components"][0]["custom_id"]
    submitted = await fake.submit_modal(click, {field_id: "a pink whale"})
    await private_text(fake, submitted, "on its way")
    await fake.wait_for_thread(lambda t: "a pink whale" in (t.name or ""), timeout=WAIT)
    assert list(sim.tasks)[1].prompt == "a pink whale"


async def test_delete_is_for_the_requester_and_moderators(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    rec = await create(fake, prompt="delete me", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    job_id = result.content.split("`")[1]
    stranger = fake.create_user("stranger", guild_ids=[fake.guild.id])

    refused = await fake.click_button(result.id, f"reelbot:delete:{job_id}", user_id=stranger.id, member_permissions=0)
    await private_text(fake, refused, "Only the person who asked")
    assert not fake.message(result.id).deleted

    allowed = await fake.click_button(result.id, f"reelbot:delete:{job_id}")
    await private_text(fake, allowed, "deleted")
    assert fake.message(result.id).deleted
    await fake.wait_for_message(
        fake.channel().id, lambda m: m.id == thread.starter_message_id and "deleted" in str(m.embeds), timeout=WAIT
    )


@pytest.mark.sim(task_seconds=3.0)
async def test_an_expired_interaction_token_does_not_stop_delivery(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    rec = await create(fake, prompt="takes a while", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    fake.expire_token(rec)
    thread = await fake.wait_for_thread(timeout=WAIT)
    await fake.wait_for_message(thread.id, has_video, timeout=WAIT)


async def test_a_result_over_the_upload_limit_is_compressed_to_fit(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    sim.faults.oversize(size_bytes=11 * 1024 * 1024)
    rec = await create(fake, prompt="huge", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    posted = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    assert "Compressed from 11.0 MiB" in posted.content and "10.0 MiB upload limit" in posted.content
    video = next(a for a in posted.attachments if a.filename.endswith(".mp4"))
    assert len(fake.attachment_bytes(video.id)) <= 10 * 1024 * 1024
    assert "attachment://poster.jpg" in str(posted.embeds)  # the poster frame, with length and resolution


async def test_a_30_mb_result_arrives_as_a_playable_mp4_under_10_mib(
    fake: FakeDiscord, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = tmp_path_factory.getbasetemp().parent / "media-samples"
    clip = await asyncio.to_thread(make_clip, cache, seconds=8, width=1920, height=1080, target_bytes=30_000_000)
    config = SimulatorConfig(tick_seconds=0, task_seconds=0.3, result_video=str(clip))
    async with Simulator(config) as sim, await start_bot(fake, sim, tmp_path):
        rec = await create(fake, prompt="big", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        # As long as the bot's own encode may take (Encoder.timeout_seconds): on a loaded box it is slow, not wrong.
        posted = await fake.wait_for_message(thread.id, has_video, timeout=Encoder().timeout_seconds)

    video = next(a for a in posted.attachments if a.filename.endswith(".mp4"))
    fitted = tmp_path / "posted.mp4"
    fitted.write_bytes(fake.attachment_bytes(video.id))
    assert clip.stat().st_size > 28_000_000 and fitted.stat().st_size <= 10 * 1024 * 1024
    assert_playable(fitted)
    before, after = await Encoder().probe(clip), await Encoder().probe(fitted)
    assert after.has_audio and after.video_codec == "h264"
    assert abs(after.duration_seconds - before.duration_seconds) <= 0.05 * before.duration_seconds
    assert "Compressed from" in posted.content


# Without ffmpeg nothing can be re-encoded: the path of a result that cannot be made to fit.
NO_FFMPEG = {"IMAGEIO_FFMPEG_EXE": "/nonexistent/ffmpeg"}


async def test_a_result_that_cannot_fit_without_a_media_server_is_explained(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    sim.faults.oversize(size_bytes=11 * 1024 * 1024)
    async with await start_bot(fake, sim, tmp_path, **NO_FFMPEG):
        rec = await create(fake, prompt="huge", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        notice = await fake.wait_for_message(thread.id, lambda m: "upload limit" in m.content, timeout=WAIT)
    assert "could not be shrunk" in notice.content and ".mp4" in notice.content and "11.0 MiB" in notice.content
    assert not has_video(notice)


async def test_a_result_that_cannot_fit_is_linked_from_the_media_server(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    sim.faults.oversize(size_bytes=11 * 1024 * 1024)
    port = free_port()
    media = {"MEDIA_PUBLIC_URL": f"http://127.0.0.1:{port}/media", "MEDIA_LISTEN": f"127.0.0.1:{port}"}
    async with await start_bot(fake, sim, tmp_path, **NO_FFMPEG, **media):
        rec = await create(fake, prompt="huge", model="veo-3.1-fast-generate-preview")
        await private_text(fake, rec, "on its way")
        thread = await fake.wait_for_thread(timeout=WAIT)
        posted = await fake.wait_for_message(thread.id, lambda m: "/media/v/" in m.content, timeout=WAIT)
        link = posted.content.split("here (the link works for a few days): ")[1].strip()
        async with aiohttp.ClientSession() as session, session.get(link) as response:
            assert response.status == 200
            body = await response.read()
    original = next(tmp_path.glob("results/*.mp4"))
    assert body == original.read_bytes() and len(body) == 11 * 1024 * 1024


async def test_status_history_models_and_help(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    rec = await create(fake, prompt="for the record", model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    task_id = next(iter(sim.tasks)).task_id

    for subcommand, options, needle in (
        ("status", {"job": task_id}, "for the record"),
        ("status", {"job": "nosuchjob"}, "There is no job"),
        ("status", {}, "no videos in progress"),
        ("history", {}, "for the record"),
    ):
        reply = await fake.invoke_slash(subcommand=subcommand, options=options)
        await private_text(fake, reply, needle)
    for subcommand, needle in (("models", "veo3.1-fast-components"), ("help", "/video create")):
        reply = await fake.invoke_slash(subcommand=subcommand)
        await reply.wait_response(WAIT)
        assert needle in str(reply.responses[0].data) and reply.responses[0].flags & EPHEMERAL


async def test_global_commands_sync_only_when_they_change(fake: FakeDiscord, sim: Simulator, tmp_path: Path) -> None:
    env = {"DISCORD_DEV_GUILD_ID": ""}
    for _ in range(2):
        proc = BotProcess(bot_env(fake, sim, tmp_path, **env), tmp_path)
        async with proc:
            await fake.wait_connected(timeout=WAIT)
            assert await proc.terminate() == 0
    assert len(fake.requests_to("PUT", "/applications/*/commands")) == 1
    assert fake.commands()[0]["name"] == "video"


async def test_sigterm_exits_promptly_and_a_bad_token_is_explained(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    proc = await start_bot(fake, sim, tmp_path)
    async with proc:
        assert await proc.terminate(within=10.0) == 0
    bad = BotProcess(bot_env(fake, sim, tmp_path, DISCORD_TOKEN="not-the-token"), tmp_path, name="badtoken")
    async with bad:
        assert await bad.wait() == 2
    assert "Discord rejected DISCORD_TOKEN" in bad.output()
    assert "not-the-token" not in bad.output() and "Traceback" not in bad.output()


async def test_a_long_prompt_still_gets_a_thread(fake: FakeDiscord, bot: BotProcess) -> None:
    prompt = "a very long description of a calm sea at dawn, " * 4
    rec = await create(fake, prompt=prompt, model="veo-3.1-fast-generate-preview")
    await private_text(fake, rec, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    assert thread.name is not None
    assert len(thread.name) <= 100 and thread.name.startswith("a very long description")


async def test_a_job_started_inside_a_thread_can_be_rerolled(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    first = await create(fake, prompt="the first one", model="veo-3.1-fast-generate-preview")
    await private_text(fake, first, "on its way")
    thread = await fake.wait_for_thread(timeout=WAIT)
    first_result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)

    inside = await fake.invoke_slash(
        channel_id=thread.id, options={"prompt": "made in a thread", "model": "veo-3.1-fast-generate-preview"}
    )
    await private_text(fake, inside, "on its way")
    result = await fake.wait_for_message(thread.id, lambda m: has_video(m) and m.id != first_result.id, timeout=WAIT)
    job_id = result.content.split("`")[1]
    click = await fake.click_button(result.id, f"reelbot:reroll:{job_id}")
    await private_text(fake, click, "on its way")
    assert sim.stats.route_classes["create"] == 3


async def test_large_images_for_a_url_model_are_downscaled(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    rec = await create(fake, prompt="big photo", model="veo3.1-fast", image=("photo.png", png(3000, 2000), "image/png"))
    await private_text(fake, rec, "on its way")
    status = await fake.wait_for_message(fake.channel().id, lambda m: bool(m.attachments), timeout=WAIT)
    with Image.open(io.BytesIO(fake.attachment_bytes(status.attachments[0].id))) as image:
        assert image.format == "JPEG" and max(image.size) == 2048


async def test_a_retired_model_is_refused_privately_without_a_gateway_call(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    rec = await create(fake, prompt="a lighthouse at dusk", model="sora-2")
    text = await private_text(fake, rec, "retired")
    assert text == (
        "Sora 2 was retired by its provider on 2026-09-24 and can no longer make videos. "
        "Use Veo 3.1 Fast (`veo-3.1-fast-generate-preview`) instead. Nothing was charged."
    )
    assert [m for m in fake.messages(fake.channel().id) if not m.flags & EPHEMERAL] == []
    assert sim.stats.route_classes["create"] == 0


async def test_with_no_model_chosen_the_first_served_model_makes_the_video(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    sim.serve_models(("kling-v2-1", "doubao-seedance-1-0-pro-250528"))  # a gateway without Veo or Sora
    async with await start_bot(fake, sim, tmp_path):
        offered = await fake.invoke_autocomplete("model", options={"prompt": "x", "model": "", "duration": 10})
        choices = (await offered.wait_response(WAIT)).data["choices"]
        durations = await fake.invoke_autocomplete("duration", options={"prompt": "x", "model": "kling-v2-1"})
        lengths = (await durations.wait_response(WAIT)).data["choices"]
        unserved = await create(fake, prompt="x", model="veo-3.1-fast-generate-preview")
        refusal = await private_text(fake, unserved, "does not serve")

        rec = await create(fake, prompt="a paper boat in the rain")
        await private_text(fake, rec, "on its way")
        status = await fake.wait_for_message(fake.channel().id, lambda m: bool(m.embeds), timeout=WAIT)
        await fake.wait_for_message(status.id, has_video, timeout=WAIT)

    assert [c["value"] for c in choices] == ["kling-v2-1", "doubao-seedance-1-0-pro-250528"]
    # Each with its cost for the length chosen so far.
    assert [c["name"].split(" · ")[1] for c in choices] == ["10 credits for 10 s", "6 credits for 10 s"]
    assert [(c["name"], c["value"]) for c in lengths] == [("5 seconds (default)", 5), ("10 seconds", 10)]
    assert "Nothing was charged. Choose one of: kling-v2-1, doubao-seedance-1-0-pro-250528." in refusal
    assert [task.model for task in sim.tasks] == ["kling-v2-1"]


async def test_a_last_frame_reaches_the_model_and_a_reroll_keeps_it(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    rec = await create(
        fake,
        prompt="a door opens",
        model="kling-v2-1",
        image=("first.png", png(320, 180), "image/png"),
        last_frame=("last.png", png(320, 180), "image/png"),
    )
    await private_text(fake, rec, "on its way")
    status = await fake.wait_for_message(fake.channel().id, lambda m: len(m.attachments) == 2, timeout=WAIT)
    thread = await fake.wait_for_thread(timeout=WAIT)
    result = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    click = await fake.click_button(result.id, f"reelbot:reroll:{result.content.split('`')[1]}")
    await private_text(fake, click, "on its way")
    await eventually(lambda: len(sim.tasks) == 2)

    first, again = list(sim.tasks)
    urls = {a.filename: a.url for a in status.attachments}
    assert first.detail["first_frame"] == urls["reference-1.jpg"]
    assert first.detail["last_frame"] == urls["last-frame-1.jpg"]
    assert (first.detail["mode"], first.detail["duration"]) == ("pro", 5)
    assert again.detail["last_frame"] and again.detail["last_frame"] != first.detail["last_frame"]  # posted anew
    assert again.detail["first_frame"] and again.detail["first_frame"] != first.detail["first_frame"]


async def test_a_decompression_bomb_is_refused_by_name(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    bomb = png_header_only(20000, 10000)
    assert len(bomb) == 65
    rec = await create(fake, prompt="x", model="veo-3.1-fast-generate-preview", image=("bomb.png", bomb, "image/png"))
    text = await private_text(fake, rec, "bomb.png")
    assert "40 megapixels" in text and "Use a smaller image" in text
    assert "Something went wrong" not in text
    assert [m for m in fake.messages(fake.channel().id) if not m.flags & EPHEMERAL] == []
    assert sim.stats.route_classes["create"] == 0
    assert "Traceback" not in bot.output() and "DecompressionBomb" not in bot.output()
