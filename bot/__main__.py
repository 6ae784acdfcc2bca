"""Entry point: `python -m bot` (the Discord bot), `python -m bot worker`, `python -m bot generate ...`,
`python -m bot check`, `python -m bot db copy ...`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from dotenv import find_dotenv, load_dotenv

from bot.catalog import Catalog
from bot.cli import check, copy, generate
from bot.errors import ConfigError, DatabaseUnavailableError, ExitCode
from bot.front.run import run_bot
from bot.logs import setup_logging
from bot.paths import settings_problems
from bot.settings import ProcessRole, Settings

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Reelbot: AI videos for Discord servers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the engine's log on the terminal")
    # Accepted after the command too (`generate -v ...`); SUPPRESS keeps a -v given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", parents=[common], help="run the Discord bot in PROCESS_ROLE (the default)")
    commands.add_parser(
        "worker",
        parents=[common],
        help="poll and deliver jobs over Discord's REST API, without a gateway connection (PROCESS_ROLE=worker)",
    )
    generate.add_arguments(
        commands.add_parser(
            "generate",
            parents=[common],
            help="make one video from the terminal",
            description=generate.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    commands.add_parser("check", parents=[common], help="check the configuration, the database and the gateway")
    db = commands.add_parser("db", parents=[common], help="database commands (copy)")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    copy.add_arguments(
        db_commands.add_parser(
            "copy",
            parents=[common],
            help="copy an SQLite database into an empty PostgreSQL one",
            description=copy.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, load settings once, and run the chosen command."""
    args = _parser().parse_args(argv)
    command = args.command or "run"
    # .env is looked for from the working directory up, where operators keep it.
    load_dotenv(find_dotenv(usecwd=True))
    if command == "db":
        # Needs no settings: both databases are named on the command line. The password stays out of the log.
        setup_logging(logging.INFO if args.verbose else logging.WARNING, secrets=copy.secrets(args))
        try:
            return asyncio.run(copy.run(args))
        except KeyboardInterrupt:
            sys.stderr.write("\nStopped. Unless it printed what it copied, nothing was copied.\n")
            return ExitCode.INTERRUPTED
    try:
        settings = Settings.from_env(need_discord=command in ("run", "worker"))
        catalog = Catalog.load(settings.models_file)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return ExitCode.USAGE
    if command == "worker":
        settings = dataclasses.replace(settings, process_role=ProcessRole.WORKER)
    # `check` reports path problems in its own list; the others stop here, before any gateway call.
    problems = [] if command == "check" else settings_problems(settings)
    if problems:
        sys.stderr.write("Cannot start:\n" + "".join(f"  {problem}\n" for problem in problems))
        return ExitCode.USAGE
    # Without -v, generate's progress bar owns the terminal: retry warnings would break into it.
    quiet = logging.ERROR if command == "generate" else logging.WARNING
    level = settings.log_level_number if command in ("run", "worker") or args.verbose else quiet
    setup_logging(level, secrets=settings.secrets)
    try:
        if command == "generate":
            return asyncio.run(generate.run(args, settings, catalog))
        if command == "check":
            return asyncio.run(check.run(settings, catalog))
        return asyncio.run(run_bot(settings, catalog))
    except DatabaseUnavailableError as exc:
        sys.stderr.write(f"Cannot start: {exc}\n")
        return ExitCode.UNREACHABLE
    except KeyboardInterrupt:
        sys.stderr.write("\nStopped.\n")
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
