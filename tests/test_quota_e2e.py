"""Quotas, moderation and admin commands end to end: the real bot against the fake Discord and the simulator."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.devtools.gateway import Simulator
from bot.front import usage_chart
from bot.storage.guilds import GuildStore, ListKind
from bot.storage.sqlite import SqliteDatabase
from tests.botproc import WAIT, BotProcess, bot_env, create, has_video, private_text, start_bot
from tests.fakediscord import FakeDiscord, InteractionRecord, Message
from tests.helpers import delivered_jobs, eventually, rgb

MODEL = "veo-3.1-fast-generate-preview"  # 1.5 credits a second: a 4-second video costs 6

# The bot with a small daily allowance (18 credits: three 4-second Veo 3.1 Fast videos) and one owner.
pytestmark = [pytest.mark.fake(channels=["reelbot-log"]), pytest.mark.bot(owner=True, QUOTA_USER_DAILY_CREDITS="18")]


async def admin(
    fake: FakeDiscord, subcommand: str, *, user_id: int | None = None, **options: object
) -> InteractionRecord:
    """Run /video-admin (as the server owner unless told otherwise) and wait for its private answer."""
    user = fake.owner_user.id if user_id is None else user_id
    rec = await fake.invoke_slash(name="video-admin", subcommand=subcommand, options=options, user_id=user)
    await rec.wait_for(lambda _call: bool(reply_of(fake, rec)), WAIT)
    return rec


def reply_of(fake: FakeDiscord, rec: InteractionRecord) -> str:
    """The text and embeds of an interaction's private answer (empty while it is only deferred)."""
    message = fake.original_message(rec)
    if message is None or not (message.content or message.embeds):
        return ""
    return f"{message.content} {message.embeds}"


async def finished(fake: FakeDiscord, rec: InteractionRecord) -> None:
    """Wait until the job started by ``rec`` has been delivered in its thread."""
    await private_text(fake, rec, "on its way")
    thread_id = int(fake.original_message(rec).content.split("<#")[1].split(">")[0])  # type: ignore[union-attr]
    await fake.wait_for_message(thread_id, lambda m: has_video(m) or "failed" in m.content, timeout=WAIT)


async def test_members_without_manage_server_are_refused_by_the_command_itself(
    fake: FakeDiscord, bot: BotProcess
) -> None:
    rec = await fake.invoke_slash(name="video-admin", subcommand="limits show", member_permissions=0)
    await rec.wait_response(WAIT)
    assert "Manage Server" in str(rec.responses[0].data)  # refused at once, not deferred
    admin_command = next(c for c in fake.commands(fake.guild.id) if c["name"] == "video-admin")
    assert str(admin_command["default_member_permissions"]) == str(1 << 5)  # hidden from members by Discord


