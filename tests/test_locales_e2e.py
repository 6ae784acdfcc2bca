"""Locales on the fake Discord: a German member's private replies, a Japanese server's public posts (also those a
restarted bot makes from what the job kept), a stored reason with a moderator's words in it told in each reader's
language, English for a locale without a catalogue, and the command tree as synced, with its localized descriptions
and choices and its English names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import WAIT, BotProcess, create, private_text, start_bot
from tests.fakediscord import FakeDiscord, Message
from tests.fakediscord.commands import _validate
from tests.fakediscord.errors import ApiError
from tests.helpers import body_failed, eventually
from tests.test_queue_e2e import dms
from tests.test_quota_e2e import admin

SLOW = "veo-3.1-generate-preview"  # long enough to restart the bot while it generates
HOLDS = "veo3.1-fast"  # generating for five minutes: it holds a server's one slot
FAST = "veo-3.1-fast-generate-preview"
LIMITS = {"MAX_JOBS_PER_USER": "2", "QUOTA_USER_DAILY_CREDITS": "1000", "QUOTA_GUILD_DAILY_CREDITS": "1000"}
JOB = re.compile(r"job `([a-z0-9]+)`")
ONE_SLOT = {"MAX_JOBS_PER_GUILD": "1", "COOLDOWN_SECONDS": "0", **LIMITS}

# The server prefers Japanese; SLOW takes a few seconds, HOLDS minutes, everything else finishes almost at once.
pytestmark = [pytest.mark.fake(preferred_locale="ja"), pytest.mark.sim(model_task_seconds={SLOW: 8.0, HOLDS: 300.0})]


def labels(message: Message) -> list[str]:
    return [component.get("label", "") for row in message.components for component in row["components"]]


async def test_private_replies_follow_the_member_and_public_posts_the_server_across_a_restart(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = await start_bot(fake, sim, tmp_path, **LIMITS)
    async with first:
        rec = await fake.invoke_slash(
            channel_id=fake.channel().id, options={"prompt": "ein Leuchtturm im Nebel", "model": SLOW}, locale="de"
        )
        said = await private_text(fake, rec, "Dein Video ist unterwegs")
        assert "Credits" in said and "job `" in said  # the marker stays as it is in every language
        status = await fake.wait_for_message(fake.channel().id, lambda m: "キャンセル" in labels(m), timeout=WAIT)
        embed = status.embeds[0]
        assert embed["title"] == "動画を作成中"
        assert [field["name"] for field in embed["fields"]][:3] == ["モデル", "向き", "長さ"]
        assert embed["fields"][1]["value"] == "横長"
        job_id = embed["footer"]["text"].removeprefix("ジョブ ")
        assert await first.terminate() == 0

    # The process that posts the result never saw the interaction: the languages came with the job.
    second = await start_bot(fake, sim, tmp_path, **LIMITS)
    async with second:
        marker = f"job `{job_id}`"
        (thread,) = fake.threads()
        result = await fake.wait_for_message(
            thread.id, lambda m: marker in m.content and bool(m.attachments), timeout=WAIT
        )
        assert "動画ができました" in result.content
        assert labels(result) == ["再生成", "リミックス", "削除"]
        done = await fake.wait_for_message(
            fake.channel().id,
            lambda m: m.id == status.id and bool(m.embeds) and m.embeds[0]["title"] == "動画ができました",
            timeout=WAIT,
        )
        assert not done.components  # the Cancel button went with the job's end

        summary = await fake.invoke_slash(subcommand="status", options={"job": job_id}, locale="fr")
        assert "Terminée" in await private_text(fake, summary, job_id)
        quota = await fake.invoke_slash(subcommand="quota", locale="ko")  # no Korean catalogue: English
        await quota.wait_for(lambda _call: _embed_title(fake, quota) is not None, WAIT)
        assert _embed_title(fake, quota) == "Your video credits"
        refused = await fake.invoke_slash(subcommand="status", options={"job": "nope1234"}, locale="es-419")
        assert "No hay ningún trabajo 'nope1234'" in await private_text(fake, refused, "nope1234")
        if body_failed(request):
            sys.stderr.write(f"--- bot log ---\n{second.output()[-20000:]}\n")


@pytest.mark.bot(**ONE_SLOT)
async def test_a_german_members_waiting_job_dropped_by_a_block_says_so_in_german_with_the_reason_given(
    fake: FakeDiscord, bot: BotProcess
) -> None:
    await private_text(fake, await create(fake, prompt="a long night", model=HOLDS), "on its way")
    bob = fake.create_user("bob", guild_ids=[fake.guild.id])
    rec = await fake.invoke_slash(
        channel_id=fake.channel().id, user_id=bob.id, options={"prompt": "ein Boot", "model": FAST}, locale="de"
    )
    job_id = JOB.findall(await private_text(fake, rec, "wartet deins in der Warteschlange"))[0]
    status = await fake.wait_for_message(fake.channel().id, lambda m: f"ジョブ {job_id}" in str(m.embeds), timeout=WAIT)

    await admin(fake, "users block", member=bob.id, reason="Spam im Kanal")
    await eventually(lambda: any(job_id in m.content for m in dms(fake, bob)), within=WAIT)
    (notice,) = [m.content for m in dms(fake, bob) if job_id in m.content]
    assert "wurde aus der Warteschlange genommen und wird nicht erstellt" in notice
    assert "Du darfst auf diesem Server keine Videos erstellen. Angegebener Grund: Spam im Kanal." in notice
    # The status message is the server's: the same reason, in Japanese.
    await eventually(lambda: "動画の作成に失敗しました" in str(fake.message(status.id).embeds), within=WAIT)
    happened = {f["name"]: f["value"] for f in fake.message(status.id).embeds[0]["fields"]}["経緯"]
    assert happened == "このサーバーで動画を作ることは許可されていません。理由: Spam im Kanal。"


def _embed_title(fake: FakeDiscord, rec: object) -> str | None:
    message = fake.original_message(rec)  # type: ignore[arg-type]
    return str(message.embeds[0].get("title")) if message is not None and message.embeds else None


async def test_the_synced_commands_carry_localized_descriptions_and_choices_with_english_names(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path
) -> None:
    async with await start_bot(fake, sim, tmp_path):
        (video,) = [c for c in fake.commands(fake.guild.id) if c["name"] == "video"]
    assert video["description_localizations"]["ja"] == "プロンプトと画像から AI 動画を作成"
    assert not video.get("name_localizations")
    create = next(o for o in video["options"] if o["name"] == "create")
    assert create["description_localizations"] == {
        "de": "Ein Video aus einem Prompt und optionalen Referenzbildern erstellen",
        "es-ES": "Crea un vídeo a partir de un prompt e imágenes de referencia opcionales",
        "es-419": "Crea un vídeo a partir de un prompt e imágenes de referencia opcionales",
        "fr": "Créer une vidéo à partir d'un prompt et d'images de référence facultatives",
        "ja": "プロンプトと任意の参照画像から動画を作成",
    }
    orientation = next(o for o in create["options"] if o["name"] == "orientation")
    assert not orientation.get("name_localizations")
    assert [(c["name"], c["value"], c["name_localizations"]["de"]) for c in orientation["choices"]] == [
        ("landscape", "landscape", "Querformat"),
        ("portrait", "portrait", "Hochformat"),
    ]


def test_the_fake_refuses_localizations_discord_would_refuse() -> None:
    command = {"name": "video", "description": "Make videos", "type": 1}
    _validate([{**command, "description_localizations": {"de": "Videos erstellen", "ja": "動画を作成"}}])
    for wrong in ({"german": "Videos erstellen"}, {"de": ""}, {"de": "x" * 101}):
        with pytest.raises(ApiError):
            _validate([{**command, "description_localizations": wrong}])
    with pytest.raises(ApiError):
        _validate([{**command, "name_localizations": {"de": "Video erstellen"}}])  # a name has no spaces
