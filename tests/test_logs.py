"""RedactingFormatter: known secrets never reach a log line, wherever they appear in the record."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from bot.logs import RedactingFormatter, setup_logging
from bot.settings import Settings

API_KEY = "sk-live-0123456789abcdef"
TOKEN = "MTIzNDU2Nzg5.discord.token-value"


def record(msg: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    info = sys.exc_info() if exc_info else None
    return logging.LogRecord("bot.test", logging.WARNING, __file__, 10, msg, args or None, info)


def test_secret_in_the_message() -> None:
    line = RedactingFormatter([API_KEY]).format(record(f"calling the gateway with {API_KEY} now"))
    assert API_KEY not in line
    assert "calling the gateway with [redacted] now" in line


def test_secret_in_the_arguments() -> None:
    line = RedactingFormatter([API_KEY, TOKEN]).format(record("headers %s, token %r", {"auth": API_KEY}, TOKEN))
    assert API_KEY not in line
    assert TOKEN not in line
    assert line.count("[redacted]") == 2


def test_secret_in_a_traceback() -> None:
    formatter = RedactingFormatter([API_KEY])
    try:
        raise RuntimeError(f"gateway refused key {API_KEY}")
    except RuntimeError:
        line = formatter.format(record("poll failed", exc_info=True))
    assert "Traceback" in line
    assert "RuntimeError: gateway refused key [redacted]" in line
    assert API_KEY not in line


def test_every_occurrence_is_redacted() -> None:
    line = RedactingFormatter([TOKEN]).format(record(f"{TOKEN}{TOKEN} and {TOKEN}"))
    assert TOKEN not in line
    assert line.count("[redacted]") == 3


def test_a_longer_secret_containing_a_shorter_one_is_redacted_whole() -> None:
    short, long = "abcdefgh", "abcdefgh-ijklmnop"
    line = RedactingFormatter([short, long]).format(record(f"value {long}"))
    assert line.endswith("value [redacted]")


def test_short_strings_are_not_redacted() -> None:
    line = RedactingFormatter(["abc", "1234567", "", API_KEY]).format(record("abc 1234567 is fine"))
    assert "abc 1234567 is fine" in line
    assert "[redacted]" not in line


def test_line_has_level_and_logger_name() -> None:
    line = RedactingFormatter([]).format(record("hello"))
    assert "WARNING" in line
    assert "bot.test: hello" in line


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_setup_logging_redacts_through_the_root_handler() -> None:
    setup_logging(logging.INFO, [API_KEY, "tiny"])
    root = logging.getLogger()
    assert root.level == logging.INFO
    assert len(root.handlers) == 1
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert isinstance(handler.formatter, RedactingFormatter)
    stream = io.StringIO()
    handler.setStream(stream)
    logging.getLogger("bot.somewhere").info("key=%s tiny", API_KEY)
    logging.getLogger("bot.somewhere").debug("hidden below the level")
    assert stream.getvalue().rstrip().endswith("key=[redacted] tiny")
    assert "hidden" not in stream.getvalue()
    assert logging.getLogger("aiohttp.access").getEffectiveLevel() == logging.WARNING


@pytest.mark.usefixtures("restore_root_logger")
def test_even_at_debug_no_library_logs_message_bodies() -> None:
    setup_logging(logging.DEBUG)
    # aiosqlite logs statements with their parameters, discord.py request bodies and events: prompts, all of them.
    for name in ("aiosqlite", "discord.http", "discord.gateway"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name


def test_the_database_password_from_an_asyncpg_error_is_redacted_as_written_and_as_read() -> None:
    url = "postgresql://reelbot:Pw%2F0451%40secret@db.internal/reelbot"
    env = {"GATEWAY_BASE_URL": "https://gateway.example.com", "GATEWAY_API_KEY": API_KEY, "DATABASE_URL": url}
    formatter = RedactingFormatter(Settings.from_env(env, need_discord=False).secrets)
    try:
        raise asyncpg.InterfaceError("cannot use password 'Pw/0451@secret' (given as Pw%2F0451%40secret)")
    except asyncpg.InterfaceError:
        line = formatter.format(record("database: %s", "down", exc_info=True))
    assert "0451" not in line and "InterfaceError" in line
