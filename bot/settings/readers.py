"""How one setting is declared: its section, help, what an empty value means, and the reader that checks it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import Field, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

_T = TypeVar("_T")
_N = TypeVar("_N", int, float)
_METADATA_KEY = "reelbot.setting"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Invalid(ValueError):
    """A value a reader refuses; each problem completes a sentence that starts with the setting's name."""

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems = problems


class Need(Enum):
    """Whether a setting must be given."""

    OPTIONAL = "optional"
    REQUIRED = "required"
    FOR_BOT = "required for the bot"


@dataclass(frozen=True, slots=True)
class Section:
    """A group of settings in .env.example: its title and what holds for all of them."""

    title: str
    intro: str = ""


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything about one setting besides its name (the field's, upper-cased) and its default (the field's)."""

    section: Section
    help: str
    read: Callable[[str], Any]
    details: str = ""
    empty: str = ""
    need: Need = Need.OPTIONAL
    commented: bool = False


def setting(
    default: _T,
    read: Callable[[str], _T],
    section: Section,
    help: str,
    *,
    details: str = "",
    empty: str = "",
    need: Need = Need.OPTIONAL,
    commented: bool = False,
    secret: bool = False,
) -> _T:
    """Declare a Settings field: ``help`` is one line (README's table), ``details`` more lines for .env.example.

    ``empty`` says what leaving it empty does when the default is no value; ``commented`` writes it commented
    out in .env.example; ``secret`` keeps it out of repr.
    """
    spec = Spec(section, help, read, details, empty, need, commented)
    return field(default=default, repr=not secret, metadata={_METADATA_KEY: spec})


def spec_of(item: Field[Any]) -> Spec:
    """The declaration behind a Settings field."""
    spec = item.metadata[_METADATA_KEY]
    assert isinstance(spec, Spec)
    return spec


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A reader of whole numbers within bounds."""

    def read(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise Invalid(f"must be a whole number, got {raw!r}") from None
        return _bounded(value, raw, minimum, maximum)

    return read


def decimal(minimum: float) -> Callable[[str], float]:
    """A reader of finite numbers of at least ``minimum`` (fractions allowed)."""

    def read(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise Invalid(f"must be a number, got {raw!r}") from None
        return _bounded(value, raw, minimum, None)

    return read


def _bounded(value: _N, raw: str, minimum: float, maximum: float | None) -> _N:
    if not math.isfinite(value) or value < minimum:
        raise Invalid(f"must be at least {minimum:g}, got {raw}")
    if maximum is not None and value > maximum:
        raise Invalid(f"must be at most {maximum:g}, got {raw}")
    return value


def text(raw: str) -> str:
    """Any text."""
    return raw


def path(raw: str) -> Path:
    """A file or folder path."""
    return Path(raw)


def level_name(raw: str) -> str:
    """One of the logging module's level names, in any case."""
    if raw.upper() not in LOG_LEVELS:
        raise Invalid(f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw.upper()


def gateway_url(raw: str) -> str:
    """The gateway's root: a plain http(s) URL without /v1, kept without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(f"must be an http(s) URL such as https://gateway.example.com, got {raw!r}")
    if parts.path.rstrip("/").endswith("/v1"):
        raise Invalid("must be the gateway's root without /v1 (the bot adds /v1/... itself)")
    if parts.query or parts.fragment:
        raise Invalid("must not carry a query string or fragment")
    return raw.rstrip("/")


def http_url(raw: str) -> str:
    """An http(s) URL, kept without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(f"must be an http(s) URL such as https://discord-proxy.internal/api/v10, got {raw!r}")
    return raw.rstrip("/")


def media_url(raw: str) -> str:
    """A plain http(s) URL whose path needs no escaping, kept without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise Invalid(f"must be a plain http(s) URL such as https://bot.example.com/media, got {raw!r}")
    if not re.fullmatch(r"[A-Za-z0-9._~/-]*", parts.path):
        raise Invalid("may only use letters, digits and . _ ~ - / in its path")
    return raw.rstrip("/")


def ws_url(raw: str) -> str:
    """A ws(s) URL."""
    parts = urlsplit(raw)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise Invalid(f"must be a ws(s) URL such as wss://gateway.discord.gg/, got {raw!r}")
    return raw


def listen(raw: str) -> str:
    """host:port to listen on."""
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Invalid(f"must be host:port such as 127.0.0.1:8080, got {raw!r}")
    return raw


def signing_key(raw: str) -> str:
    """A secret of 16 characters or more."""
    if len(raw) < 16:
        raise Invalid("must be at least 16 characters long (or empty, to have one generated)")
    return raw


def id_list(raw: str) -> frozenset[int]:
    """Discord user ids separated by commas (or semicolons)."""
    parts = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
    wrong = [p for p in parts if not p.isdigit()]
    if wrong:
        raise Invalid(*(f"must be a comma-separated list of Discord user ids, got {p!r}" for p in wrong))
    return frozenset(int(p) for p in parts)


def host_list(raw: str) -> tuple[str, ...]:
    """host or host:port entries separated by commas, lower-cased."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    wrong = [p for p in parts if not _is_host(p)]
    if wrong:
        raise Invalid(
            *(
                f"must be a comma-separated list of host or host:port entries such as cdn.internal:9000, got {p!r}"
                for p in wrong
            )
        )
    return tuple(p.lower() for p in parts)


def _is_host(value: str) -> bool:
    parts = urlsplit(f"//{value}")
    try:
        parts.port  # noqa: B018 - reading it checks the port
    except ValueError:
        return False
    return bool(parts.hostname) and not (parts.path or parts.query or parts.fragment or "@" in parts.netloc)
