"""Settings, read once from the environment (and .env) and checked all at once."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from bot.errors import ConfigError

_T = TypeVar("_T")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the bot reads; secrets are kept out of repr."""

    gateway_base_url: str
    gateway_api_key: str = field(repr=False)
    discord_token: str = field(repr=False, default="")
    discord_dev_guild_id: int | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    database_path: Path = Path("data/reelbot.sqlite3")
    results_dir: Path = Path("data/results")
    models_file: Path | None = None
    log_level: str = "INFO"
    poll_interval_min_seconds: float = 5.0
    poll_interval_max_seconds: float = 30.0
    gateway_refresh_seconds: float = 15.0
    job_notice_minutes: float = 30.0
    job_timeout_minutes: float = 1440.0
    poll_concurrency: int = 16
    job_lease_seconds: float = 90.0
    quota_user_daily_credits: float = 40.0
    quota_guild_daily_credits: float = 400.0
    quota_guild_monthly_credits: float = 6000.0
    max_jobs_per_user: int = 2
    max_jobs_per_guild: int = 10
    cooldown_seconds: float = 30.0
    quota_reset_hour_utc: int = 0
    quota_reset_day: int = 1
    owner_ids: frozenset[int] = frozenset()
    strike_limit: int = 3
    strike_window_hours: float = 24.0
    strike_cooldown_minutes: float = 60.0
    media_public_url: str | None = None
    media_listen: str = "127.0.0.1:8080"
    media_signing_key: str = field(repr=False, default="")
    media_link_hours: float = 72.0
    media_header_timeout_seconds: float = 15.0
    media_max_connections: int = 256
    metrics_listen: str | None = None
    retention_days: float = 30.0
    media_max_gb: float = 20.0
    gateway_requests_per_second: float = 20.0
    image_decode_memory_mb: int = 512
    result_max_mb: int = 512
    result_url_allow: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_discord: bool = True) -> Settings:
        """Build settings from ``env`` (default: os.environ), reporting every problem in one ConfigError."""
        source = os.environ if env is None else env
        reader = _Reader(source)
        base_url = reader.text("GATEWAY_BASE_URL", required=True, check=_check_base_url)
        settings = cls(
            gateway_base_url=base_url.rstrip("/"),
            gateway_api_key=reader.text("GATEWAY_API_KEY", required=True),
            discord_token=reader.text("DISCORD_TOKEN", required=need_discord),
            discord_dev_guild_id=reader.optional_number("DISCORD_DEV_GUILD_ID", int, minimum=1),
            discord_api_base=reader.text("DISCORD_API_BASE", check=_check_http_url).rstrip("/") or None,
            discord_gateway_url=reader.text("DISCORD_GATEWAY_URL", check=_check_ws_url) or None,
            database_path=Path(reader.text("DATABASE_PATH", default="data/reelbot.sqlite3")),
            results_dir=Path(reader.text("RESULTS_DIR", default="data/results")),
            models_file=Path(p) if (p := reader.text("MODELS_FILE")) else None,
            log_level=reader.text("LOG_LEVEL", default="INFO", check=_check_log_level).upper(),
            poll_interval_min_seconds=reader.number("POLL_INTERVAL_MIN_SECONDS", 5.0, float, minimum=0.1),
            poll_interval_max_seconds=reader.number("POLL_INTERVAL_MAX_SECONDS", 30.0, float, minimum=0.1),
            gateway_refresh_seconds=reader.number("GATEWAY_REFRESH_SECONDS", 15.0, float, minimum=0.0),
            job_notice_minutes=reader.number("JOB_NOTICE_MINUTES", 30.0, float, minimum=0.0),
            job_timeout_minutes=reader.number("JOB_TIMEOUT_MINUTES", 1440.0, float, minimum=0.01),
            poll_concurrency=reader.number("POLL_CONCURRENCY", 16, int, minimum=1),
            job_lease_seconds=reader.number("JOB_LEASE_SECONDS", 90.0, float, minimum=1.0),
            quota_user_daily_credits=reader.number("QUOTA_USER_DAILY_CREDITS", 40.0, float, minimum=0),
            quota_guild_daily_credits=reader.number("QUOTA_GUILD_DAILY_CREDITS", 400.0, float, minimum=0),
            quota_guild_monthly_credits=reader.number("QUOTA_GUILD_MONTHLY_CREDITS", 6000.0, float, minimum=0),
            max_jobs_per_user=reader.number("MAX_JOBS_PER_USER", 2, int, minimum=0),
            max_jobs_per_guild=reader.number("MAX_JOBS_PER_GUILD", 10, int, minimum=0),
            cooldown_seconds=reader.number("COOLDOWN_SECONDS", 30.0, float, minimum=0),
            quota_reset_hour_utc=reader.number("QUOTA_RESET_HOUR_UTC", 0, int, minimum=0, maximum=23),
            quota_reset_day=reader.number("QUOTA_RESET_DAY", 1, int, minimum=1, maximum=28),
            owner_ids=reader.id_list("OWNER_IDS"),
            strike_limit=reader.number("STRIKE_LIMIT", 3, int, minimum=0),
            strike_window_hours=reader.number("STRIKE_WINDOW_HOURS", 24.0, float, minimum=0.001),
            strike_cooldown_minutes=reader.number("STRIKE_COOLDOWN_MINUTES", 60.0, float, minimum=0),
            media_public_url=reader.text("MEDIA_PUBLIC_URL", check=_check_media_url).rstrip("/") or None,
            media_listen=reader.text("MEDIA_LISTEN", default="127.0.0.1:8080", check=_check_listen),
            media_signing_key=reader.text("MEDIA_SIGNING_KEY", check=_check_signing_key),
            media_link_hours=reader.number("MEDIA_LINK_HOURS", 72.0, float, minimum=0.01),
            media_header_timeout_seconds=reader.number("MEDIA_HEADER_TIMEOUT_SECONDS", 15.0, float, minimum=0.1),
            media_max_connections=reader.number("MEDIA_MAX_CONNECTIONS", 256, int, minimum=1),
            metrics_listen=reader.text("METRICS_LISTEN", check=_check_listen) or None,
            retention_days=reader.number("RETENTION_DAYS", 30.0, float, minimum=0.01),
            media_max_gb=reader.number("MEDIA_MAX_GB", 20.0, float, minimum=0.001),
            gateway_requests_per_second=reader.number("GATEWAY_REQUESTS_PER_SECOND", 20.0, float, minimum=0.1),
            image_decode_memory_mb=reader.number("IMAGE_DECODE_MEMORY_MB", 512, int, minimum=16),
            result_max_mb=reader.number("RESULT_MAX_MB", 512, int, minimum=1),
            result_url_allow=reader.host_list("RESULT_URL_ALLOW"),
        )
        if settings.poll_interval_min_seconds > settings.poll_interval_max_seconds:
            reader.problems.append(
                "POLL_INTERVAL_MIN_SECONDS must not be larger than POLL_INTERVAL_MAX_SECONDS "
                f"({settings.poll_interval_min_seconds:g} > {settings.poll_interval_max_seconds:g})"
            )
        if settings.job_notice_minutes >= settings.job_timeout_minutes:
            reader.problems.append("JOB_NOTICE_MINUTES must be smaller than JOB_TIMEOUT_MINUTES")
        if reader.problems:
            raise ConfigError(
                "The configuration has problems (set these in the environment or in .env; "
                ".env.example explains each):\n  - " + "\n  - ".join(reader.problems)
            )
        return settings

    @property
    def log_level_number(self) -> int:
        """The logging module's number for LOG_LEVEL."""
        return int(getattr(logging, self.log_level))


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(
        self, name: str, *, required: bool = False, default: str = "", check: Callable[[str], str | None] | None = None
    ) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            if required:
                self.problems.append(f"{name} is not set{_HINTS.get(name, '')}")
            return default
        if check is not None and (problem := check(value)):
            self.problems.append(f"{name} {problem}")
        return value

    def optional_number(self, name: str, kind: Callable[[str], _T], *, minimum: float) -> _T | None:
        if not self.env.get(name, "").strip():
            return None
        return self.number(name, None, kind, minimum=minimum)

    def id_list(self, name: str) -> frozenset[int]:
        raw = self.env.get(name, "").replace(";", ",")
        ids: set[int] = set()
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            if not part.isdigit():
                self.problems.append(f"{name} must be a comma-separated list of Discord user ids, got {part!r}")
                continue
            ids.add(int(part))
        return frozenset(ids)

    def host_list(self, name: str) -> tuple[str, ...]:
        hosts: list[str] = []
        for part in (p.strip() for p in self.env.get(name, "").split(",")):
            if not part:
                continue
            if problem := _check_host(part):
                self.problems.append(f"{name} {problem}")
                continue
            hosts.append(part.lower())
        return tuple(hosts)

    def number(
        self, name: str, default: _T, kind: Callable[[str], _T], *, minimum: float, maximum: float | None = None
    ) -> _T:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            self.problems.append(f"{name} must be {what}, got {raw!r}")
            return default
        if not math.isfinite(value) or value < minimum:  # type: ignore[operator,arg-type]  # _T is int or float
            self.problems.append(f"{name} must be at least {minimum:g}, got {raw}")
            return default
        if maximum is not None and value > maximum:  # type: ignore[operator]  # _T is int or float
            self.problems.append(f"{name} must be at most {maximum:g}, got {raw}")
            return default
        return value