async def test_the_daily_allowance_is_spent_refunded_on_failure_and_refused_when_empty(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    first = await create(fake, prompt="one", model=MODEL, duration=4)
    # The acknowledgement says what the video costs and what is left once it is paid for.
    text = await private_text(fake, first, "on its way")
    assert "It costs 6 credits; you have 12 of 18 left today, the server 394 of 400 today and 5994 of 6000" in text
    await finished(fake, first)
    for prompt in ("please FAIL", "two", "three"):
        await finished(fake, await create(fake, prompt=prompt, model=MODEL, duration=4))

    refused = await create(fake, prompt="four", model=MODEL, duration=4)
    text = await private_text(fake, refused, "left today")
    assert "costs 6 credits; you have 0 left today" in text
    assert sim.stats.route_classes["create"] == 4  # the refused one never reached the gateway

    quota = await fake.invoke_slash(subcommand="quota")
    # Three successes of 6 credits: the failed job was refunded.
    await quota.wait_for(lambda _call: "18 / 18 used" in str(getattr(fake.original_message(quota), "embeds", "")), WAIT)


async def test_the_report_attaches_the_months_spending_as_a_chart(fake: FakeDiscord, bot: BotProcess) -> None:
    await admin(fake, "limits set", server_monthly=120)
    first = await create(fake, prompt="one", model=MODEL, duration=4)
    text = await private_text(fake, first, "on its way")
    assert (
        "It costs 6 credits; you have 12 of 18 left today, the server 394 of 400 today and 114 of 120 this month."
        in text
    )
    await finished(fake, first)
    await finished(fake, await create(fake, prompt="two", model=MODEL, duration=4))

    rec = await admin(fake, "server report")
    message = fake.original_message(rec)
    assert message is not None
    assert "12 (2 videos)" in str(message.embeds)  # two 6-credit videos
    assert f"<@{fake.default_user.id}>: 12 credits, 2 videos" in str(message.embeds)  # members in the embed
    (chart,) = message.attachments
    assert chart.filename == "usage.png"
    image = Image.open(io.BytesIO(fake.attachment_bytes(chart.id)))
    assert image.format == "PNG" and image.size == (800, 500)
    colours = {colour for _count, colour in image.convert("RGB").getcolors(maxcolors=800 * 500) or []}
    assert rgb(usage_chart.PALETTE[0]) in colours  # the model's bar
    assert rgb(usage_chart.POOL) in colours  # the monthly pool's line


async def test_bonus_credits_are_spent_after_the_allowance(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    await admin(fake, "limits set", user_daily=6)
    await admin(fake, "credits grant", member=fake.default_user.id, amount=6)
    allowance = await create(fake, prompt="from the allowance", model=MODEL, duration=4)
    text = await private_text(fake, allowance, "on its way")
    assert "you have 0 of 6 left today and 6 bonus credits, the server" in text
    await finished(fake, allowance)
    await finished(fake, await create(fake, prompt="from the bonus", model=MODEL, duration=4))
    refused = await create(fake, prompt="nothing left", model=MODEL, duration=4)
    await private_text(fake, refused, "left today")

    report = await admin(fake, "server report")
    assert "12 (2 videos)" in reply_of(fake, report)
    assert f"<@{fake.default_user.id}>: 12 credits, 2 videos" in reply_of(fake, report)


async def test_blocked_words_are_caught_through_evasions_and_audited(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    log_channel = fake.channel(name="reelbot-log")
    await admin(fake, "server log-channel", channel=log_channel.id)
    await admin(fake, "words add", pattern="dragon")
    refused = await create(fake, prompt="a fierce D.R.4.G.O.N over the sea", model=MODEL, duration=4)
    await private_text(fake, refused, "does not allow")

    logged = await fake.wait_for_message(log_channel.id, lambda m: "refused" in str(m.embeds), timeout=WAIT)
    assert "blocked word" in str(logged.embeds) and "dragon" in str(logged.embeds)
    assert sim.stats.route_classes["create"] == 0
    await finished(
        fake, await create(fake, prompt="a dragonfly on a leaf", model=MODEL, duration=4)
    )  # innocent word passes


PATHOLOGICAL = (r"(a|aa)+$", r"\w*\w*\w*\w*\w*!", r"a{1,100}a{1,100}a{1,100}b")


async def test_patterns_that_backtrack_cannot_stall_other_servers(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    other = fake.create_guild("Another server")
    # Global commands, so the other server has them too.
    async with BotProcess(bot_env(fake, sim, tmp_path, DISCORD_DEV_GUILD_ID=""), tmp_path) as proc:
        await fake.wait_for_request("PUT", "/applications/*/commands", timeout=WAIT)
        await fake.wait_connected(timeout=WAIT)
        for pattern in PATHOLOGICAL:
            assert "Blocked pattern added" in reply_of(
                fake, await admin(fake, "words add", pattern=pattern, regex=True)
            )

        # A 2,000-character prompt against all three (on a backtracking engine, the second alone blocked the event
        # loop for about 14 s on 100 characters): another server's command is answered meanwhile, and the check ends.
        checked = await create(fake, prompt="a" * 1999 + "!", model=MODEL)
        elsewhere = await fake.invoke_slash(guild_id=other.id, subcommand="quota")
        await elsewhere.wait_for(lambda _call: bool(reply_of(fake, elsewhere)), WAIT)
        await private_text(fake, checked, "does not allow")
        assert "Traceback" not in proc.output()
    assert sim.stats.route_classes["create"] == 0


async def test_stored_patterns_re2_cannot_run_are_listed_inactive_and_reported_once(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    log_channel = fake.channel(name="reelbot-log")
    # A server's settings from before the bot matched on RE2: a look-around pattern was accepted then.
    db = await SqliteDatabase.open(tmp_path / "reelbot.sqlite3")
    guilds = GuildStore(db, time.time)
    await guilds.set_log_channel(fake.guild.id, log_channel.id)
    await guilds.add_to_list(fake.guild.id, ListKind.BLOCKED_REGEX, "(?<=blood)bath")
    await guilds.add_to_list(fake.guild.id, ListKind.BLOCKED_REGEX, "gore+")
    await db.close()

    def notices() -> list[Message]:
        return [m for m in fake.messages(log_channel.id) if "kept but not applied" in str(m.embeds)]

    async with await start_bot(fake, sim, tmp_path):
        await fake.wait_for_message(log_channel.id, lambda m: "kept but not applied" in str(m.embeds), timeout=WAIT)
        listed = reply_of(fake, await admin(fake, "words list"))
        assert "`(?<=blood)bath` (inactive)" in listed and "look-around" in listed
        assert "`gore+`" in listed and "`gore+` (inactive)" not in listed
        refused = await create(fake, prompt="a goreee scene", model=MODEL)
        await private_text(fake, refused, "does not allow")  # the usable pattern still applies
        await finished(fake, await create(fake, prompt="a bloodbath", model=MODEL))  # the inactive one does not
    [notice] = notices()
    assert "(?<=blood)bath" in str(notice.embeds) and "gore+" not in str(notice.embeds)

    async with await start_bot(fake, sim, tmp_path):
        # Setting the log channel reports what it was not yet told before answering: nothing, it was told.
        await admin(fake, "server log-channel", channel=log_channel.id)
    assert len(notices()) == 1


async def test_pause_blocks_and_channel_rules_apply_at_once(fake: FakeDiscord, sim: Simulator, bot: BotProcess) -> None:
    await admin(fake, "server pause", reason="maintenance")
    await private_text(fake, await create(fake, prompt="x"), "paused on this server")
    await admin(fake, "server resume")

    await admin(fake, "users block", member=fake.default_user.id, reason="spam")
    await private_text(fake, await create(fake, prompt="x"), "not allowed to make videos")
    await admin(fake, "users unblock", member=fake.default_user.id)

    await admin(fake, "channels allow", channel=fake.channel(name="reelbot-log").id)
    await private_text(fake, await create(fake, prompt="x"), "can't be made in this channel")
    await admin(fake, "channels disallow", channel=fake.channel(name="reelbot-log").id)

    await admin(fake, "models disable", model=MODEL)
    await private_text(fake, await create(fake, prompt="x", model=MODEL, duration=4), "turned off on this server")
    assert sim.stats.route_classes["create"] == 0


async def test_an_exhausted_gateway_balance_pauses_everyone_and_tells_the_owner_once(
    fake: FakeDiscord, sim: Simulator, bot: BotProcess
) -> None:
    sim.faults.exhaust_balance(count=None)
    first = await create(fake, prompt="x", model=MODEL, duration=4)
    await private_text(fake, first, "run out of balance")
    second = await create(fake, prompt="y", model=MODEL, duration=4)
    await private_text(fake, second, "paused")
    assert sim.stats.route_classes["create"] == 1

    dms = await fake.wait_for_request("POST", "/users/@me/channels", timeout=WAIT)
    assert len(dms) == 1

    sim.faults.clear()
    moderator = fake.create_user("moderator", guild_ids=[fake.guild.id])
    refused = await fake.invoke_slash(
        name="video-admin", subcommand="operator resume", member_permissions=1 << 5, user_id=moderator.id
    )
    await refused.wait_for(lambda _call: "Only the bot's owners" in reply_of(fake, refused), WAIT)
    await admin(fake, "operator resume")
    await finished(fake, await create(fake, prompt="after the top-up", model=MODEL, duration=4))


async def test_forget_erases_history_but_takedown_still_works(fake: FakeDiscord, bot: BotProcess) -> None:
    await finished(fake, await create(fake, prompt="a secret prompt", model=MODEL, duration=4))
    forget = await fake.invoke_slash(subcommand="forget")
    await private_text(fake, forget, "erased")
    history = await fake.invoke_slash(subcommand="history")
    text = await private_text(fake, history, "not made any videos")
    assert "secret" not in text

    thread = fake.threads()[0]
    result = next(m for m in fake.messages(thread.id) if has_video(m))
    job_id = result.content.split("`")[1]
    delete = await fake.click_button(result.id, f"reelbot:delete:{job_id}")
    await private_text(fake, delete, "deleted")  # the requester can still remove what they posted
    assert fake.message(result.id).deleted


async def test_moderators_purge_a_members_results(fake: FakeDiscord, bot: BotProcess, tmp_path: Path) -> None:
    rec = await create(fake, prompt="to be purged", model=MODEL, duration=4)
    await finished(fake, rec)
    await eventually(lambda: delivered_jobs(tmp_path) == 1)  # recorded just after the post
    purge = await fake.invoke_slash(
        name="video-purge", subcommand=None, options={"member": fake.default_user.id}, user_id=fake.owner_user.id
    )
    await private_text(fake, purge, "Deleted 1 video")
    thread = fake.threads()[0]
    assert not [m for m in fake.messages(thread.id) if has_video(m)]
