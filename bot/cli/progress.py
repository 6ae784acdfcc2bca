"""A one-line progress display for the terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.domain import Job
from bot.progress_bar import render_bar

BAR_WIDTH = 30


def format_elapsed(seconds: float) -> str:
    """Elapsed time as M:SS, or H:MM:SS past an hour."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """Redraws one line in place on a terminal; writes a line per change when the output is a file or pipe."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._last = ""

    def show(self, job: Job, now: float, note: str = "") -> None:
        """Show the job's state, progress and elapsed time."""
        started = job.started_at
        percent = f"{job.progress:3d}%" if job.progress is not None else "  ?%"
        text = f"{render_bar(job.progress, BAR_WIDTH)} {percent} {job.status.value:<9} {format_elapsed(now - started)}"
        if note:
            text += f"  {note}"
        if text == self._last:
            return
        self._last = text
        if self._live:
            self._stream.write("\r\x1b[2K" + text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def interject(self, text: str, out: TextIO) -> None:
        """Write a line of ``text`` to ``out`` without breaking into the bar: clear it, write, draw it again."""
        if self._live and self._last:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
        out.write(text + "\n")
        out.flush()
        if self._live and self._last:
            self._stream.write(self._last)
            self._stream.flush()

    def finish(self) -> None:
        """End the live line so later output starts on a fresh one."""
        if self._live and self._last:
            self._stream.write("\n")
            self._stream.flush()
        self._last = ""
