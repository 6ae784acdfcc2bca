"""The start-up check of the places Reelbot writes to: the database, the results directory, a `--out` file.

Run before anything is sent to the gateway, so a path mistake costs nothing. Each problem names the setting, the
path and what to do, in the terms an operator needs in a container (the image runs as uid 10001 on a volume).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from bot.settings import Settings

SQLITE_HEADER: Final = b"SQLite format 3\x00"


def settings_problems(settings: Settings) -> list[str]:
    """Why DATABASE_PATH (unless DATABASE_URL is used instead) or RESULTS_DIR cannot be used by this process; empty
    when both can."""
    database = None if settings.database_url else database_problem(settings.database_path)
    found = [database, directory_problem("RESULTS_DIR", settings.results_dir)]
    return [problem for problem in found if problem is not None]


def database_problem(path: Path) -> str | None:
    """Why the SQLite database at ``path`` cannot be opened for writing (or created), or None."""
    label = f"DATABASE_PATH {path}"
    # SQLite writes its -wal and -shm files beside the database, so the directory must take new files too.
    advice = f"DATABASE_PATH names the database file, such as {path / 'reelbot.sqlite3'}"
    problem = _file_place_problem(label, path, "DATABASE_PATH", advice)
    if problem is not None or not path.is_file():
        return problem
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{label}: cannot be read ({exc.strerror})"
    if head and head != SQLITE_HEADER:
        return f"{label}: is not an SQLite database; point DATABASE_PATH at the bot's database or a new file name"
    return None


def directory_problem(setting: str, path: Path) -> str | None:
    """Why ``path`` cannot be used (or created) as a directory to write files in, or None."""
    label = f"{setting} {path}"
    if path.exists() and not path.is_dir():
        return f"{label}: is a file, not a directory; point {setting} at a directory"
    return _directory_problem(label, path, setting)


def output_file_problem(path: Path) -> str | None:
    """Why `generate --out` cannot write the video to ``path``, or None."""
    return _file_place_problem(f"--out {path}", path, "--out", f"name the file to write, such as {path / 'video.mp4'}")


def _file_place_problem(label: str, path: Path, setting: str, advice: str) -> str | None:
    """Why a file cannot be written (or created) at ``path``, or None; ``advice`` follows when it is a directory."""
    if path.is_dir():
        return f"{label}: is a directory; {advice}"
    if path.exists():
        problem = _file_problem(label, path, setting)
        if problem is not None:
            return problem
    return _directory_problem(label, path.parent, setting)


def _directory_problem(label: str, directory: Path, setting: str) -> str | None:
    existing = _nearest_existing(directory)
    if not existing.is_dir():
        return f"{label}: the directory {directory} cannot be created: {existing} is a file"
    if os.access(existing, os.W_OK | os.X_OK):
        return None
    where = f"the directory {existing}"
    if existing != directory.absolute():
        where = f"{directory} would be created in {existing}, which"
    return f"{label}: {where} {_why_not_writable(existing, setting)}"


def _file_problem(label: str, path: Path, setting: str) -> str | None:
    if not path.is_file():
        return f"{label}: is not a regular file"
    if os.access(path, os.R_OK | os.W_OK):
        return None
    return f"{label}: the file {_why_not_writable(path, setting)}"


def _why_not_writable(path: Path, setting: str) -> str:
    """The end of a sentence saying why this process cannot write to ``path`` and what to do."""
    uid = os.geteuid()
    if _read_only(path):
        return f"is on a read-only filesystem (a volume mounted read-only?): mount it read-write or change {setting}"
    owner = path.stat().st_uid
    what = "the volume is" if os.path.ismount(path) else "it is"
    if owner == uid:
        return (
            f"is not writable by this user (uid {uid}), its owner, whose write permission is off: "
            f"`chmod u+rwx {path}` or change {setting}"
        )
    return (
        f"is not writable by this user (uid {uid}); {what} owned by uid {owner}. "
        f"Chown it (`chown -R {uid} {path}`; for a Docker volume, "
        f"`docker run --rm -v VOLUME:{path} --user 0 IMAGE chown -R {uid} {path}`) or change {setting}"
    )


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _nearest_existing(directory: Path) -> Path:
    """The directory itself, or its closest ancestor that exists (which may be a file in the way)."""
    return next(candidate for candidate in _self_and_ancestors(directory.absolute()) if candidate.exists())


def _self_and_ancestors(path: Path) -> Iterator[Path]:
    yield path
    yield from path.parents
