"""Retention sweeps: age limit, size limit oldest first, protected jobs, stale partial files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from bot.media import retention
from bot.media.retention import SweepReport, sweep

NOW = 1_700_000_000.0
DAY = 86400.0
HOUR = 3600.0
NO_SIZE_LIMIT = 10**12


def put(root: Path, name: str, *, age: float, size: int = 100) -> Path:
    """Write ``size`` bytes to ``root/name`` with a modification time ``age`` seconds before NOW."""
    path = root / name
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age, NOW - age))
    return path


def job_files(root: Path, job_id: str, *, age: float, size: int = 100) -> list[Path]:
    return [put(root, f"{job_id}{suffix}", age=age, size=size) for suffix in (".mp4", ".fit.mp4", ".poster.jpg")]


def names(root: Path) -> set[str]:
    return set(os.listdir(root))


async def test_jobs_older_than_the_age_limit_go_with_their_sidecars(tmp_path: Path) -> None:
    old = job_files(tmp_path, "oldjob11", age=8 * DAY)
    job_files(tmp_path, "newjob22", age=1 * DAY)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=NO_SIZE_LIMIT, now=NOW)
    assert set(report.deleted_files) == set(old)
    assert report.freed_bytes == 300
    assert report.remaining_bytes == 300
    assert report.deleted_jobs == ("oldjob11",)
    assert names(tmp_path) == {"newjob22.mp4", "newjob22.fit.mp4", "newjob22.poster.jpg"}


async def test_a_job_is_as_young_as_its_newest_file(tmp_path: Path) -> None:
    put(tmp_path, "refitted.mp4", age=30 * DAY)
    put(tmp_path, "refitted.fit.mp4", age=1 * HOUR)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=NO_SIZE_LIMIT, now=NOW)
    assert report == SweepReport((), 0, 200)
    assert names(tmp_path) == {"refitted.mp4", "refitted.fit.mp4"}


async def test_over_the_size_limit_the_oldest_jobs_go_first(tmp_path: Path) -> None:
    for n, age in enumerate((4, 1, 3, 2)):  # job0 is the oldest, then job2, job3, job1
        job_files(tmp_path, f"job{n}", age=age * HOUR, size=100)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=700, now=NOW)
    assert sorted(report.deleted_jobs) == ["job0", "job2"]
    assert [p.name.split(".")[0] for p in report.deleted_files] == ["job0"] * 3 + ["job2"] * 3
    assert report.freed_bytes == 600
    assert report.remaining_bytes == 600
    assert {n.split(".")[0] for n in names(tmp_path)} == {"job1", "job3"}


async def test_exactly_at_the_size_limit_nothing_goes(tmp_path: Path) -> None:
    job_files(tmp_path, "a", age=HOUR)
    job_files(tmp_path, "b", age=2 * HOUR)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=600, now=NOW)
    assert report.deleted_files == ()
    assert report.remaining_bytes == 600


async def test_protected_jobs_are_never_deleted(tmp_path: Path) -> None:
    job_files(tmp_path, "ancient", age=30 * DAY)
    job_files(tmp_path, "oldest", age=5 * HOUR)
    job_files(tmp_path, "middle", age=4 * HOUR)
    job_files(tmp_path, "newest", age=1 * HOUR)
    put(tmp_path, "oldest.mp4.0a1b2c3d.part", age=5 * HOUR)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=500, now=NOW, protected={"ancient", "oldest"})
    # Protected jobs stay (and count); the size limit then takes the oldest unprotected jobs, however many it can.
    assert sorted(report.deleted_jobs) == ["middle", "newest"]
    assert report.remaining_bytes == 700
    assert {n.split(".")[0] for n in names(tmp_path)} == {"ancient", "oldest"}
    assert "oldest.mp4.0a1b2c3d.part" in names(tmp_path)


async def test_stale_partial_files_go_and_fresh_ones_stay(tmp_path: Path) -> None:
    stale = [
        put(tmp_path, "jobaaaa1.mp4.0a1b2c3d.part", age=2 * HOUR),
        put(tmp_path, ".jobaaaa1.poster.jpg.4242.part", age=2 * HOUR),
        put(tmp_path, "orphan99.fit.mp4.7.part", age=3 * DAY),
    ]
    fresh = put(tmp_path, "jobbbbb2.mp4.99887766.part", age=10 * 60)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=NO_SIZE_LIMIT, now=NOW)
    assert set(report.deleted_files) == set(stale)
    assert report.deleted_jobs == ()
    assert names(tmp_path) == {fresh.name}
    assert report.remaining_bytes == 100


async def test_fresh_partial_files_survive_the_size_limit_but_count(tmp_path: Path) -> None:
    put(tmp_path, "busy0001.mp4.0a1b2c3d.part", age=60, size=500)
    job_files(tmp_path, "done0001", age=HOUR)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=400, now=NOW)
    assert report.deleted_jobs == ("done0001",)
    assert report.remaining_bytes == 500
    assert names(tmp_path) == {"busy0001.mp4.0a1b2c3d.part"}


async def test_files_outside_the_naming_are_left_alone_and_not_counted(tmp_path: Path) -> None:
    put(tmp_path, ".gitkeep", age=100 * DAY)
    put(tmp_path, "notes.txt", age=100 * DAY, size=10_000)
    put(tmp_path, "weird name.mp4", age=100 * DAY)
    (tmp_path / "subdir.mp4").mkdir()
    job_files(tmp_path, "keepme12", age=HOUR)
    report = await sweep(tmp_path, max_age_seconds=7 * DAY, max_bytes=NO_SIZE_LIMIT, now=NOW)
    assert report == SweepReport((), 0, 300)
    assert {".gitkeep", "notes.txt", "weird name.mp4", "subdir.mp4"} <= names(tmp_path)


async def test_a_missing_directory_is_an_empty_sweep(tmp_path: Path) -> None:
    report = await sweep(tmp_path / "nothing", max_age_seconds=DAY, max_bytes=0, now=NOW)
    assert report == SweepReport()


async def test_files_from_the_future_are_kept(tmp_path: Path) -> None:
    job_files(tmp_path, "clockskw", age=-DAY)
    report = await sweep(tmp_path, max_age_seconds=DAY, max_bytes=NO_SIZE_LIMIT, now=NOW)
    assert report.deleted_files == ()


async def test_the_file_work_runs_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[threading.Thread] = []
    real_scan = retention._scan

    def spying_scan(root: Path) -> list[retention.Entry]:
        seen.append(threading.current_thread())
        return real_scan(root)

    monkeypatch.setattr(retention, "_scan", spying_scan)
    job_files(tmp_path, "anyjob01", age=HOUR)
    await sweep(tmp_path, max_age_seconds=DAY, max_bytes=NO_SIZE_LIMIT, now=NOW)
    assert seen
    assert seen[0] is not threading.main_thread()


async def test_a_taken_down_job_loses_every_file_at_once(tmp_path: Path) -> None:
    job_files(tmp_path, "gonejob1", age=HOUR)
    kept = job_files(tmp_path, "keptjob1", age=HOUR)
    await retention.remove_job(tmp_path, "gonejob1")
    assert names(tmp_path) == {p.name for p in kept}
    await retention.remove_job(tmp_path, "gonejob1")  # already gone: nothing to do, no error