_HINTS = {
    "DISCORD_TOKEN": " (the bot token from the Discord developer portal, Bot page)",
    "GATEWAY_BASE_URL": " (the video gateway's root URL, for example https://gateway.example.com, without /v1)",
    "GATEWAY_API_KEY": " (the API key the video gateway issued, usually starting with sk-)",
}


def _check_base_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http(s) URL such as https://gateway.example.com, got {value!r}"
    if parts.path.rstrip("/").endswith("/v1"):
        return "must be the gateway's root without /v1 (the bot adds /v1/... itself)"
    if parts.query or parts.fragment:
        return "must not carry a query string or fragment"
    return None


def _check_http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http(s) URL such as https://discord-proxy.internal/api/v10, got {value!r}"
    return None


def _check_media_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return f"must be a plain http(s) URL such as https://bot.example.com/media, got {value!r}"
    if not re.fullmatch(r"[A-Za-z0-9._~/-]*", parts.path):
        return "may only use letters, digits and . _ ~ - / in its path"
    return None


def _check_signing_key(value: str) -> str | None:
    return None if len(value) >= 16 else "must be at least 16 characters long (or empty, to have one generated)"


def _check_ws_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return f"must be a ws(s) URL such as wss://gateway.discord.gg/, got {value!r}"
    return None


def _check_listen(value: str) -> str | None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"must be host:port such as 127.0.0.1:8080, got {value!r}"
    return None


def _check_host(value: str) -> str | None:
    wrong = f"must be a comma-separated list of host or host:port entries such as cdn.internal:9000, got {value!r}"
    parts = urlsplit(f"//{value}")
    try:
        parts.port  # noqa: B018 - reading it checks the port
    except ValueError:
        return wrong
    if not parts.hostname or parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        return wrong
    return None


def _check_log_level(value: str) -> str | None:
    if value.upper() in _LOG_LEVELS:
        return None
    return f"must be one of {', '.join(_LOG_LEVELS)}, got {value!r}"
