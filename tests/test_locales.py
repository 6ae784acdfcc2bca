"""The message catalogues: every message id in the code is translated in every language with the same placeholders,
the template is up to date, Discord locales pick the right language (others get English), and no member-facing text
is left as a bare English literal where the code words its replies.

When a test here fails after adding text: run `make messages`, translate the new entries in
bot/locales/<language>/LC_MESSAGES/reelbot.po (README: "Translating Reelbot"), and run it again.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import string
from collections.abc import Iterator
from pathlib import Path

import discord
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from discord.ext import commands

from bot.catalog import Catalog as Models
from bot.domain import ErrorKind, JobStatus, Orientation
from bot.front import render, replies
from bot.front.i18n import CatalogueTranslator
from bot.locales import LANGUAGES, Text, _, _n, catalogue_path, language_of, lookup, translate, translate_plural
from bot.locales.__main__ import KEYWORDS, ROOT, SOURCES, TEMPLATE
from bot.services import lifecycle
from bot.services.lifecycle import TIMED_OUT_MESSAGE
from cogs.admin import AdminCog, PurgeCog
from cogs.video import VideoCog
from tests.jobs import COUNTED_REASON, PAUSED_REASON, fresh_job

MessageId = str | tuple[str, ...]
DISCORD_DESCRIPTION_LIMIT = 100  # characters of a command, option or choice text, localized or not


def _key(message: Message) -> MessageId:
    return tuple(message.id) if isinstance(message.id, list | tuple) else str(message.id)


def _code_ids() -> set[MessageId]:
    """The message ids in the code, extracted as `make messages` extracts them."""
    found: set[MessageId] = set()
    for source in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(ROOT / source, keywords=KEYWORDS):
            found.add(tuple(message) if isinstance(message, list | tuple) else message)
    return found


def _catalogue(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as po:
        return read_po(po, locale=language)


def _fields(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}


CODE_IDS = _code_ids()


def test_the_code_has_message_ids_to_check() -> None:
    assert len(CODE_IDS) > 300  # the extraction found the code's text (not an empty pass)
    assert "Cancel" in CODE_IDS and ("{count} second", "{count} seconds") in CODE_IDS


def test_the_template_is_up_to_date_with_the_code() -> None:
    with TEMPLATE.open("rb") as pot:
        template = {_key(m) for m in read_po(pot) if m.id}
    assert not CODE_IDS - template, f"run `make messages`: new ids {sorted(map(str, CODE_IDS - template))[:10]}"
    assert not template - CODE_IDS, f"run `make messages`: stale ids {sorted(map(str, template - CODE_IDS))[:10]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_id_is_translated_in_every_catalogue(language: str) -> None:
    catalogue = _catalogue(language)
    entries = {_key(m): m for m in catalogue if m.id}
    missing = sorted(str(i) for i in CODE_IDS if i not in entries)
    assert not missing, f"{language}: run `make messages`, then translate {missing[:10]}"
    untranslated = [
        str(key)
        for key, entry in entries.items()
        if key in CODE_IDS
        and (entry.fuzzy or not all(entry.string if isinstance(entry.string, list | tuple) else [entry.string]))
    ]
    assert not untranslated, f"{language}: untranslated or fuzzy: {untranslated[:10]}"
    assert not set(entries) - CODE_IDS, f"{language}: entries the code no longer uses (run `make messages`)"


def _forms(entry: Message) -> Iterator[str]:
    forms = entry.string if isinstance(entry.string, list | tuple) else [entry.string]
    yield from (str(form or "") for form in forms)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_message_id(language: str) -> None:
    wrong = []
    for entry in _catalogue(language):
        if not entry.id:
            continue
        ids = list(entry.id) if isinstance(entry.id, list | tuple) else [entry.id]
        wanted = set().union(*map(_fields, ids))
        for form in _forms(entry):
            # A singular form may word the count out ("one video"); every other field must be there.
            if not (wanted - {"count"} <= _fields(form) <= wanted):
                wrong.append((ids[0], form))
    assert not wrong, f"{language}: placeholders differ from the message id: {wrong[:5]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_job_marker_and_discord_markup_survive_translation(language: str) -> None:
    # The delivery finds its earlier posts by "job `id`", whatever the language; mentions are placeholders.
    marker = "job `abcd1234`"
    text = translate(language, "{who} your video is ready · {job}", who="<@42>", job=marker)
    assert marker in text and "<@42>" in text


def test_discord_locales_pick_their_catalogue_and_others_get_english() -> None:
    assert [language_of(code) for code in ("de", "es-ES", "es-419", "fr", "ja")] == ["de", "es", "es", "fr", "ja"]
    assert [language_of(code) for code in ("en-US", "en-GB", "ko", "pt-BR", "", None)] == ["en"] * 6
    assert language_of(discord.Locale.japanese) == "ja"
    assert translate("de", "Cancel") == "Abbrechen"
    assert translate("es-419", "Cancel") == translate("es-ES", "Cancel") == "Cancelar"
    assert translate("ko", "Cancel") == translate("en-GB", "Cancel") == "Cancel"
    assert lookup("ko", "Cancel") is None and lookup("fr", "Cancel") == "Annuler"
    assert lookup("de", "a text no catalogue has") is None


def test_plural_forms_follow_the_count_in_each_language() -> None:
    seconds = ("{count} second", "{count} seconds")
    assert [translate_plural("en-US", *seconds, n) for n in (1, 2)] == ["1 second", "2 seconds"]
    assert [translate_plural("de", *seconds, n) for n in (1, 2)] == ["1 Sekunde", "2 Sekunden"]
    assert [translate_plural("fr", *seconds, n) for n in (0, 1, 2)] == ["0 seconde", "1 seconde", "2 secondes"]
    assert translate_plural("ja", *seconds, 3) == "3 秒"


def test_a_lazy_text_is_translated_with_its_fields_in_the_readers_language() -> None:
    reason = _("the video service refused the bot")
    text = _("Video generation is paused: {what}. The operator has been told; try again later.", what=reason)
    assert str(text).startswith("Video generation is paused: the video service refused the bot.")
    assert text.render("de").startswith("Die Videoerstellung ist pausiert: der Videodienst hat den Bot abgelehnt.")
    refusal = _n("Please wait {count} more second before starting another video.", "", 5)
    assert refusal.render("es-ES") == "Espera 5 segundos más antes de empezar otro vídeo."


def test_a_failed_jobs_stored_reason_is_shown_in_the_servers_language() -> None:
    failed = lifecycle.fail(fresh_job(requester_id=42, locale="fr"), ErrorKind.TIMED_OUT, TIMED_OUT_MESSAGE, 1010.0)
    notice = render.failure_text(failed.job)
    assert notice.startswith(f"<@42> job `{failed.job.id}` a échoué. La vidéo a pris trop de temps")
    embed = render.status_embed(failed.job)
    assert embed.title == "Échec de la vidéo" and "La vidéo a pris trop de temps" in str(embed.fields)
    assert render.status_embed(dataclasses.replace(failed.job, locale=None)).title == "Video failed"


def test_a_reason_with_values_is_translated_around_them_and_the_english_is_kept() -> None:
    blocked = _("You are not allowed to make videos on this server. Reason given: {note}.", note="spam")
    waiting = fresh_job(requester_id=42, locale="ja", member_locale="de", status=JobStatus.WAITING)
    dropped = lifecycle.drop(waiting, blocked, 1010.0).job
    assert dropped.error_message == "You are not allowed to make videos on this server. Reason given: spam."
    assert dropped.error_text == blocked
    notice = render.dropped_text(dropped)
    assert "Du darfst auf diesem Server keine Videos erstellen" in notice and "spam" in notice
    provider = lifecycle.fail(
        waiting,
        ErrorKind.GENERATION_FAILED,
        _("The video provider could not make this video: {reason}. Try again or change the prompt.", reason="no GPU"),
        1010.0,
    )
    assert render.failure_text(provider.job).endswith(
        "動画プロバイダーはこの動画を作れませんでした: no GPU。もう一度試すか、プロンプトを変えてください。"
    )


def test_a_reason_stored_before_reasons_kept_their_fields_is_translated_when_it_is_a_message_id() -> None:
    failed = lifecycle.fail(fresh_job(requester_id=42, locale="fr"), ErrorKind.TIMED_OUT, TIMED_OUT_MESSAGE, 1010.0)
    old = dataclasses.replace(failed.job, error_text=None)
    assert render.failure_text(old) == render.failure_text(failed.job)
    # A reason that is no message id as it is (a provider's own words) stays as it was stored.
    odd = dataclasses.replace(old, error_message="Upstream said: quota exceeded.")
    assert render.failure_text(odd).endswith("a échoué. Upstream said: quota exceeded.")
    assert render.failure_text(dataclasses.replace(odd, error_message=None)).endswith(
        "a échoué. La vidéo n'a pas pu être créée."
    )


def test_a_text_kept_as_json_comes_back_whole() -> None:
    odd = _("{label} does not make {default} videos, so this one is {used} (your default is kept).", label=object())
    for text in (PAUSED_REASON, COUNTED_REASON, _("Cancel"), _("Your video is ready · {job}", job="job `x` «日本»")):
        assert Text.from_json(text.to_json()) == text
        assert Text.from_json(text.to_json()).render("de") == text.render("de")
    assert Text.from_json(odd.to_json()).fields["label"] == str(odd.fields["label"])  # kept as its text


def test_a_failed_jobs_summary_says_why_in_a_few_words_of_the_readers_language() -> None:
    failed = lifecycle.fail(fresh_job(requester_id=42), ErrorKind.TIMED_OUT, TIMED_OUT_MESSAGE, 1010.0).job
    assert "(Zeit überschritten)" in render.job_summary(failed, "de")
    assert "(timed out)" in render.job_summary(failed, None)
    words = {render.job_summary(dataclasses.replace(failed, error_kind=kind), "ja") for kind in ErrorKind}
    assert len(words) == len(ErrorKind)  # each kind has words of its own


def test_the_orientation_words_are_the_same_in_a_status_message_and_a_set_aside_default() -> None:
    spec = Models.load().get("sora-2")
    assert spec is not None
    note = replies.default_orientation_set_aside("portrait", spec, Orientation.LANDSCAPE).render("de")
    assert [render.orientation_word("de", o) for o in ("portrait", "landscape")] == ["Hochformat", "Querformat"]
    assert (
        note
        == "Sora 2 erstellt keine Videos im Hochformat, also ist dieses im Querformat (dein Standard bleibt erhalten)."
    )
    assert render.orientation_word("de", "square") == "square"  # a value with no word stays as it is


def test_braces_in_an_unformatted_message_are_text() -> None:
    # A message built elsewhere (a member's input in it) and shown as it is must not be taken for a pattern.
    assert translate("de", "There is no job '{x}' here") == "There is no job '{x}' here"


async def test_command_descriptions_and_choices_are_translated_and_names_stay_english() -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await bot.tree.set_translator(CatalogueTranslator())
    for cog in (VideoCog, AdminCog, PurgeCog):
        await bot.add_cog(cog(bot))  # type: ignore[arg-type]  # the cogs only use their bot when called
    translator = bot.tree.translator
    assert translator is not None
    payloads = [await command.get_translated_payload(bot.tree, translator) for command in bot.tree.get_commands()]
    texts = list(_texts(payloads))
    assert len(texts) > 50
    for english, localized in texts:
        assert set(localized) == {"de", "es-ES", "es-419", "fr", "ja"}, english
        assert all(1 <= len(text) <= DISCORD_DESCRIPTION_LIMIT for text in localized.values()), localized
    assert not list(_named(payloads)), "command and option names stay English"
    create = next(p for p in payloads if p["name"] == "video")["options"][0]
    orientation = next(o for o in create["options"] if o["name"] == "orientation")
    assert orientation["choices"][1]["name_localizations"]["ja"] == "縦長"
    assert (
        create["description_localizations"]["de"]
        == "Ein Video aus einem Prompt und optionalen Referenzbildern erstellen"
    )


def _texts(payloads: list[dict[str, object]]) -> Iterator[tuple[str, dict[str, str]]]:
    """Each description and choice name with its localizations, all through the tree."""
    for payload in payloads:
        if payload.get("description") not in (
            None,
            "",
            "…",
        ):  # "…": discord.py's stand-in for an option left undescribed
            yield str(payload["description"]), dict(payload.get("description_localizations") or {})  # type: ignore[call-overload]
        for choice in payload.get("choices") or []:  # type: ignore[attr-defined]
            yield str(choice["name"]), dict(choice.get("name_localizations") or {})
        yield from _texts(list(payload.get("options") or []))  # type: ignore[call-overload]


def _named(payloads: list[dict[str, object]]) -> Iterator[object]:
    for payload in payloads:
        if payload.get("name_localizations"):
            yield payload["name"]
        yield from _named(list(payload.get("options") or []))  # type: ignore[call-overload]


# --- no member-facing English left as a bare literal --------------------------------------------------------------

_REFUSALS = {"UserFacingError", "ModerationRefusal", "QuotaRefusal"}
_TEXT_KEYWORDS = {"content", "title", "description", "label", "placeholder", "text"}
_SENDS = {"send_message", "send", "edit_original_response"}
# Where member-facing text is worded; the audit log (bot/front/audit.py) and the usage chart stay English.
_WORDED = [*sorted((ROOT / "bot" / "front").glob("*.py")), *sorted((ROOT / "cogs").glob("*.py"))]
_WORDED += [ROOT / "bot" / "services" / name for name in ("jobs.py", "quotas.py", "moderation.py", "served.py")]
_ENGLISH_ONLY = {"audit.py", "usage_chart.py"}


_SAME_IN_EVERY_LANGUAGE = {"HD", "MiB"}


def _has_words(text: str) -> bool:
    return bool(set(re.findall(r"[^\W\d_]{2,}", text)) - _SAME_IN_EVERY_LANGUAGE)


def _is_words(node: ast.expr) -> bool:
    """A literal (or f-string) with words in its constant parts: English someone typed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _has_words(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and _has_words(str(v.value)) for v in node.values)
    return False


