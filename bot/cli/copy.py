"""`python -m bot db copy --from PATH --to URL`: move an SQLite database into an empty PostgreSQL one.

Exit codes: 0 copied; 2 refused (a missing or unreadable source, one at another schema version, a target that is
not PostgreSQL or already holds data); 3 the target cannot be reached; 1 a row could not be stored. Whenever it is
not 0, nothing was copied.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final, TextIO
from urllib.parse import urlsplit

from bot import dburl
from bot.errors import DatabaseCopyError, ExitCode
from bot.storage.connect import describe
from bot.storage.copy import CopiedTable, copy_into, open_sqlite_source, open_target

DESCRIPTION: Final = """\
Copy the bot's SQLite database (jobs, the credit ledger, server settings, lists and filters, strikes) into an
empty PostgreSQL database, ids included, in one transaction. The target's schema is created first. Stop the bot
before copying; the SQLite file is left as it was.

example:
  python -m bot db copy --from data/reelbot.sqlite3 --to postgresql://reelbot:PASSWORD@db.internal:5432/reelbot
"""

# Tables at least this big get a progress line every PROGRESS_EVERY rows; smaller ones only their total at the end.
PROGRESS_EVERY: Final = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `db copy` options."""
    parser.add_argument("--from", dest="source", type=Path, required=True, metavar="PATH", help="the SQLite database")
    parser.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="an empty PostgreSQL database, as DATABASE_URL"
    )


def secrets(args: argparse.Namespace) -> tuple[str, ...]:
    """What the log must never show: the target's password."""
    return dburl.password_forms(args.target)


class TableProgress:
    """A line per PROGRESS_EVERY rows copied of a big table, on stderr."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._shown = 0  # the last multiple of PROGRESS_EVERY shown for the table being copied

    def __call__(self, table: str, done: int, total: int) -> None:
        if done == 0:
            self._shown = 0
        if total < PROGRESS_EVERY or (done // PROGRESS_EVERY == self._shown and done < total):
            return
        self._shown = done // PROGRESS_EVERY
        self._stream.write(f"  {table}: {done:,} of {total:,} rows\n")
        self._stream.flush()


async def run(args: argparse.Namespace) -> int:
    """Copy, then print what was copied; on a refusal or failure, say why and what to do."""
    source: Path = args.source
    url: str = args.target
    if urlsplit(url).scheme not in ("postgresql", "postgres"):
        sys.stderr.write(
            f"--to {dburl.shown(url)}: not a PostgreSQL URL. Give one such as postgresql://USER:PASSWORD@HOST:5432/DB.\n"
        )
        return ExitCode.USAGE
    try:
        async with open_sqlite_source(source) as sqlite:
            target = await open_target(url)
            try:
                copied = await copy_into(sqlite, target, TableProgress())
            finally:
                await target.close()
    except DatabaseCopyError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.code
    _report(source, url, copied)
    return ExitCode.OK


def _report(source: Path, url: str, copied: list[CopiedTable]) -> None:
    width = max(len(table.name) for table in copied)
    lines = [f"Copied {source} into {describe(url)}:"]
    lines += [f"  {table.name:<{width}}  {_rows(table.rows)}" for table in copied]
    lines.append(f"  {'total':<{width}}  {_rows(sum(table.rows for table in copied))}")
    sys.stdout.write("\n".join(lines) + "\n")


def _rows(count: int) -> str:
    return f"{count:>9,} row" + ("" if count == 1 else "s")
