"""/video settings end to end: a member's defaults picked in menus, used by /video create, kept across a restart."""

from __future__ import annotations

from pathlib import Path

from bot.devtools.gateway import Simulator
from bot.front.member_settings import NO_DEFAULT
from tests.botproc import WAIT, create, private_text, start_bot
from tests.fakediscord import FakeDiscord, InteractionRecord, Message

VEO = "veo-3.1-generate-preview"  # 4, 6 or 8 seconds, HD in both orientations
ROOMY = {"MAX_JOBS_PER_USER": "3", "QUOTA_USER_DAILY_CREDITS": "100"}  # three videos at once


async def open_settings(fake: FakeDiscord) -> Message:
    """Run /video settings and return its private message once the menus are there."""
    rec = await fake.invoke_slash(subcommand="settings")
    await rec.wait_for(lambda _call: _menus(fake, rec) is not None, WAIT)
    message = _menus(fake, rec)
    assert message is not None
    return message


def _menus(fake: FakeDiscord, rec: InteractionRecord) -> Message | None:
    message = fake.original_message(rec)
    return message if message is not None and message.components else None


async def pick(fake: FakeDiscord, message: Message, field: str, value: str) -> str:
    """Pick ``value`` in one menu; return the message's embed text once the answer has edited it."""
    before = str(fake.state.messages[message.id].embeds)
    rec = await fake.use_component(message.id, f"reelbot:settings:{field}", [value])
    await rec.wait_for(lambda _call: str(fake.state.messages[message.id].embeds) != before, WAIT)
    return str(fake.state.messages[message.id].embeds)


async def test_defaults_fill_what_create_leaves_out_and_survive_a_restart(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    first = await start_bot(fake, sim, tmp_path, **ROOMY)
    async with first:
        menus = await open_settings(fake)
        assert [c["custom_id"] for row in menus.components for c in row["components"]] == [
            "reelbot:settings:model",
            "reelbot:settings:orientation",
            "reelbot:settings:duration",
            "reelbot:settings:hd",
        ]
        await pick(fake, menus, "model", VEO)
        await pick(fake, menus, "orientation", "portrait")
        shown = await pick(fake, menus, "duration", "4")
        assert f"`{VEO}`" in shown and "portrait" in shown and "4 seconds" in shown
        assert await first.terminate() == 0

    async with await start_bot(fake, sim, tmp_path, **ROOMY):
        # The menus of the message shown before the restart still work.
        assert "on, where offered" in await pick(fake, menus, "hd", "on")
        rec = await create(fake, prompt="a lighthouse at dusk")
        await private_text(fake, rec, "on its way")
        typed = await create(fake, prompt="a harbour at dawn", duration=6, orientation="landscape", hd=False)
        await private_text(fake, typed, "on its way")
        await fake.wait_for_message(fake.channel().id, lambda m: len(sim.tasks) == 2, timeout=WAIT)

        forget = await fake.invoke_slash(subcommand="forget")
        await private_text(fake, forget, "defaults on this server are erased")
        reopened = await open_settings(fake)
        erased = await create(fake, prompt="a quiet lake")
        await private_text(fake, erased, "on its way")
        await fake.wait_for_message(fake.channel().id, lambda m: len(sim.tasks) == 3, timeout=WAIT)

    defaulted, typed_task, after_forget = list(sim.tasks)
    assert defaulted.model == VEO
    assert _read(defaulted.detail) == (4, "9:16", "1080p")
    # What the member typed wins over their defaults; the model, left out, is still theirs.
    assert typed_task.model == VEO
    assert _read(typed_task.detail) == (6, "16:9", "720p")
    # /video forget erased them: the server's first model and its own length again.
    assert after_forget.model == "veo-3.1-fast-generate-preview"
    chosen = [o for row in reopened.components for c in row["components"] for o in c["options"] if o.get("default")]
    assert {o["value"] for o in chosen} == {NO_DEFAULT}


def _read(detail: dict[str, object]) -> tuple[object, ...]:
    """The length, aspect and resolution the provider read."""
    return detail["duration"], detail["aspect_ratio"], detail["resolution"]
