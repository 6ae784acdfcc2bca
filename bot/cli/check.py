"""`python -m bot check`: is the configuration usable, the database writable and the gateway answering?"""

from __future__ import annotations

import sys

from bot.catalog import Catalog
from bot.cli import ExitCode
from bot.engine import open_engine
from bot.errors import GatewayAuthError, GatewayBalanceError, GatewayError, GatewayUnavailableError
from bot.settings import Settings


async def run(settings: Settings, catalog: Catalog) -> int:
    """Print a report line by line; the exit code says what, if anything, is wrong."""
    _line("ok", f"configuration read; gateway {settings.gateway_base_url}")
    if settings.discord_token:
        _line("ok", "DISCORD_TOKEN is set (not checked here: the bot checks it when it logs in)")
    else:
        _line("warn", "DISCORD_TOKEN is not set: `generate` and `check` work, the Discord bot will not start")
    _line("ok", f"{len(catalog)} models from {catalog.source}: {', '.join(m.name for m in catalog)}")
    try:
        async with open_engine(settings, catalog) as engine:
            await engine.store.check_writable()
            _line("ok", f"database {settings.database_path} is writable and up to date")
            try:
                served = set(await engine.client.list_models())
            except GatewayError as exc:
                return _gateway_problem(exc)
    except OSError as exc:
        _line("FAIL", f"database {settings.database_path}: {exc.strerror or exc}")
        return ExitCode.USAGE
    _line("ok", f"the gateway accepted the key and serves {len(served)} models")
    missing = [m.name for m in catalog if m.name not in served]
    for spec in catalog:
        state = "served" if spec.name in served else "NOT served by this gateway key"
        _line("ok" if spec.name in served else "warn", f"model {spec.name} ({spec.wire_format.value} format): {state}")
    if len(missing) == len(catalog):
        _line("FAIL", "none of the catalog's models is served: check the key's group or MODELS_FILE")
        return ExitCode.JOB_FAILED
    return ExitCode.OK


def _gateway_problem(exc: GatewayError) -> int:
    if isinstance(exc, GatewayAuthError):
        _line("FAIL", "the gateway rejected GATEWAY_API_KEY: check the key in the gateway's dashboard")
        return ExitCode.USAGE
    if isinstance(exc, GatewayBalanceError):
        _line("FAIL", "the gateway account has no balance left: top it up")
        return ExitCode.JOB_FAILED
    if isinstance(exc, GatewayUnavailableError):
        _line("FAIL", f"cannot reach the gateway: {exc.detail or exc.user_message}")
        return ExitCode.UNREACHABLE
    _line("FAIL", f"the gateway answered with an error: {exc.user_message}")
    return ExitCode.JOB_FAILED


def _line(level: str, text: str) -> None:
    sys.stdout.write(f"[{level:>4}] {text}\n")
