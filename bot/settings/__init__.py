"""Settings, read once from the environment (and .env) and checked all at once.

Each field below is the one declaration of its setting: the environment variable is its name upper-cased, and
its reader, default and help make ``Settings.from_env``, ``.env.example`` and README's table
(``python -m bot.settings.docs`` writes the last two).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot import dburl
from bot.errors import ConfigError
from bot.settings.readers import (
    Invalid,
    Need,
    Section,
    bucket_name,
    decimal,
    gateway_url,
    host_list,
    http_url,
    id_list,
    level_name,
    listen,
    media_url,
    one_of,
    path,
    postgres_url,
    setting,
    shard_list,
    signing_key,
    spec_of,
    text,
    whole,
    ws_url,
)

DISCORD = Section("Discord")
GATEWAY = Section("Video gateway")
POLLING = Section("Polling")
LIMITS = Section(
    "Credits and limits (defaults for every server; admins change them per server with /video-admin)",
    "A video costs its duration times the model's credits_per_second (kling-v2-1: 1 credit per second). "
    "0 means no limit.",
)
DELIVERY = Section(
    "Delivery, media server and metrics",
    "Videos over a server's upload limit are re-encoded to fit (ffmpeg from the imageio-ffmpeg wheel). With "
    "MEDIA_PUBLIC_URL set, the bot also serves finished videos itself, through signed links that expire, so a video "
    "that cannot fit is linked and a compressed one links its full-quality original.",
)
STORAGE = Section("Storage")
OBJECT_STORAGE = Section(
    "Results in object storage",
    "With MEDIA_S3_BUCKET set, finished videos, posters and fitted copies are uploaded to an S3-compatible bucket "
    "(AWS S3, MinIO, Ceph, R2 ...) so that several machines share them, and links are presigned bucket URLs that work "
    "for MEDIA_LINK_HOURS (at most 168: S3 signatures last 7 days). RESULTS_DIR is then only a working folder.",
)
IMAGES = Section("Reference images")
LOGGING = Section("Logging")
MAX_PRESIGNED_HOURS = 168


class ProcessRole(StrEnum):
    """What one bot process does (PROCESS_ROLE); several processes share the work through the database."""

    ALL = "all"  # answers Discord, and polls and delivers
    FRONT = "front"  # only answers Discord: starts jobs that others deliver
    WORKER = "worker"  # no gateway connection: polls and delivers over Discord's REST API


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting the bot reads; secrets are kept out of repr."""

    discord_token: str = setting(
        "",
        text,
        DISCORD,
        "The bot token from the Discord developer portal, Bot page.",
        details="Never share it; it is never logged. `python -m bot generate` and `check` do not need it.",
        need=Need.FOR_BOT,
        secret=True,
    )
    discord_dev_guild_id: int | None = setting(
        None,
        whole(minimum=1),
        DISCORD,
        "A server id: register the slash commands there at every start (they appear at once).",
        empty="register them globally, and only when their definitions changed since the last start",
    )
    discord_api_base: str | None = setting(
        None,
        http_url,
        DISCORD,
        "A REST proxy in front of Discord's API, including /api/v10.",
        empty="https://discord.com/api/v10",
    )
    discord_gateway_url: str | None = setting(
        None, ws_url, DISCORD, "The Discord gateway websocket (or a proxy).", empty="wss://gateway.discord.gg/"
    )
    discord_shard_count: int | None = setting(
        None,
        whole(minimum=1),
        DISCORD,
        "How many shards the bot runs in all, across every process (Discord requires one per 2,500 servers).",
        details="Give every process the same count, and each its own DISCORD_SHARD_IDS.",
        empty="Discord's recommended count, all shards in this process",
    )
    discord_shard_ids: tuple[int, ...] = setting(
        (),
        shard_list,
        DISCORD,
        "The shards this process connects, e.g. 0,1 or 0-3 (needs DISCORD_SHARD_COUNT).",
        details="The process holding shard 0 registers the slash commands; the others leave that to it.",
        empty="every shard",
    )
    process_role: ProcessRole = setting(
        ProcessRole.ALL,
        one_of(ProcessRole),
        DISCORD,
        "all: answer Discord and also poll and deliver; front: only answer Discord; worker: no gateway connection, "
        "poll and deliver over Discord's REST API (the same as `python -m bot worker`).",
        details="Processes of every role share the jobs through the database: run fronts (or all) for the "
        "commands and workers for the downloads, re-encodes and posts.",
    )
    gateway_base_url: str = setting(
        "",
        gateway_url,
        GATEWAY,
        "The video gateway's root URL, WITHOUT /v1: where its API answers, e.g. http://127.0.0.1:3000 for new-api "
        "on this machine.",
        details="A wrong path makes the gateway answer with its web dashboard. Left empty here on purpose: put your "
        "gateway's address, or http://127.0.0.1:8787 for the simulator (`python -m bot.devtools.gateway`, "
        "see README).",
        need=Need.REQUIRED,
    )
    gateway_api_key: str = setting(
        "",
        text,
        GATEWAY,
        "The API key the gateway issued, usually starting with sk-.",
        details="Never logged or shown.",
        need=Need.REQUIRED,
        secret=True,
    )
    gateway_refresh_seconds: float = setting(
        15.0,
        decimal(minimum=0.0),
        GATEWAY,
        "How often, in seconds, the gateway refreshes a task's status from its provider (new-api: 15).",
        details="The poller learns when each task refreshes and polls just after. 0 means every read is fresh: "
        "poll at the minimum interval.",
    )
    gateway_requests_per_second: float = setting(
        20.0,
        decimal(minimum=0.1),
        GATEWAY,
        "At most this many requests per second go to the gateway (polls, submits and downloads together).",
    )
    result_max_mb: int = setting(
        512,
        whole(minimum=1),
        GATEWAY,
        "The largest finished video the bot downloads, in megabytes.",
        details="The models make 5-30 MB videos; this leaves room for long or 4K results. A larger one fails in "
        "plain words instead of filling the disk.",
    )
    result_url_allow: tuple[str, ...] = setting(
        (),
        host_list,
        GATEWAY,
        "Hosts (host or host:port, comma-separated) a result link may reach on a loopback, private or link-local "
        "address, besides the gateway's own host and port.",
        details="For a gateway whose provider stores videos on a private network, e.g. minio.internal:9000.",
        empty="none besides the gateway",
    )
    poll_interval_min_seconds: float = setting(
        5.0, decimal(minimum=0.1), POLLING, "Polls of one job are at least this many seconds apart..."
    )
    poll_interval_max_seconds: float = setting(
        30.0,
        decimal(minimum=0.1),
        POLLING,
        "...and at most this many (also the interval for a job past JOB_NOTICE_MINUTES).",
    )
    poll_concurrency: int = setting(
        16, whole(minimum=1), POLLING, "How many polls and downloads may be under way at once."
    )
    job_lease_seconds: float = setting(
        90.0,
        decimal(minimum=1.0),
        POLLING,
        "A job being polled or delivered is reserved for this many seconds; after a crash it resumes once that passes.",
    )
    job_notice_minutes: float = setting(
        30.0,
        decimal(minimum=0.0),
        POLLING,
        "Past this many minutes the requester is told the job is slow, and it is polled less often.",
    )
    job_timeout_minutes: float = setting(
        1440.0,
        decimal(minimum=0.01),
        POLLING,
        "Past this many minutes a job is given up as timed out (the gateway's own limit is 1440).",
        details="Fractions allowed.",
    )
    quota_user_daily_credits: float = setting(40.0, decimal(minimum=0), LIMITS, "Credits a member may spend per day.")
    quota_guild_daily_credits: float = setting(
        400.0, decimal(minimum=0), LIMITS, "Credits a whole server may spend per day..."
    )
    quota_guild_monthly_credits: float = setting(
        6000.0, decimal(minimum=0), LIMITS, "...and per month (your real bill)."
    )
    max_jobs_per_user: int = setting(2, whole(minimum=0), LIMITS, "Videos one member may have in progress at once.")
    max_jobs_per_guild: int = setting(
        10, whole(minimum=0), LIMITS, "Videos one server may have in progress at once, across all members."
    )
    queue_max_per_guild: int = setting(
        20,
        whole(minimum=0),
        LIMITS,
        "Videos that may wait for a free slot on one server (at most 3 of them one member's); past that, a video "
        "over an in-progress limit is refused. 0: no queue.",
    )
    cooldown_seconds: float = setting(
        30.0, decimal(minimum=0), LIMITS, "Seconds a member waits between two submissions."
    )
    quota_reset_hour_utc: int = setting(
        0, whole(minimum=0, maximum=23), LIMITS, "The daily period starts at this hour (UTC, 0-23)..."
    )
    quota_reset_day: int = setting(
        1, whole(minimum=1, maximum=28), LIMITS, "...and the monthly one on this day of the month (1-28)."
    )
    strike_limit: int = setting(
        3,
        whole(minimum=0),
        LIMITS,
        "Content-policy refusals and blocked-word hits are strikes: this many within STRIKE_WINDOW_HOURS pause the "
        "member for STRIKE_COOLDOWN_MINUTES.",
        details="STRIKE_LIMIT=0 turns this off.",
    )
    strike_window_hours: float = setting(
        24.0, decimal(minimum=0.001), LIMITS, "The window, in hours, in which STRIKE_LIMIT strikes count."
    )
    strike_cooldown_minutes: float = setting(
        60.0, decimal(minimum=0), LIMITS, "How many minutes a member who reached STRIKE_LIMIT is paused."
    )
    owner_ids: frozenset[int] = setting(
        frozenset(),
        id_list,
        LIMITS,
        "Discord user ids (comma-separated) of the bot's owners: they may pause every server, and are told by DM "
        "when the gateway rejects the key or runs out of balance.",
        empty="no owners",
    )
    media_public_url: str | None = setting(
        None,
        media_url,
        DELIVERY,
        "The public address of the media server (may carry a path, e.g. https://bot.example.com/media).",
        empty="no media server",
    )
    media_listen: str = setting(
        "127.0.0.1:8080",
        listen,
        DELIVERY,
        "Where the media server listens (put a reverse proxy with TLS in front of it).",
    )
    media_signing_key: str = setting(
        "",
        signing_key,
        DELIVERY,
        "Secret for signing media links (16 characters or more).",
        empty="one is generated at first start and kept in the file media-signing.key next to the database",
        secret=True,
    )
    media_link_hours: float = setting(72.0, decimal(minimum=0.01), DELIVERY, "How long a media link works, in hours.")
    media_header_timeout_seconds: float = setting(
        15.0,
        decimal(minimum=0.1),
        DELIVERY,
        "A connection to the media server (and to METRICS_LISTEN's) must send a whole request within this many "
        "seconds of opening or of its last answer, or it is closed.",
        details="Idle keep-alive connections close after it too.",
    )
    media_max_connections: int = setting(
        256,
        whole(minimum=1),
        DELIVERY,
        "At most this many connections are open at once (each server); more get a short 503 and are closed.",
    )
    metrics_listen: str | None = setting(
        None, listen, DELIVERY, "host:port for /healthz and Prometheus /metrics.", empty="off"
    )
    retention_days: float = setting(
        30.0,
        decimal(minimum=0.01),
        DELIVERY,
        "Finished videos and their temporary files are deleted after this many days...",
    )
    media_max_gb: float = setting(
        20.0,
        decimal(minimum=0.001),
        DELIVERY,
        "...and the oldest go first whenever they take more than this many gigabytes.",
    )
    database_path: Path = setting(
        Path("data/reelbot.sqlite3"),
        path,
        STORAGE,
        "The SQLite database holding every job (created with its folder if missing).",
        details="Keep it on persistent storage. The Docker image sets /data/reelbot.sqlite3 and /data/results, on "
        "its volume: leave this and RESULTS_DIR commented out there.",
        commented=True,
    )
    database_url: str | None = setting(
        None,
        postgres_url,
        STORAGE,
        "postgresql://user:password@host:5432/database: keep the jobs in PostgreSQL instead, which several bot "
        "processes can share; it wins over DATABASE_PATH.",
        details="The schema is created and brought up to date at start, one process at a time.",
        empty="SQLite at DATABASE_PATH",
        commented=True,
        secret=True,
    )
    results_dir: Path = setting(
        Path("data/results"), path, STORAGE, "Where finished videos are stored.", commented=True
    )
    models_file: Path | None = setting(
        None,
        path,
        STORAGE,
        "A model catalog (TOML) replacing the built-in one (bot/models.toml shows the format and how each model's "
        "request is mapped).",
        details="Either way the bot offers only the models the gateway lists at GET /v1/models.",
        empty="the built-in catalog",
    )
    media_s3_bucket: str | None = setting(
        None,
        bucket_name,
        OBJECT_STORAGE,
        "The bucket that holds finished videos, posters and fitted copies.",
        empty="they stay in RESULTS_DIR, linked through the built-in media server (MEDIA_PUBLIC_URL)",
    )
    media_s3_endpoint: str | None = setting(
        None,
        http_url,
        OBJECT_STORAGE,
        "The S3 API's address for a store other than AWS, e.g. https://minio.internal:9000.",
        details="Buckets are then addressed by path (https://minio.internal:9000/BUCKET/KEY).",
        empty="AWS S3 in MEDIA_S3_REGION",
    )
    media_s3_region: str = setting("us-east-1", text, OBJECT_STORAGE, "The bucket's region.")
    media_s3_access_key_id: str = setting("", text, OBJECT_STORAGE, "The access key id for the bucket.", secret=True)
    media_s3_secret_access_key: str = setting(
        "",
        text,
        OBJECT_STORAGE,
        "The secret access key that goes with MEDIA_S3_ACCESS_KEY_ID.",
        details="Never share it; it is never logged. The key needs GetObject, PutObject, DeleteObject and ListBucket.",
        secret=True,
    )
    image_decode_memory_mb: int = setting(
        512,
        whole(minimum=16),
        IMAGES,
        "Megabytes that reference-image decodes may take together (a 40-megapixel picture needs about 480).",
        details="A decode waits until its share fits, and one larger than this runs alone.",
    )
    log_level: str = setting("INFO", level_name, LOGGING, "DEBUG, INFO, WARNING, ERROR or CRITICAL.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_discord: bool = True) -> Settings:
        """Build settings from ``env`` (default: os.environ), reporting every problem in one ConfigError."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for item in fields(cls):
            spec = spec_of(item)
            name = item.name.upper()
            raw = source.get(name, "").strip()
            if not raw:
                if spec.need is Need.REQUIRED or (spec.need is Need.FOR_BOT and need_discord):
                    problems.append(f"{name} is not set ({spec.help[0].lower()}{spec.help[1:].rstrip('.')})")
                continue
            try:
                values[item.name] = spec.read(raw)
            except Invalid as bad:
                problems.extend(f"{name} {problem}" for problem in bad.problems)
        settings = cls(**values)
        problems.extend(settings._conflicts())
        if problems:
            raise ConfigError(
                "The configuration has problems (set these in the environment or in .env; "
                ".env.example explains each):\n  - " + "\n  - ".join(problems)
            )
        return settings

    def _conflicts(self) -> list[str]:
        found = []
        if self.poll_interval_min_seconds > self.poll_interval_max_seconds:
            found.append(
                "POLL_INTERVAL_MIN_SECONDS must not be larger than POLL_INTERVAL_MAX_SECONDS "
                f"({self.poll_interval_min_seconds:g} > {self.poll_interval_max_seconds:g})"
            )
        if self.job_notice_minutes >= self.job_timeout_minutes:
            found.append("JOB_NOTICE_MINUTES must be smaller than JOB_TIMEOUT_MINUTES")
        return found + self._shard_conflicts() + self._bucket_conflicts()

    def _bucket_conflicts(self) -> list[str]:
        s3 = {
            "MEDIA_S3_ENDPOINT": self.media_s3_endpoint,
            "MEDIA_S3_ACCESS_KEY_ID": self.media_s3_access_key_id,
            "MEDIA_S3_SECRET_ACCESS_KEY": self.media_s3_secret_access_key,
        }
        if self.media_s3_bucket is None:
            given = [name for name, value in s3.items() if value]
            if not given:
                return []
            return [f"{' and '.join(given)} set without MEDIA_S3_BUCKET: set the bucket too, or remove them"]
        found = [
            f"{name} must be set with MEDIA_S3_BUCKET (the bucket's credentials)"
            for name, value in s3.items()
            if name != "MEDIA_S3_ENDPOINT" and not value
        ]
        if self.media_public_url is not None:
            found.append(
                "MEDIA_PUBLIC_URL and MEDIA_S3_BUCKET are both set: with a bucket, links are presigned bucket URLs and "
                "the built-in media server is not used, so leave MEDIA_PUBLIC_URL empty"
            )
        if self.media_link_hours > MAX_PRESIGNED_HOURS:
            found.append(
                f"MEDIA_LINK_HOURS must be at most {MAX_PRESIGNED_HOURS} with MEDIA_S3_BUCKET (S3 signatures last "
                f"7 days), got {self.media_link_hours:g}"
            )
        return found

    def _shard_conflicts(self) -> list[str]:
        count, ids = self.discord_shard_count, self.discord_shard_ids
        if not ids:
            return []
        if count is None:
            return ["DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT, the number of shards across all processes"]
        beyond = [str(shard) for shard in ids if shard >= count]
        if beyond:
            return [
                f"DISCORD_SHARD_IDS names shards that DISCORD_SHARD_COUNT={count} does not have ({', '.join(beyond)}): "
                f"shard ids run from 0 to {count - 1}"
            ]
        return []

    @property
    def shard_ids(self) -> list[int] | None:
        """The shards this process connects, or None for all of them (of the configured or recommended count)."""
        return list(self.discord_shard_ids) if self.discord_shard_ids else None

    def connects_shard_of(self, guild_id: int) -> bool:
        """Whether this process connects the shard a server belongs to (Discord's rule: the id shifted right by 22,
        modulo the count); True when it connects every shard."""
        count, ids = self.discord_shard_count, self.shard_ids
        return count is None or ids is None or (guild_id >> 22) % count in ids

    @property
    def holds_shard_zero(self) -> bool:
        """Whether this process connects shard 0, which gets DMs and registers the commands."""
        return not self.discord_shard_ids or 0 in self.discord_shard_ids

    @property
    def database_location(self) -> Path | str:
        """The database the bot uses: DATABASE_URL when set (it wins), else the SQLite file at DATABASE_PATH."""
        return self.database_url or self.database_path

    @property
    def secrets(self) -> tuple[str, ...]:
        """What the log must never show: the tokens and keys, and the database password as written and as read."""
        return (
            self.discord_token,
            self.gateway_api_key,
            self.media_signing_key,
            self.media_s3_secret_access_key,
            *(dburl.password_forms(self.database_url) if self.database_url else ()),
        )

    @property
    def log_level_number(self) -> int:
        """The logging module's number for LOG_LEVEL."""
        return int(getattr(logging, self.log_level))
