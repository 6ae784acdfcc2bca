"""Member-facing text in the member's or the server's language: gettext catalogues, read once, English as the source.

Message ids are the English sentences themselves (gettext style), with ``{name}`` placeholders filled by keyword:
``_("Your video is ready · {job}", job=marker)``. English needs no catalogue; German, Spanish, French and Japanese
each have ``bot/locales/<language>/LC_MESSAGES/reelbot.po``, updated from the code by ``make messages``.

* ``N_`` marks an English message id given as a plain string (a job's failure reason), translated where shown.
* ``_`` and ``_n`` (with a count) make a :class:`Text`, translated later when the reader is known (an error raised
  deep in a service, a button label); ``translate`` and ``translate_plural`` translate at once.
* A :class:`Text` may hold other Texts as fields; they are translated into the same language.
* ``Text.to_json`` and ``Text.from_json`` keep a Text (a job's failure reason with the values in it) to translate it
  where it is shown, long after it was made.
* A Discord locale (``de``, ``es-ES``, ``es-419``, ``fr``, ``ja``) picks a catalogue; any other (``en-US``,
  ``en-GB``, a language without a catalogue, none) gets English.
"""

from __future__ import annotations

import functools
import gettext
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

DOMAIN: Final = "reelbot"
DIRECTORY: Final = Path(__file__).parent
SOURCE_LANGUAGE: Final = "en"
LANGUAGES: Final = ("de", "es", "fr", "ja")  # each has a catalogue; English is the source and needs none
DISCORD_LOCALES: Final = {"de": "de", "es-ES": "es", "es-419": "es", "fr": "fr", "ja": "ja"}


def language_of(locale: object) -> str:
    """The catalogue language for a Discord locale (a ``discord.Locale`` or its code); English when there is none."""
    code = str(locale) if locale is not None else ""
    return DISCORD_LOCALES.get(code) or (code if code in LANGUAGES else SOURCE_LANGUAGE)


def catalogue_path(language: str) -> Path:
    """Where a language's catalogue lives."""
    return DIRECTORY / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _loaded(language: str) -> tuple[gettext.NullTranslations, frozenset[str]]:
    """A language's translations, and the ids it translates (a word may be the same as in English: "portrait")."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations(), frozenset()
    with catalogue_path(language).open("rb") as po:
        catalogue = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)  # leaves out fuzzy entries: a guess is worse than English
    compiled.seek(0)
    translated = frozenset(str(m.id) for m in catalogue if m.id and m.string and not m.fuzzy and isinstance(m.id, str))
    return gettext.GNUTranslations(compiled), translated


def _translations(language: str) -> gettext.NullTranslations:
    return _loaded(language)[0]


@dataclass(frozen=True)
class Text:
    """A message not yet translated: its English id (and plural), the count that picks the form, and its fields."""

    msgid: str
    plural: str | None = None
    count: int | None = None
    fields: Mapping[str, object] = field(default_factory=dict)

    def render(self, locale: object) -> str:
        """The message in the language of ``locale``, its fields filled in (Texts among them translated too)."""
        language = language_of(locale)
        translations = _translations(language)
        if self.plural is None:
            pattern = translations.gettext(self.msgid)
        else:
            pattern = translations.ngettext(self.msgid, self.plural, self.count or 0)
        if not self.fields:
            return pattern  # braces in an unformatted message (a member's input quoted in it) are text
        values = {
            name: value.render(language) if isinstance(value, Text) else value for name, value in self.fields.items()
        }
        try:
            return pattern.format(**values)
        except (KeyError, IndexError, ValueError):
            log.warning("The %s translation of %r does not fit its fields; showing English", language, self.msgid)
            english = self.msgid if self.plural is None or self.count == 1 else self.plural
            return english.format(**values)

    def __str__(self) -> str:
        """English: for logs, the command line and anything read by operators."""
        return self.render(SOURCE_LANGUAGE)

    def to_json(self) -> str:
        """The message as JSON, ``{"id": ..., "fields": {...}}`` (and ``plural`` and ``count`` for one with a
        count): a field that is a Text is kept as one, a value JSON has no type for as its text."""
        return json.dumps(self._data(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, data: str) -> Text:
        """The message ``to_json`` kept."""
        return cls._from_data(json.loads(data))

    def _data(self) -> dict[str, object]:
        data: dict[str, object] = {"id": self.msgid}
        if self.plural is not None:
            data["plural"], data["count"] = self.plural, self.count
        if self.fields:
            data["fields"] = {name: _field_data(value) for name, value in self.fields.items()}
        return data

    @classmethod
    def _from_data(cls, data: Mapping[str, object]) -> Text:
        fields = data.get("fields") or {}
        assert isinstance(fields, Mapping)
        count = data.get("count")
        plural = data.get("plural")
        return cls(
            str(data["id"]),
            str(plural) if plural is not None else None,
            count if isinstance(count, int) else None,
            {name: cls._from_data(value) if isinstance(value, Mapping) else value for name, value in fields.items()},
        )


def _field_data(value: object) -> object:
    """A field's value as JSON keeps it: a Text as its data (the only object among the values), a number or a
    string as it is, anything else as its text."""
    if isinstance(value, Text):
        return value._data()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _(msgid: str, /, **fields: object) -> Text:
    """A message to translate once its reader is known."""
    return Text(msgid, fields=fields)


def _n(singular: str, plural: str, count: int, /, **fields: object) -> Text:
    """A message with a count, in the plural form of the reader's language; ``{count}`` is filled in."""
    return Text(singular, plural, count, {"count": count, **fields})


def as_text(message: Text | str, /) -> Text:
    """A message to translate where it is shown: a Text as it is; English text as a message id (a catalogue may
    translate it; words no catalogue has, a provider's, stay as they are)."""
    return message if isinstance(message, Text) else Text(message)


def N_(msgid: str, /) -> str:  # gettext's name for the marker
    """An English message id given as a plain string (a job's failure reason, stored as a message with
    ``as_text``), marked so that `make messages` extracts it; it is translated where it is shown."""
    return msgid


def translate(locale: object, msgid: str, /, **fields: object) -> str:
    """A message in the language of ``locale`` now."""
    return _(msgid, **fields).render(locale)


def translate_plural(locale: object, singular: str, plural: str, count: int, /, **fields: object) -> str:
    """A message with a count in the language of ``locale`` now."""
    return _n(singular, plural, count, **fields).render(locale)


def translate_stored(locale: object, english: str) -> str:
    """A message kept in English only (the failure reason of a job stored before reasons kept their message id and
    fields): its translation when it is a message id as it is."""
    return _translations(language_of(locale)).gettext(english)


def lookup(locale: object, msgid: str) -> str | None:
    """The catalogue's translation of ``msgid`` for ``locale``, or None (English, or not translated)."""
    translations, translated = _loaded(language_of(locale))
    return translations.gettext(msgid) if msgid in translated else None
