"""/video show on the fake Discord: a finished video posted again with working buttons, from the kept file or a
fresh download, and refused (privately) for others' jobs, deleted, forgotten and expired ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from bot.devtools.gateway.tasks import SimTask
from tests.botproc import WAIT, BotProcess, create, delivered, has_video, private_text
from tests.fakediscord import FakeDiscord, InteractionRecord, Message, P
from tests.fakediscord.interactions import DEFERRED_CHANNEL_MESSAGE
from tests.helpers import eventually

FAST = "veo-3.1-fast-generate-preview"
MEMBER = P.VIEW_CHANNEL | P.SEND_MESSAGES | P.USE_APPLICATION_COMMANDS
MODERATOR = MEMBER | P.MANAGE_MESSAGES


# The bot, room for a few videos a day.
pytestmark = pytest.mark.bot(QUOTA_USER_DAILY_CREDITS="1000", MAX_JOBS_PER_USER="3")


def buttons(message: Message) -> list[str]:
    return [component["custom_id"] for row in message.components for component in row["components"]]


async def made(fake: FakeDiscord, tmp_path: Path, prompt: str) -> tuple[str, Message]:
    """Make a video; return its job id and its post in its thread once the delivery is recorded."""
    text = await private_text(fake, await create(fake, prompt=prompt, model=FAST), "on its way")
    job_id = text.split("job `")[1].split("`")[0]
    thread = await fake.wait_for_thread(lambda t: (t.name or "").startswith(prompt), timeout=WAIT)
    post = await fake.wait_for_message(thread.id, has_video, timeout=WAIT)
    await eventually(lambda: delivered(tmp_path, job_id), WAIT)
    return job_id, post


async def show(
    fake: FakeDiscord, job_id: str, user_id: int | None = None, permissions: int | None = None
) -> InteractionRecord:
    """Run /video show in the default channel."""
    return await fake.invoke_slash(
        subcommand="show",
        channel_id=fake.channel().id,
        options={"job": job_id},
        user_id=user_id,
        member_permissions=permissions,
    )


async def shown(fake: FakeDiscord, job_id: str) -> Message:
    """The newest re-post of a job in the default channel, once it is there."""
    return await fake.wait_for_message(
        fake.channel().id, lambda m: has_video(m) and "Shown again" in m.content and job_id in m.content, timeout=WAIT
    )


def edits(rec: InteractionRecord) -> list[str]:
    """The texts the private reply was edited to, in order."""
    return [str((call.data or {}).get("content")) for call in rec.calls if call.kind == "edit_original"]


def only_task(sim: Simulator) -> SimTask:
    (task,) = sim.tasks
    return task


def kept_files(tmp_path: Path, job_id: str) -> list[Path]:
    return sorted((tmp_path / "results").glob(f"{job_id}.*"))


async def test_own_video_is_posted_again_with_working_buttons(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    job_id, original = await made(fake, tmp_path, "a red kite over hills")
    offered = await fake.invoke_autocomplete("job", subcommand="show", options={"job": "kite"})
    assert [c["value"] for c in (await offered.wait_response(WAIT)).data["choices"]] == [job_id]

    rec = await show(fake, job_id)
    answer = await private_text(fake, rec, "posted again")
    assert rec.callbacks[0].type == DEFERRED_CHANNEL_MESSAGE
    post = await shown(fake, job_id)
    assert post.id != original.id and answer.endswith(f"/{fake.channel().id}/{post.id}")
    assert f"<@{fake.default_user.id}>" in post.content
    sent = [r for r in fake.requests_to("POST", "/channels/*/messages") if "Shown again" in str(r.json)]
    assert sent[0].json["allowed_mentions"]["parse"] == [] and not sent[0].json["allowed_mentions"].get("users")
    assert buttons(post) == [f"reelbot:reroll:{job_id}", f"reelbot:remix:{job_id}", f"reelbot:delete:{job_id}"]
    assert only_task(sim).downloads == 1  # the kept file: no second download

    reroll = await fake.click_button(post.id, f"reelbot:reroll:{job_id}")
    await private_text(fake, reroll, "on its way")
    deleted = await fake.click_button(post.id, f"reelbot:delete:{job_id}")
    await private_text(fake, deleted, "The video was deleted")
    assert fake.message(post.id).deleted and fake.message(original.id).deleted  # taken down, the delivered post too
    again = await show(fake, job_id)
    await private_text(fake, again, "was deleted, so it can't be shown again")


async def test_another_members_video_needs_manage_messages(fake: FakeDiscord, bot: BotProcess, tmp_path: Path) -> None:
    job_id, _ = await made(fake, tmp_path, "a tram in the snow")
    stranger = fake.create_user("stranger", guild_ids=[fake.guild.id])
    refused = await show(fake, job_id, stranger.id, MEMBER)
    await private_text(fake, refused, "Only the person who asked for this video")
    assert not [m for m in fake.messages(fake.channel().id) if "Shown again" in m.content]
    offered = await fake.invoke_autocomplete("job", subcommand="show", user_id=stranger.id)
    assert (await offered.wait_response(WAIT)).data["choices"] == []

    moderator = fake.create_user("moderator", guild_ids=[fake.guild.id])
    allowed = await show(fake, job_id, moderator.id, MODERATOR)
    await private_text(fake, allowed, "posted again")
    assert f"Shown again by <@{moderator.id}>" in (await shown(fake, job_id)).content


async def test_forgotten_and_unknown_jobs_are_refused(fake: FakeDiscord, bot: BotProcess, tmp_path: Path) -> None:
    job_id, _ = await made(fake, tmp_path, "a paper boat")
    await private_text(fake, await fake.invoke_slash(subcommand="forget"), "erased")
    await private_text(fake, await show(fake, job_id), "erased with /video forget")
    await private_text(fake, await show(fake, "nosuchjob"), "There is no job 'nosuchjob' in this server")


async def test_a_swept_video_comes_again_from_the_gateway_and_is_kept(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    job_id, _ = await made(fake, tmp_path, "a fox at dawn")
    for path in kept_files(tmp_path, job_id):  # what retention does once RETENTION_DAYS have passed
        path.unlink()
    rec = await show(fake, job_id)
    await private_text(fake, rec, "posted again")
    assert any("Downloading the video" in text for text in edits(rec))
    assert has_video(await shown(fake, job_id))
    assert only_task(sim).downloads == 2
    assert tmp_path / "results" / f"{job_id}.mp4" in kept_files(tmp_path, job_id)


async def test_a_video_neither_kept_nor_at_the_gateway_has_expired(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess, tmp_path: Path
) -> None:
    job_id, _ = await made(fake, tmp_path, "an owl at dusk")
    for path in kept_files(tmp_path, job_id):
        path.unlink()
    only_task(sim).lost = True  # the gateway answers 404 for it now
    rec = await show(fake, job_id)
    await private_text(fake, rec, "has expired")
    assert not [m for m in fake.messages(fake.channel().id) if "Shown again" in m.content]


async def test_every_copy_goes_with_delete_on_the_original_or_a_copy_and_with_forget(
    fake: FakeDiscord, bot: BotProcess, tmp_path: Path
) -> None:
    other = fake.create_channel(fake.guild.id, "elsewhere")
    job_id, original = await made(fake, tmp_path, "a lantern on water")
    first = await private_text(fake, await show(fake, job_id), "posted again")
    elsewhere = await fake.invoke_slash(subcommand="show", channel_id=other.id, options={"job": job_id})
    second = await private_text(fake, elsewhere, "posted again")
    copies = [int(text.rsplit("/", 1)[1]) for text in (first, second)]
    pressed = await fake.click_button(original.id, f"reelbot:delete:{job_id}")
    await private_text(fake, pressed, "The video was deleted")
    assert all(fake.message(copy).deleted for copy in [original.id, *copies])

    job_id, original = await made(fake, tmp_path, "a moth at a window")
    gone, kept, pressed_on = [
        int((await private_text(fake, await show(fake, job_id), "posted again")).rsplit("/", 1)[1]) for _ in range(3)
    ]
    fake.state.messages[gone].deleted = True  # removed by a moderator meanwhile: the rest still go
    pressed = await fake.click_button(pressed_on, f"reelbot:delete:{job_id}")
    await private_text(fake, pressed, "The video was deleted")
    assert all(fake.message(message).deleted for message in (original.id, kept, pressed_on))

    job_id, original = await made(fake, tmp_path, "a swing in the rain")
    copy = int((await private_text(fake, await show(fake, job_id), "posted again")).rsplit("/", 1)[1])
    await private_text(fake, await fake.invoke_slash(subcommand="forget"), "erased")
    assert fake.message(copy).deleted
