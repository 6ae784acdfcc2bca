"""The bot's own HTTP servers: finished videos behind signed links, and /healthz with /metrics."""

from __future__ import annotations

import functools
import logging
import time
from contextlib import AsyncExitStack
from typing import Final

from bot.engine import Engine
from bot.errors import GatewayError
from bot.front.client import VideoBot
from bot.media.server import MediaLinks, create_media_app, load_signing_key, serve
from bot.metrics import HealthCheck, HealthReport, create_metrics_app
from bot.settings import Settings
from bot.storage.sqlite import BUSY_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

# The gateway counts as reachable when it answered this recently; otherwise /healthz asks it.
GATEWAY_FRESH_SECONDS: Final = 300.0
# Longer than SQLite waits for a lock, so a locked database is reported as such instead of cutting the check off.
HEALTH_TIMEOUT_SECONDS: Final = BUSY_TIMEOUT_SECONDS + 5.0


def media_links(settings: Settings) -> MediaLinks | None:
    """Signed links under MEDIA_PUBLIC_URL, or None when the media server is off."""
    if settings.media_public_url is None:
        return None
    key = load_signing_key(settings.media_signing_key, settings.database_path.parent / "media-signing.key")
    return MediaLinks(settings.media_public_url, key)


async def start_servers(
    stack: AsyncExitStack, settings: Settings, engine: Engine, bot: VideoBot, links: MediaLinks | None
) -> None:
    """Start the configured servers; ``stack`` stops them."""
    serve_limited = functools.partial(
        serve,
        header_timeout_seconds=settings.media_header_timeout_seconds,
        max_connections=settings.media_max_connections,
    )
    if links is not None:
        runner = await serve_limited(
            create_media_app(settings.results_dir, links, engine.store.is_result_deleted), settings.media_listen
        )
        stack.push_async_callback(runner.cleanup)
        log.info("Serving finished videos on %s as %s", settings.media_listen, settings.media_public_url)
    if settings.metrics_listen is not None:
        app = create_metrics_app(engine.metrics, lambda: health(engine, bot), health_timeout=HEALTH_TIMEOUT_SECONDS)
        runner = await serve_limited(app, settings.metrics_listen)
        stack.push_async_callback(runner.cleanup)
        log.info("Serving /healthz and /metrics on %s", settings.metrics_listen)


async def health(engine: Engine, bot: VideoBot) -> HealthReport:
    """Discord connected, database writable, gateway answering."""
    discord_ok = bot.is_ready() and not bot.is_closed()
    checks = {"discord": HealthCheck(discord_ok, "connected" if discord_ok else "not connected")}
    try:
        await engine.store.check_writable()
        checks["database"] = HealthCheck(True, "writable")
    except Exception as exc:  # any failure to write is the answer here
        checks["database"] = HealthCheck(False, f"not writable: {type(exc).__name__}")
    checks["gateway"] = await _gateway_check(engine)
    stopped = bot.stopped_services()
    checks["services"] = HealthCheck(not stopped, f"stopped: {', '.join(stopped)}" if stopped else "running")
    return HealthReport(checks)


async def _gateway_check(engine: Engine) -> HealthCheck:
    last = engine.client.last_answer_at
    if last is not None and time.monotonic() - last < GATEWAY_FRESH_SECONDS:
        return HealthCheck(True, f"answered {time.monotonic() - last:.0f} s ago")
    try:
        await engine.client.list_models()
    except GatewayError as exc:
        return HealthCheck(False, exc.user_message)
    return HealthCheck(True, "answered just now")
