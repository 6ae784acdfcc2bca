"""/video settings end to end: a member's defaults picked in menus, used by /video create, kept across a restart."""

from __future__ import annotations

from pathlib import Path

from bot.devtools.gateway import Simulator
from bot.front.member_settings import NO_DEFAULT
from tests.botproc import WAIT, create, private_text, start_bot
from tests.fakediscord import FakeDiscord, InteractionRecord, Message
from tests.fakediscord.interactions import DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, MESSAGE_COMPONENT

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
            "reelbot:settings:private",
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


async def test_a_default_the_chosen_model_lacks_is_named_in_the_acknowledgement(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    async with await start_bot(fake, sim, tmp_path, **ROOMY):
        await pick(fake, await open_settings(fake), "duration", "10")
        rec = await create(fake, prompt="a windmill in fog", model=VEO)
        ack = await private_text(fake, rec, "on its way")
        assert "does not make 10-second videos, so this one is 8 seconds" in ack
        await fake.wait_for_message(fake.channel().id, lambda m: len(sim.tasks) == 1, timeout=WAIT)
    (task,) = sim.tasks
    assert task.detail["duration"] == 8


async def test_the_command_and_the_menus_answer_discord_before_reading_the_database(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    async with await start_bot(fake, sim, tmp_path):
        rec = await fake.invoke_slash(subcommand="settings")
        await rec.wait_for(lambda _call: _menus(fake, rec) is not None, WAIT)
        menus = _menus(fake, rec)
        assert menus is not None and menus.ephemeral
        assert [call.type for call in rec.callbacks] == [DEFERRED_CHANNEL_MESSAGE]
        assert "portrait" in await pick(fake, menus, "orientation", "portrait")
        (picked,) = [r for r in fake.interactions if r.type == MESSAGE_COMPONENT]
        assert [call.type for call in picked.callbacks] == [DEFERRED_UPDATE]
        assert fake.state.messages[menus.id].components  # the menus stay under the changed defaults


async def test_the_model_autocomplete_prices_the_members_default_length(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    async with await start_bot(fake, sim, tmp_path):
        await pick(fake, await open_settings(fake), "duration", "10")
        untyped = await fake.invoke_autocomplete("model", options={"prompt": "x", "model": ""})
        priced = {c["value"]: c["name"] for c in (await untyped.wait_response(WAIT)).data["choices"]}
        typed = await fake.invoke_autocomplete("model", options={"prompt": "x", "model": "", "duration": 5})
        retyped = {c["value"]: c["name"] for c in (await typed.wait_response(WAIT)).data["choices"]}
    assert priced["kling-v2-1"].endswith("10 credits for 10 s")  # the default, where the model has that length
    assert retyped["kling-v2-1"].endswith("5 credits for 5 s")  # what the member typed wins
    veo = next(name for value, name in priced.items() if value.startswith("veo"))
    assert veo.endswith("for 8 s")  # a model without the default length is priced at its own
