"""Blocked words and regexes that see through case, accents, leetspeak, invisible characters and spaced-out letters.

Words match whole words of the normalised text (see ``normalise``), so a blocked "ass" leaves "class" alone, and also
match when spelled out letter by letter ("a.s.s", "a s s"). Regexes are tried on the normalised and the raw text.

Admins' regexes run on RE2, whose matching time grows linearly with the text whatever the pattern, so no pattern can
stall the bot; it has no look-around or back-references, and such patterns are refused. The bot's own expressions
(normalisation, the words regex) stay on Python's ``re``: they are fixed, and built to match without backtracking.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

import re2

MAX_WORD_LENGTH = 100
MAX_REGEX_LENGTH = 200

# A short, clinical starting point that operators extend: sexual content involving minors, snuff and
# non-consensual explicit material. Each entry also matches its plural and the forms evasions produce.
DEFAULT_BLOCKED: tuple[str, ...] = (
    "child porn",
    "child pornography",
    "csam",
    "underage porn",
    "underage sex",
    "underage nude",
    "nude minor",
    "naked minor",
    "nude child",
    "naked child",
    "nude children",
    "naked children",
    "lolicon",
    "shotacon",
    "snuff film",
    "snuff video",
    "revenge porn",
    "deepfake porn",
    "non-consensual porn",
    "rape porn",
)

_LEET = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t"}
# Cyrillic and Greek letters that look Latin, and Latin letters with a stroke that NFKD leaves whole.
_LOOKALIKE_FROM = "аеорсухіјѕԁһӏԛԝαβικνορτυχıøłđħŧ"
_LOOKALIKE_TO = "aeopcyxijsdhlqwabikvoptuxioldht"
_LOOKALIKES = str.maketrans(_LOOKALIKE_FROM, _LOOKALIKE_TO)
_LATINISH = frozenset(string.ascii_lowercase + string.digits + "@$!|+" + _LOOKALIKE_FROM)
# Blank-looking characters whose Unicode category does not say so (fillers, the blank braille pattern).
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Marks, invisible format characters (zero-width space/joiners, word joiner, BOM, soft hyphen), controls.
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc", "Co", "Cs"})

# A run: letters, digits and leet symbols between anything else. Leetspeak is decoded run by run.
_WORD_CHAR = r"(?:[^\W_]|[@$!|+])"
_RUN = re.compile(rf"{_WORD_CHAR}+")
# Runs that keep their digits: numbers ("2024", "$5", "+1") and a number with a one-letter unit ("4k", "1080p").
_NUMBER = re.compile(r"[$+]?[0-9]+|[0-9]+[a-z]")
_NON_LEET_DIGITS = frozenset("269")
# Letters spelled out one by one, the same separator between each: "b.a.d", "b-a-d", "b_a_d" first, then "b a d".
_SYMBOL = r"[.\-_*~/\\,:;'\"`^=·•]"
_UNIT = r"(?:[^\W\d_]|[0134578@$!|+])"
_SPELLED = tuple(
    re.compile(rf"(?<!{_WORD_CHAR}){_UNIT}(?P<sep>{separator}){_UNIT}(?:(?P=sep){_UNIT})*(?!{_WORD_CHAR})")
    for separator in (rf"\s*{_SYMBOL}+\s*", r"\s+")
)
_SEPARATORS = re.compile(rf"(?:\s|{_SYMBOL})+")
_NOT_ALNUM = re.compile(r"[\W_]+")
# Blocked words as a trie of characters: _GAP stands for the separators between a phrase's words, _END for its end.
_Trie: TypeAlias = dict[str, "_Trie"]
_GAP = " "
_END = ""
_UNSUPPORTED = (
    "RE2 leaves out look-around ((?=…), (?!…), (?<=…), (?<!…)), back-references (\\1, (?P=name)), possessive and "
    "atomic repetition, and \\Z (write \\z), so that no pattern can stall the bot: rewrite it without them"
)


def _clean(text: str) -> str:
    """Lower case, compatibility forms folded, marks and invisible characters dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    kept = "".join(
        char
        for char in folded
        if char.isspace() or (unicodedata.category(char) not in _DROPPED_CATEGORIES and char not in _BLANKS)
    )
    return " ".join(unicodedata.normalize("NFC", kept).split())


