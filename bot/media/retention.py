"""Deletes old result files so the results directory stays within its age and size limits.

File naming in the results directory (flat, no subdirectories), for a job id made of ``[A-Za-z0-9_-]``:

* ``{job_id}.mp4`` -- the verified result the poller downloads;
* ``{job_id}.fit.mp4`` -- a copy re-encoded to fit Discord's upload limit;
* ``{job_id}.poster.jpg`` -- a still shown before the video plays;
* ``[.]{job_id}.<anything>.part`` -- a download or encode in progress (the downloader writes
  ``{job_id}.mp4.<hex>.part``, bot.media.ffmpeg ``.{job_id}.poster.jpg.<pid>.part``).

A job's files are kept or deleted together; the job's age is the newest modification time among its finished files.
A sweep first deletes every job older than ``max_age_seconds``, every job in ``taken_down`` (its video was taken down,
whatever its files' age: they are left only where the store did not answer then) and every ``.part`` file untouched
for an hour, then, while the files it manages still take more than ``max_bytes``, the oldest jobs first. Files of
jobs in ``protected`` are never touched, and files that do not follow the naming above are neither deleted nor
counted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

log = logging.getLogger(__name__)

PART_MAX_AGE_SECONDS = 3600.0
JOB_FILE_SUFFIXES = (".mp4", ".fit.mp4", ".poster.jpg")
_RESULT = re.compile(r"(?P<job>[A-Za-z0-9_-]+)\.(?:mp4|fit\.mp4|poster\.jpg)")
_PART = re.compile(r"\.?(?P<job>[A-Za-z0-9_-]+)(?:\..*)?\.part")


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep deleted and what it left (files of a folder, or objects of a bucket named by their keys)."""

    deleted_files: tuple[PurePath, ...] = ()
    freed_bytes: int = 0
    remaining_bytes: int = 0

    @property
    def deleted_jobs(self) -> tuple[str, ...]:
        """The jobs whose main result (``{job_id}.mp4``) this sweep deleted, to mark in the store."""
        return tuple(p.name.removesuffix(".mp4") for p in self.deleted_files if _is_main_result(p.name))


@dataclass(slots=True)
class Entry:
    """One file (or object) the sweep may delete: where it is, its size and when it was last written."""

    path: PurePath
    size: int
    mtime: float


Drop = Callable[[list[Entry]], list[Entry]]
"""Deletes entries; returns those that could not be deleted (they stay, and count toward the size)."""


@dataclass(slots=True)
class _Job:
    job_id: str
    results: list[Entry] = field(default_factory=list)
    parts: list[Entry] = field(default_factory=list)

    @property
    def newest(self) -> float:
        return max(e.mtime for e in self.results)


async def sweep(
    results_dir: Path,
    *,
    max_age_seconds: float,
    max_bytes: int,
    now: float,
    protected: Collection[str] = (),
    taken_down: Collection[str] = (),
) -> SweepReport:
    """Delete expired and taken-down results and stale ``.part`` files, then the oldest results until under
    ``max_bytes``."""
    report = await asyncio.to_thread(
        _sweep, results_dir, max_age_seconds, max_bytes, now, frozenset(protected), frozenset(taken_down)
    )
    log_report(report, str(results_dir))
    return report


def log_report(report: SweepReport, where: str) -> None:
    """Log what a sweep deleted, if anything."""
    if report.deleted_files:
        log.info(
            "Retention: deleted %d files (%d bytes) from %s; %d bytes remain",
            len(report.deleted_files),
            report.freed_bytes,
            where,
            report.remaining_bytes,
        )


async def remove_job(results_dir: Path, job_id: str) -> None:
    """Delete a job's result, fitted copy and poster at once (its video was taken down)."""
    await asyncio.to_thread(_remove_job, results_dir, job_id)


def _remove_job(root: Path, job_id: str) -> None:
    for suffix in JOB_FILE_SUFFIXES:
        path = root / f"{job_id}{suffix}"
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("Could not delete %s: %s", path, exc)


def _sweep(
    root: Path, max_age: float, max_bytes: int, now: float, protected: frozenset[str], taken_down: frozenset[str]
) -> SweepReport:
    def unlink(entries: list[Entry]) -> list[Entry]:
        kept = []
        for entry in entries:
            try:
                Path(entry.path).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("Retention: could not delete %s: %s", entry.path, exc)
                kept.append(entry)
        return kept

    return select(_scan(root), max_age, max_bytes, now, protected, unlink, taken_down)


def select(
    entries: Iterable[Entry],
    max_age: float,
    max_bytes: int,
    now: float,
    protected: Collection[str],
    drop: Drop,
    taken_down: Collection[str] = (),
) -> SweepReport:
    """The sweep's rules over ``entries`` (named as above; others are ignored), deleting through ``drop``."""
    jobs: dict[str, _Job] = {}
    for entry in entries:
        result, part = _RESULT.fullmatch(entry.path.name), _PART.fullmatch(entry.path.name)
        match = result or part
        if match is not None:
            job = jobs.setdefault(match["job"], _Job(match["job"]))
            (job.results if result else job.parts).append(entry)
    deleted: list[Entry] = []

    def dropped(chosen: list[Entry]) -> list[Entry]:
        kept = drop(chosen)
        deleted.extend(e for e in chosen if e not in kept)
        return kept

    candidates = [job for job in jobs.values() if job.job_id not in protected]
    for job in candidates:
        stale = [e for e in job.parts if now - e.mtime > PART_MAX_AGE_SECONDS]
        job.parts = [e for e in job.parts if e not in stale] + dropped(stale)
        if job.results and (job.job_id in taken_down or now - job.newest > max_age):
            job.results = dropped(job.results)
    total = sum(e.size for job in jobs.values() for e in (*job.results, *job.parts))
    for job in sorted((j for j in candidates if j.results), key=lambda j: (j.newest, j.job_id)):
        if total <= max_bytes:
            break
        total -= sum(e.size for e in job.results)
        job.results = dropped(job.results)
        total += sum(e.size for e in job.results)
    return SweepReport(tuple(e.path for e in deleted), sum(e.size for e in deleted), total)


def _scan(root: Path) -> list[Entry]:
    entries: list[Entry] = []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return entries
    for name in names:
        if _RESULT.fullmatch(name) is None and _PART.fullmatch(name) is None:
            continue
        path = root / name
        try:
            st = path.lstat()
        except OSError:
            continue  # deleted meanwhile
        if stat.S_ISREG(st.st_mode):
            entries.append(Entry(path, st.st_size, st.st_mtime))
    return entries


def _is_main_result(name: str) -> bool:
    match = _RESULT.fullmatch(name)
    return match is not None and name == f"{match['job']}.mp4"
