"""Blocked words and regexes: evasions caught, innocent words and numbers left alone, rules validated, order-proof."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from bot.moderation.filters import DEFAULT_BLOCKED, BlockRule, WordFilter, normalise, validate_rule


def words(*patterns: str, source: str = "server") -> WordFilter:
    """A filter of blocked words from one source."""
    return WordFilter.from_rules(BlockRule(pattern, False, source) for pattern in patterns)


SERVER = ("ass", "gore", "kill", "snuff")
FILTER = WordFilter.from_rules(
    [BlockRule(word, False, "global") for word in DEFAULT_BLOCKED]
    + [BlockRule(word, False, "server") for word in SERVER]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MiXeD CaSe", "mixed case"),
        ("\u00f1and\u00fa caf\u00e9 \u00fcber na\u00efve", "nandu cafe uber naive"),
        ("\uff21\uff22\uff23 \uff47\uff4f\uff52\uff45", "abc gore"),
        ("\ufb01ne \u24d1\u24d0\u24d3 \U0001d41b\U0001d41a\U0001d41d", "fine bad bad"),
        ("Stra\u00dfe", "strasse"),
        ("g\u200bo\u200cr\u200de\u2060\ufeff", "gore"),
        ("g\u00adore", "gore"),
        ("g\u0336o\u0336r\u0336e\u0336", "gore"),
        ("g\u043er\u0435", "gore"),
        ("\u043f\u0440\u0438\u0432\u0435\u0442", "\u043f\u0440\u0438\u0432\u0435\u0442"),
        ("  lots \t of\n\n\u00a0space  ", "lots of space"),
        ("new\nline\ttab\r\nend", "new line tab end"),
    ],
    ids=[
        "case",
        "accents",
        "full-width",
        "ligature-circled-bold",
        "sharp-s",
        "zero-width",
        "soft-hyphen",
        "combining-marks",
        "cyrillic-lookalikes",
        "cyrillic-word-kept",
        "whitespace",
        "line-breaks",
    ],
)
def test_normalise_folds_case_accents_and_invisibles(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("g0r3", "gore"),
        ("a$$", "ass"),
        ("@$$", "ass"),
        ("a55", "ass"),
        ("sh!t", "shit"),
        ("k1ll", "kill"),
        ("8|ack", "black"),
        ("7e57", "test"),
        ("5n0w", "snow"),
        ("kill!", "kill!"),
        ("sh!t! wow!!", "shit! wow!!"),
    ],
)
def test_normalise_decodes_leetspeak_inside_words(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024",
        "4 seconds",
        "a 4k video of 3 cats in 2024",
        "1080p at 24fps, h264, 16:9",
        "$5 or +1",
        "100% 3.5 1,000",
        "3453 frames",
        "8 0 1 3",
    ],
)
def test_normalise_keeps_numbers(text: str) -> None:
    assert normalise(text) == text


@pytest.mark.parametrize(
    "evasion",
    [
        "GoRe",
        "G\u00d6R\u00c9",
        "\uff47\uff4f\uff52\uff45",
        "g0r3",
        "g\u200bo\u200br\u200be",
        "g\u00ado\u00adre",
        "\ufeffgore\u2060",
        "g\u043ere",
        "g.o.r.e",
        "g o r e",
        "g-o-r-e",
        "g_o_r_e",
        "g . o . r . e",
        "g. o. r. e",
        "gores",
        "gore!",
    ],
)
def test_evasions_of_a_blocked_word_are_caught(evasion: str) -> None:
    hit = FILTER.match(f"a video full of {evasion} please")
    assert hit == BlockRule("gore", False, "server")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("a$$", "ass"),
        ("@$$", "ass"),
        ("4ss", "ass"),
        ("a.s.s", "ass"),
        ("a s s", "ass"),
        ("a . $ . $", "ass"),
        ("asses", "ass"),
        ("k1ll", "kill"),
        ("ki11", "kill"),
        ("k!ll", "kill"),
        ("KILL!!!", "kill"),
        ("ch1ld p0rn", "child porn"),
        ("child-porn", "child porn"),
        ("child_porn", "child porn"),
        ("childporn", "child porn"),
        ("c.h.i.l.d p.o.r.n", "child porn"),
        ("c h i l d p o r n", "child porn"),
        ("CHILD  PORN", "child porn"),
        ("non consensual porn", "non-consensual porn"),
        ("nonconsensualporn", "non-consensual porn"),
        ("snuff films", "snuff film"),
        ("naked minors", "naked minor"),
    ],
)
def test_leetspeak_separators_and_phrases_are_caught(text: str, pattern: str) -> None:
    hit = FILTER.match(f"make {text} now")
    assert hit is not None
    assert hit.pattern == pattern


@pytest.mark.parametrize(
    "text",
    [
        "a classic class about a glass",
        "my assistant will pass the bass",
        "massive grass at the embassy in Massachusetts",
        "assess the assassin",
        "gorgeous gorillas near Gorey",
        "a skillful skiller",
        "Snuffleupagus",
        "c l a s s",
        "a.s.s.e.m.b.l.y line",
        "the letters a b c",
        "the pen is on the table",
        "a 4k video of 3 cats in 2024",
        "4 seconds at 24fps, 1080p, $5 budget",
        "",
    ],
)
def test_innocent_prompts_pass(text: str) -> None:
    assert FILTER.match(text) is None


@pytest.mark.parametrize(
    ("blocked", "innocent"),
    [
        ("cunt", "Scunthorpe United"),
        ("hell", "hello from the shell, Michelle"),
        ("tit", "a petite title for the constitution"),
        ("sex", "Essex and Middlesex"),
        ("cock", "a peacock in the cockpit"),
        ("penis", "the pen is mightier"),
        ("ease", "3453 frames"),
        ("ak", "a 4k video"),
    ],
)
def test_scunthorpe_words_and_numbers_pass(blocked: str, innocent: str) -> None:
    assert words(blocked).match(innocent) is None
    assert words(blocked).match(f"so much {blocked} here") is not None


def test_many_words_with_shared_prefixes_each_name_their_own_rule() -> None:
    vocabulary = ["".join(letters) for size in (3, 4) for letters in itertools.product("bdfgk", repeat=size)]
    many = words(*vocabulary)
    for word in vocabulary[::7]:
        hit = many.match(f"the {word} here")
        assert hit is not None
        assert hit.pattern == word
    assert many.match("the quick brown fox") is None


def test_regex_rules_see_the_normalised_text() -> None:
    gory = WordFilter.from_rules([BlockRule(r"\bblood\s*bath", True, "server")])
    for text in (
        "a BLOODBATH",
        "a bl00d b4th",
        "a b.l.o.o.d.b.a.t.h",
        "a Blo\u200bod\u00a0Bath",
        "bl\u00f6\u00f6dbath",
    ):
        assert gory.match(text) == BlockRule(r"\bblood\s*bath", True, "server"), text
    assert gory.match("a bloody bathtub") is None


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("m\u00fcnchen", "M\u00dcNCHEN at night"),
        ("[\u200b-\u200d]", "hidden\u200bcharacters"),
        (r"\$\$\$", "cost: $$$"),
    ],
    ids=["accent", "zero-width", "symbols"],
)
def test_regex_rules_see_the_raw_text(pattern: str, text: str) -> None:
    assert pattern not in normalise(text)
    assert WordFilter.from_rules([BlockRule(pattern, True, "server")]).match(text) is not None


def test_words_are_normalised_like_text() -> None:
    leet = words("G\u00d8R3", "a55")
    assert leet.match("gore") is not None
    assert leet.match("ass") is not None
    assert [rule.pattern for rule in leet.rules] == ["a55", "G\u00d8R3"]


@pytest.mark.parametrize(
    ("pattern", "is_regex"),
    [
        ("ass", False),
        ("snuff film", False),
        ("x" * 100, False),
        (r"\bg[o0]re\b", True),
        ("(ab)+", True),
        ("a+b+", True),
        ("[a+]+", True),
        (r"\(a+\)+", True),
        ("(a+)?x", True),
        ("x" * 200, True),
        # Catastrophic on a backtracking engine, linear on RE2: fine now.
        ("(a+)+", True),
        (r"(\w*)*x", True),
        ("(?:a|b+){2,}", True),
        ("(a|aa)+$", True),
        (r"\w*\w*\w*\w*\w*!", True),
        ("a{1,100}a{1,100}a{1,100}b", True),
    ],
)
def test_valid_rules_pass_validation(pattern: str, is_regex: bool) -> None:
    assert validate_rule(pattern, is_regex) is None


@pytest.mark.parametrize(
    ("pattern", "is_regex", "problem"),
    [
        ("", False, "empty"),
        ("   ", True, "empty"),
        ("\u200b\u200b", False, "empty"),
        ("?!.", False, "empty"),
        ("x", False, "too short"),
        ("x" * 101, False, "too long (max 100 characters)"),
        ("x" * 201, True, "too long (max 200 characters)"),
        ("(unclosed", True, "the regex does not compile: missing )"),
        ("[a-", True, "the regex does not compile: missing ]"),
        ("*x", True, "the regex does not compile: no argument for repetition operator"),
        ("gore(?!ous)", True, "RE2, the bot's regex engine, cannot run it (it says: invalid perl operator: (?!)"),
        ("(?<=blood)bath", True, "RE2, the bot's regex engine, cannot run it (it says: invalid perl operator: (?<=)"),
        (r"(\w)\1", True, "RE2, the bot's regex engine, cannot run it (it says: invalid escape sequence: \\1)"),
        ("(?P<x>a)(?P=x)", True, "RE2, the bot's regex engine, cannot run it"),
        ("a++", True, "RE2, the bot's regex engine, cannot run it"),
        ("a*", True, "the regex matches empty text"),
        ("x|", True, "the regex matches empty text"),
    ],
)
def test_invalid_rules_are_explained(pattern: str, is_regex: bool, problem: str) -> None:
    reason = validate_rule(pattern, is_regex)
    assert reason is not None
    assert reason.startswith(problem)


def test_a_pattern_re2_cannot_run_is_explained_with_what_to_do() -> None:
    reason = validate_rule("gore(?!ous)", True)
    assert reason is not None
    assert "look-around" in reason and "back-references" in reason and "rewrite it without them" in reason


PATHOLOGICAL = (r"(a|aa)+$", r"\w*\w*\w*\w*\w*!", r"a{1,100}a{1,100}a{1,100}b")


@pytest.mark.parametrize(
    "text",
    ["a" * 2000, "a" * 1999 + "!", "aa " * 666, "a" * 1000 + "b"],
    ids=["letters", "letters-bang", "words", "letters-b"],
)
def test_patterns_that_backtrack_forever_on_re_are_matched_in_one_pass(text: str) -> None:
    # On Python's re, the second pattern alone took about 14 s on 100 characters; here each text is one pass.
    patterns = WordFilter.from_rules(BlockRule(pattern, True, "server") for pattern in PATHOLOGICAL)
    assert len(patterns.rules) == 3
    hit = patterns.match(text)
    assert hit is not None
    assert hit.pattern in PATHOLOGICAL
    assert patterns.match("a calm prompt, nothing more.") is None


def test_default_list_is_short_valid_and_clinical() -> None:
    assert 10 <= len(DEFAULT_BLOCKED) <= 20
    assert len(set(DEFAULT_BLOCKED)) == len(DEFAULT_BLOCKED)
    assert "cp" not in DEFAULT_BLOCKED
    for word in DEFAULT_BLOCKED:
        assert validate_rule(word, False) is None
        assert word == normalise(word)
    assert len(words(*DEFAULT_BLOCKED, source="global").rules) == len(DEFAULT_BLOCKED)


def test_unusable_rules_are_set_aside_not_fatal() -> None:
    broken = [BlockRule("(", True, "server"), BlockRule("a(?=b)", True, "server"), BlockRule("\u200b", False, "server")]
    usable = BlockRule("gore", False, "server")
    built = WordFilter.from_rules([*broken, usable])
    assert built.rules == (usable,)
    assert set(built.rejected) == set(broken)
    assert built.match("g0re") == usable
    assert WordFilter.from_rules([]).match("anything at all") is None


def test_match_does_not_depend_on_rule_order() -> None:
    rules = [
        BlockRule("snuff", False, "server"),
        BlockRule("snuff film", False, "server"),
        BlockRule("gore", False, "global"),
        BlockRule(r"sn.ff", True, "server"),
    ]
    first = WordFilter.from_rules(rules)
    for order in itertools.permutations(rules):
        built = WordFilter.from_rules(order)
        assert built == first
        assert built.rules == first.rules
        for text in ("a snuff film", "snuff", "sn@ff", "gore and snuff", "nothing"):
            assert built.match(text) == first.match(text)
    assert [first.match("a snuff film") for _ in range(5)] == [BlockRule("snuff film", False, "server")] * 5


def test_global_rule_wins_over_the_same_server_word() -> None:
    both = WordFilter.from_rules([BlockRule("G0RE", False, "server"), BlockRule("gore", False, "global")])
    assert both.rules == (BlockRule("gore", False, "global"),)
    assert both.match("gore") == BlockRule("gore", False, "global")


def test_words_are_tried_before_regexes() -> None:
    mixed = WordFilter.from_rules([BlockRule("gor.", True, "global"), BlockRule("gore", False, "server")])
    assert mixed.match("gore") == BlockRule("gore", False, "server")
    assert mixed.match("gory") == BlockRule("gor.", True, "global")


def test_rules_are_frozen() -> None:
    rule = BlockRule("gore", False, "server")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.pattern = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        FILTER.rules = ()  # type: ignore[misc]
