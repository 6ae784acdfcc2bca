"""`python -m bot check`: is the configuration usable, the database writable and the gateway serving our models?

Exit codes, in this order: a local or configuration problem 2; the gateway cannot be reached 3; no catalog model
served 2; otherwise 0. Never 1: nothing here is a job that failed.
"""

from __future__ import annotations

import sqlite3
import sys

import asyncpg

from bot.catalog import Catalog
from bot.cli.explain import diagnose
from bot.engine import open_engine
from bot.errors import ExitCode
from bot.paths import settings_problems
from bot.services.served import ModelState, ServedModels, when
from bot.settings import Settings
from bot.storage.connect import describe


async def run(settings: Settings, catalog: Catalog) -> int:
    """Print a report line by line; the exit code says what, if anything, is wrong."""
    _line("ok", f"configuration read; gateway {settings.gateway_base_url}")
    if settings.discord_token:
        _line("ok", "DISCORD_TOKEN is set (not checked here: the bot checks it when it logs in)")
    else:
        _line("warn", "DISCORD_TOKEN is not set: `generate` and `check` work, the Discord bot will not start")
    _line("ok", f"{len(catalog)} models from {catalog.source}")
    problems = settings_problems(settings)
    for problem in problems:
        _line("FAIL", problem)
    if problems:
        return ExitCode.USAGE
    _line("ok", f"results directory {settings.results_dir} is writable")
    try:
        async with open_engine(settings, catalog) as engine:
            await engine.store.check_writable()
            _line("ok", f"database: {describe(settings.database_location)} is writable and up to date")
            models = engine.models
            await models.refresh()
    except (OSError, sqlite3.Error, asyncpg.PostgresError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = "DATABASE_URL" if settings.database_url else "DATABASE_PATH"
        _line("FAIL", f"{where} ({describe(settings.database_location)}): {reason}")
        return ExitCode.USAGE
    error = models.last_error
    diagnosis = diagnose(error, settings.gateway_base_url) if error is not None else None
    if diagnosis is not None and diagnosis.code is not ExitCode.UNREACHABLE:
        _line("FAIL", diagnosis.text)
        return diagnosis.code
    if diagnosis is not None:
        _line("FAIL", f"cannot reach the gateway: {diagnosis.text}")
        if models.served is None:
            _line("warn", "no model list was ever read from this gateway, so none is shown")
            return ExitCode.UNREACHABLE
        _line("warn", f"the model list below is stale: it was read at {when(models.served.fetched_at)}")
    else:
        assert models.served is not None
        _line("ok", f"the gateway accepted the key and serves {len(models.served.models)} models")
    served = _list_models(models)
    if error is not None:
        return ExitCode.UNREACHABLE
    if served == 0:
        _line("FAIL", "the gateway serves none of the catalog's models: check the key's group, or set MODELS_FILE")
        return ExitCode.USAGE
    return ExitCode.OK


def _list_models(models: ServedModels) -> int:
    """One line per catalog model; returns how many are served."""
    offered = models.offered()
    for spec in models.catalog:
        state = models.state(spec)
        where = f"{spec.name} ({spec.wire_format.value} format)"
        if state is ModelState.RETIRED:
            _line("info", f"model {where}: retired on {spec.retired}, never offered")
        elif state is ModelState.SERVED:
            default = " (the default)" if spec is offered[0] else ""
            _line("ok", f"model {where}: served{default}")
        else:
            _line("warn", f"model {where}: not served by this gateway key, not offered")
    return len(offered)


def _line(level: str, text: str) -> None:
    sys.stdout.write(f"[{level:>4}] {text}\n")
