"""How one setting is declared: its section, help, what an empty value means, and the reader that checks it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import Field, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from bot import dburl

_T = TypeVar("_T")
_N = TypeVar("_N", int, float)
_E = TypeVar("_E", bound=Enum)
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
    return lambda raw: _number(raw, int, "a whole number", minimum, maximum)


def decimal(minimum: float) -> Callable[[str], float]:
    """A reader of finite numbers of at least ``minimum`` (fractions allowed)."""
    return lambda raw: _number(raw, float, "a number", minimum, None)


def _number(raw: str, kind: type[_N], what: str, minimum: float, maximum: float | None) -> _N:
    try:
        value = kind(raw)
    except ValueError:
        raise Invalid(f"must be {what}, got {raw!r}") from None
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


def postgres_url(raw: str) -> str:
    """A PostgreSQL connection URL naming a host and a database (never echoed back: it may hold a password)."""
    problem = dburl.problem(raw)
    if problem is not None:
        raise Invalid(problem)
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or parts.path in ("", "/"):
        raise Invalid("must be a URL such as postgresql://reelbot:PASSWORD@db.internal:5432/reelbot")
    return raw


def level_name(raw: str) -> str:
    """One of the logging module's level names, in any case."""
    if raw.upper() not in LOG_LEVELS:
        raise Invalid(f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw.upper()


def one_of(kind: type[_E]) -> Callable[[str], _E]:
    """A reader of one of an enum's values, in any case."""

    def read(raw: str) -> _E:
        try:
            return kind(raw.lower())
        except ValueError:
            raise Invalid(f"must be one of {', '.join(str(m.value) for m in kind)}, got {raw!r}") from None

    return read


def gateway_url(raw: str) -> str:
    """The gateway's root: a plain http(s) URL without /v1, kept without a trailing slash."""
    parts = _url(raw, "http", "https://gateway.example.com")
    if parts.path.rstrip("/").endswith("/v1"):
        raise Invalid("must be the gateway's root without /v1 (the bot adds /v1/... itself)")
    if parts.query or parts.fragment:
        raise Invalid("must not carry a query string or fragment")
    return raw.rstrip("/")


def http_url(raw: str) -> str:
    """An http(s) URL, kept without a trailing slash."""
    _url(raw, "http", "https://discord-proxy.internal/api/v10")
    return raw.rstrip("/")


def media_url(raw: str) -> str:
    """A plain http(s) URL whose path needs no escaping, kept without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise Invalid(f"must be a plain http(s) URL such as https://bot.example.com/media, got {raw!r}")
    if not re.fullmatch(r"[A-Za-z0-9._~/-]*", parts.path):
        raise Invalid("may only use letters, digits and . _ ~ - / in its path")
    return raw.rstrip("/")


def bucket_name(raw: str) -> str:
    """An S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with one of the
    first two."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw):
        raise Invalid(f"must be a bucket name (3 to 63 lower-case letters, digits, . and -), got {raw!r}")
    return raw


def ws_url(raw: str) -> str:
    """A ws(s) URL."""
    _url(raw, "ws", "wss://gateway.discord.gg/")
    return raw


def _url(raw: str, scheme: str, example: str) -> SplitResult:
    parts = urlsplit(raw)
    if parts.scheme not in (scheme, f"{scheme}s") or not parts.netloc:
        article = "an" if scheme == "http" else "a"
        raise Invalid(f"must be {article} {scheme}(s) URL such as {example}, got {raw!r}")
    return parts


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


def shard_list(raw: str) -> tuple[int, ...]:
    """Shard ids and ranges separated by commas (``0,1`` or ``0-3``), sorted, each once."""
    ids: set[int] = set()
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        low, dash, high = part.partition("-")
        if not (low.strip().isdigit() and (not dash or high.strip().isdigit())):
            raise Invalid(f"must be shard ids or ranges separated by commas, such as 0,1 or 0-3, got {part!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise Invalid(f"has a range that runs backwards: {part!r} (write the lower id first)")
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


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
