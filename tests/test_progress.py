"""The CLI's progress line: the bar, the elapsed time, and one written line per visible change."""

from __future__ import annotations

import io

import pytest

from bot.cli.progress import BAR_WIDTH, ProgressLine, format_elapsed
from bot.domain import Job, JobStatus
from bot.progress_bar import render_bar
from tests.jobs import fresh_job

START = 10_000.0


@pytest.mark.parametrize(("progress", "filled"), [(None, 0), (0, 0), (1, 0), (2, 1), (50, 15), (99, 30), (100, 30)])
def test_render_bar(progress: int | None, filled: int) -> None:
    bar = render_bar(progress, BAR_WIDTH)
    assert bar == "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"
    assert len(bar) == BAR_WIDTH + 2


def test_render_bar_width() -> None:
    assert render_bar(50, width=10) == "[#####.....]"
    assert render_bar(None, width=4) == "[....]"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (0.99, "0:00"),
        (59.9, "0:59"),
        (61, "1:01"),
        (600, "10:00"),
        (3_599, "59:59"),
        (3_600, "1:00:00"),
        (3_725, "1:02:05"),
        (90_000, "25:00:00"),
        (-5, "0:00"),
    ],
)
def test_format_elapsed(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


def make_job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "prompt": "waves",
        "task_id": "task-1",
        "status": JobStatus.QUEUED,
        "remote_status": "queued",
        "created_at": START - 5,
        "submitted_at": START,
        "updated_at": START,
    }
    return fresh_job(**{**fields, **changes})


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pipe_gets_one_line_per_change_and_no_duplicates() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream)
    job = make_job()
    line.show(job, START + 3)
    line.show(job, START + 3)
    running = make_job(status=JobStatus.RUNNING, progress=40)
    line.show(running, START + 3)
    line.show(running, START + 3.5)  # same whole second: nothing visible changed
    line.show(running, START + 3, note="slow")
    line.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert len(set(lines)) == 3
    assert lines[0] == f"{render_bar(None, BAR_WIDTH)}   ?% queued    0:03"
    assert lines[1] == f"{render_bar(40, BAR_WIDTH)}  40% running   0:03"
    assert lines[2].endswith("0:03  slow")
    assert "\r" not in stream.getvalue()
    assert "\x1b" not in stream.getvalue()


def test_elapsed_counts_from_creation_before_submit() -> None:
    stream = io.StringIO()
    ProgressLine(stream).show(make_job(submitted_at=None, status=JobStatus.SUBMITTING), START + 65)
    assert stream.getvalue().rstrip().endswith("submitting 1:10")


def test_terminal_redraws_in_place() -> None:
    stream = TtyStream()
    line = ProgressLine(stream)
    line.show(make_job(), START + 1)
    line.show(make_job(status=JobStatus.RUNNING, progress=70), START + 2)
    line.show(make_job(status=JobStatus.RUNNING, progress=70), START + 2)
    text = stream.getvalue()
    assert text.count("\r\x1b[2K") == 2
    assert "\n" not in text
    line.finish()
    assert stream.getvalue().endswith("\n")
    assert stream.getvalue().count("\n") == 1


def test_finish_writes_nothing_when_nothing_was_shown() -> None:
    stream = TtyStream()
    ProgressLine(stream).finish()
    assert stream.getvalue() == ""


def test_a_message_during_the_bar_clears_it_and_draws_it_again() -> None:
    stream, out = TtyStream(), io.StringIO()
    line = ProgressLine(stream)
    line.show(make_job(status=JobStatus.RUNNING, progress=40), START + 2)
    bar = stream.getvalue().removeprefix("\r\x1b[2K")
    line.interject("Job x from an earlier run finished.", out)
    assert out.getvalue() == "Job x from an earlier run finished.\n"
    assert stream.getvalue().endswith("\r\x1b[2K" + bar)  # cleared before the message, redrawn after it
    line.finish()
    line.finish()  # a second finish (a signal after the end) adds no empty line
    assert stream.getvalue().count("\n") == 1