def _bare_literals(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if name in _REFUSALS and node.args and _is_words(node.args[0]):
            yield f"{where}: {name}(<English>) — wrap it in _()"
        if name in _SENDS and node.args and _is_words(node.args[0]):
            yield f"{where}: {name}(<English>) — translate it"
        for keyword in node.keywords:
            shown = keyword.arg in _TEXT_KEYWORDS or (name == "add_field" and keyword.arg in {"name", "value"})
            if shown and _is_words(keyword.value):
                yield f"{where}: {name}({keyword.arg}=<English>) — translate it"


_MESSAGE_ARGUMENTS = {"_": (0,), "N_": (0,), "_n": (0, 1), "translate": (1,), "translate_plural": (1, 2)}


def test_every_message_id_in_the_code_is_a_plain_literal() -> None:
    # An f-string or a variable as the id is not extracted, so it would never be translated.
    found = []
    for path in sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]):
        source = path.read_text(encoding="utf-8")
        if "from bot.locales import" not in source:
            continue  # bot.locales itself (which defines them), or a module that words nothing
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _MESSAGE_ARGUMENTS:
                for position in _MESSAGE_ARGUMENTS[node.func.id]:
                    argument = node.args[position] if position < len(node.args) else None
                    if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.id}(...) needs a literal id")
    assert not found, "\n".join(found)


def test_no_member_facing_text_is_a_bare_english_literal() -> None:
    found = [line for path in _WORDED if path.name not in _ENGLISH_ONLY for line in _bare_literals(path)]
    assert not found, "\n".join(found)