def _decode_run(run: str, one: str) -> str:
    """One run read as letters: look-alikes made Latin, leetspeak decoded unless the run is a number."""
    if run.isalpha() and run.isascii():
        return run
    core = run.rstrip("!")  # a trailing "!" is punctuation: "kill!" is "kill", not "killi"
    tail = run[len(core) :]
    if set(core) <= _LATINISH:
        core = core.translate(_LOOKALIKES)
    if len(core) < 2 or _NUMBER.fullmatch(core) or not _NON_LEET_DIGITS.isdisjoint(core):
        return core + tail
    return "".join(one if char == "1" else _LEET.get(char, char) for char in core) + tail


def _decode(text: str, one: str) -> str:
    """Cleaned text with every run decoded, reading the digit 1 as ``one`` ("i" or "l")."""
    return _RUN.sub(lambda run: _decode_run(run.group(), one), text)


def _join_spelled(text: str) -> str:
    """Cleaned text with letters spelled out one by one joined into words: "a . s . s" becomes "ass"."""

    def join(spelled: re.Match[str]) -> str:
        letters = _SEPARATORS.sub("", spelled.group())
        return letters if any(char.isalpha() for char in letters) else spelled.group()

    for spelled in _SPELLED:
        text = spelled.sub(join, text)
    return text


def normalise(text: str) -> str:
    """The form words are matched in: lower case ASCII look-alike, no marks or invisibles, leetspeak decoded."""
    return _decode(_clean(text), "i")


def _variants(text: str) -> tuple[str, ...]:
    """The normalised readings of a text: as written and with spelled-out letters joined, 1 read as i and as l."""
    clean = _clean(text)
    ones = ("i", "l") if "1" in clean else ("i",)
    forms = (clean, _join_spelled(clean))
    return tuple(dict.fromkeys(_decode(form, one) for form in forms for one in ones))


def _word_body(word: str) -> str:
    """The regex for a blocked word's normalised letters, any separators (or none) between its parts."""
    return r"[\W_]*".join(re.escape(part) for part in _NOT_ALNUM.split(normalise(word)) if part)


