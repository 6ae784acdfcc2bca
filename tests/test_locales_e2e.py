"""Locales on the fake Discord: a German member's private replies, a Japanese server's public posts (also those a
restarted bot makes from what the job kept), English for a locale without a catalogue, and the command tree as
synced, with its localized descriptions and choices and its English names."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator, SimulatorConfig
from tests.botproc import WAIT, private_text, start_bot
from tests.fakediscord import FakeDiscord, Message
from tests.fakediscord.commands import _validate
from tests.fakediscord.errors import ApiError
from tests.helpers import body_failed

SLOW = "veo-3.1-generate-preview"  # long enough to restart the bot while it generates
LIMITS = {"MAX_JOBS_PER_USER": "2", "QUOTA_USER_DAILY_CREDITS": "1000", "QUOTA_GUILD_DAILY_CREDITS": "1000"}


@pytest.fixture
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Simulator]:
    """A simulator whose SLOW model takes a few seconds and everything else finishes almost at once."""
    media = tmp_path_factory.getbasetemp() / "sim-media"
    config = SimulatorConfig(tick_seconds=0, task_seconds=0.3, model_task_seconds={SLOW: 8.0}, media_dir=str(media))
    async with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord whose server prefers Japanese."""
    async with FakeDiscord() as discord_fake:
        discord_fake.guild.preferred_locale = "ja"
        yield discord_fake


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
