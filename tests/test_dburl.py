"""Database URLs without their passwords: shown, redacted, checked, whatever the password holds."""

from __future__ import annotations

import pytest

from bot.dburl import password_forms, problem, redacted, shown

# A password with every character that splits URLs, percent-encoded as DATABASE_URL must hold it.
ESCAPED = "Pw%2F0451%40tail%3Asecret%25x"
DECODED = "Pw/0451@tail:secret%x"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://reelbot:hunter2-long@db:5432/reelbot", "postgresql://reelbot:***@db:5432/reelbot"),
        (f"postgresql://reelbot:{ESCAPED}@db/reelbot", "postgresql://reelbot:***@db/reelbot"),
        ("postgresql://reelbot:Pw/0451@tail:secret@db/reelbot", "postgresql://reelbot:***@db/reelbot"),
        ("postgresql://reelbot@db/reelbot", "postgresql://reelbot@db/reelbot"),
        ("postgresql://db:5432/reelbot", "postgresql://db:5432/reelbot"),
        ("reelbot:Pw-0451@db/reelbot", "reelbot:***@db/reelbot"),
    ],
)
def test_a_url_is_shown_without_its_password_however_it_is_written(url: str, expected: str) -> None:
    assert shown(url) == expected


def test_the_password_is_known_as_written_and_as_the_driver_reads_it() -> None:
    assert password_forms(f"postgresql://reelbot:{ESCAPED}@db/reelbot") == (ESCAPED, DECODED)
    assert password_forms("postgresql://reelbot:plain-pass@db/reelbot") == ("plain-pass",)
    assert password_forms("postgresql://reelbot@db/reelbot") == ()


def test_a_drivers_error_is_redacted_in_every_form() -> None:
    url = f"postgresql://reelbot:{ESCAPED}@db/reelbot"
    said = redacted(f"cannot use {url}: password {DECODED!r} or {ESCAPED} refused", url)
    assert ESCAPED not in said and DECODED not in said and "0451" not in said
    assert said == "cannot use postgresql://reelbot:***@db/reelbot: password '***' or *** refused"


def test_what_drivers_misread_is_refused_without_showing_it() -> None:
    for raw in ("Pw/0451", "Pw@0451", "Pw?0451", "Pw#0451"):
        said = problem(f"postgresql://reelbot:{raw}@db/reelbot")
        assert said is not None and "percent-encoded" in said and "0451" not in said
    said = problem("postgresql://reelbot:Pw%zz0451@db/reelbot")
    assert said is not None and "%25" in said and "0451" not in said
    assert problem(f"postgresql://reelbot:{ESCAPED}@db/reelbot") is None
    assert problem("postgresql://reelbot:with:colons@db/reelbot") is None