def _emit(node: _Trie) -> str:
    """The regex for a trie node's continuations, made optional when a word can end there."""
    branches = [
        (r"[\W_]*" if symbol == _GAP else re.escape(symbol)) + _emit(child)
        for symbol, child in sorted(node.items())
        if symbol != _END
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if _END in node else body


def _words_regex(words: Iterable[str]) -> re.Pattern[str]:
    """One regex for many blocked words, factored on shared prefixes so each position tries few branches."""
    root: _Trie = {}
    for word in words:
        node = root
        for symbol in _GAP.join(part for part in _NOT_ALNUM.split(normalise(word)) if part):
            node = node.setdefault(symbol, {})
        node[_END] = {}
    return re.compile(rf"(?<![^\W_]){_emit(root)}(?:e?s)?(?![^\W_])")


def _engine_options() -> re2.Options:
    """RE2's options for admins' patterns: case-insensitive, and quiet (a refused pattern is explained, not logged)."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


_OPTIONS = _engine_options()


def _compile(pattern: str) -> re2._Regexp[str]:
    """An admin's pattern on the linear-time engine; raises re2.error when RE2 cannot take it."""
    return re2.compile(pattern, _OPTIONS)


def _compile_problem(pattern: str, exc: re2.error) -> str:
    """Why RE2 refused a pattern, in plain words."""
    detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    try:
        re.compile(pattern)
    except re.error:
        return f"the regex does not compile: {detail}"
    return f"RE2, the bot's regex engine, cannot run it (it says: {detail}). {_UNSUPPORTED}"


def validate_rule(pattern: str, is_regex: bool) -> str | None:
    """Why a blocked word or regex cannot be used, in plain words, or None when it is fine."""
    if not pattern.strip():
        return "empty"
    if not is_regex:
        if len(pattern) > MAX_WORD_LENGTH:
            return f"too long (max {MAX_WORD_LENGTH} characters)"
        letters = _NOT_ALNUM.sub("", normalise(pattern))
        if not letters:
            return "empty"
        return "too short (at least 2 letters or digits)" if len(letters) < 2 else None
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"too long (max {MAX_REGEX_LENGTH} characters)"
    try:
        compiled = _compile(pattern)
    except re2.error as exc:
        return _compile_problem(pattern, exc)
    if compiled.search("") is not None:
        return "the regex matches empty text, so it would block every prompt"
    return None


@dataclass(frozen=True, slots=True)
class BlockRule:
    """One blocked word or regex, from the operator's global list ("global") or a server's own ("server")."""

    pattern: str
    is_regex: bool
    source: str


def _order(rule: BlockRule) -> tuple[bool, bool, str, str]:
    """Canonical rule order, whatever order rules arrive in: global first, then words, then alphabetical."""
    return (
        rule.source != "global",
        rule.is_regex,
        rule.pattern if rule.is_regex else normalise(rule.pattern),
        rule.source,
    )


@dataclass(frozen=True, slots=True)
class WordFilter:
    """Blocked words and regexes compiled once; ``match`` names the rule a prompt breaks."""

    rules: tuple[BlockRule, ...]
    rejected: tuple[BlockRule, ...] = field(init=False, default=())
    _words: re.Pattern[str] | None = field(init=False, default=None, repr=False, compare=False)
    _word_rules: dict[str, tuple[tuple[re.Pattern[str], BlockRule], ...]] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )
    _regexes: tuple[tuple[re2._Regexp[str], BlockRule], ...] = field(init=False, default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        """Put the rules in canonical order, drop duplicates and unusable rules, and compile the rest."""
        usable: dict[tuple[bool, str], BlockRule] = {}
        rejected: list[BlockRule] = []
        for rule in sorted(self.rules, key=_order):
            if validate_rule(rule.pattern, rule.is_regex) is not None:
                rejected.append(rule)
            else:
                usable.setdefault((rule.is_regex, _order(rule)[2]), rule)
        words = [rule for rule in usable.values() if not rule.is_regex]
        by_letters: dict[str, list[tuple[re.Pattern[str], BlockRule]]] = {}
        for rule in words:
            letters = _NOT_ALNUM.sub("", normalise(rule.pattern))
            by_letters.setdefault(letters, []).append((re.compile(rf"{_word_body(rule.pattern)}(?:e?s)?"), rule))
        regexes = tuple((_compile(rule.pattern), rule) for rule in usable.values() if rule.is_regex)
        object.__setattr__(self, "rules", tuple(usable.values()))
        object.__setattr__(self, "rejected", tuple(rejected))
        object.__setattr__(self, "_words", _words_regex(rule.pattern for rule in words) if words else None)
        object.__setattr__(self, "_word_rules", {letters: tuple(found) for letters, found in by_letters.items()})
        object.__setattr__(self, "_regexes", regexes)

    @classmethod
    def from_rules(cls, rules: Iterable[BlockRule]) -> WordFilter:
        """A filter for these rules, in any order; rules that fail ``validate_rule`` land in ``rejected``."""
        return cls(tuple(rules))

    def _word_rule(self, matched: str) -> BlockRule | None:
        """The first word rule, in canonical order, that a stretch of text found by the words regex is."""
        letters = _NOT_ALNUM.sub("", matched)
        for key in dict.fromkeys((letters, letters.removesuffix("s"), letters.removesuffix("es"))):
            for pattern, rule in self._word_rules.get(key, ()):
                if pattern.fullmatch(matched):
                    return rule
        return None

    def match(self, text: str) -> BlockRule | None:
        """The rule the text breaks (words before regexes, leftmost hit first), or None when it passes."""
        variants = _variants(text)
        if self._words is not None:
            for variant in variants:
                hit = self._words.search(variant)
                rule = None if hit is None else self._word_rule(hit.group())
                if rule is not None:
                    return rule
        for pattern, rule in self._regexes:
            if any(pattern.search(form) for form in (*variants, text)):
                return rule
        return None
