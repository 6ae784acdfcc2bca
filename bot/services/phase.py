"""When to poll a task next: learn when the gateway refreshes it, and poll just after that.

The gateway does not ask its upstream on every read: a background loop refreshes each task every
``period`` seconds (15 on new-api), at an offset within the loop that stays put for the task's life.
A poll between two refreshes sees nothing new; a poll long after one delivers late. Each time a poll
sees the task change, the refresh happened between that poll and the one before it. Intersecting those
windows (shifted by whole periods) narrows the refresh phase, and each poll is placed either just after
the end of the window (to see the next refresh as soon as it lands) or, while the window is still wide,
in its middle (to halve it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# After the window's end, poll this much later so the refresh has surely been written.
MARGIN_SECONDS = 0.4
# A window no wider than this is good enough: probing further would cost more polls than the lag it saves.
NARROW_ENOUGH_SECONDS = 2.0
# The gateway reports change times to the second: the refresh may have started this much earlier.
REPORTED_SLACK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RefreshWindow:
    """A span of absolute time (``start``, ``end``] known to contain one of the task's refreshes."""

    start: float
    end: float

    @property
    def width(self) -> float:
        """How uncertain the refresh phase still is, in seconds."""
        return self.end - self.start

    def shifted_after(self, moment: float, period: float) -> RefreshWindow:
        """The same phase window moved by whole periods so that it ends after ``moment``."""
        if self.end > moment:
            return self
        k = math.floor((moment - self.end) / period) + 1
        return RefreshWindow(self.start + k * period, self.end + k * period)


def first_window(submitted_at: float, period: float) -> RefreshWindow:
    """Before anything is seen: the task's first refresh falls within one period of its creation."""
    return RefreshWindow(submitted_at, submitted_at + period)


def learn(
    known: RefreshWindow,
    last_poll: float,
    now: float,
    *,
    changed: bool,
    period: float,
    reported_at: float | None = None,
) -> RefreshWindow:
    """Narrow the refresh window with a poll at ``now`` that did or did not see a change since ``last_poll``.

    A change means a refresh fell in (last_poll, now]. No change means none did, as far as anything visible
    goes: a refresh that changed nothing shown (a flat progress figure) looks the same, so a contradiction
    later resets the window to the fresh observation instead of trusting the old one. ``reported_at`` is the
    gateway's own time of the change, when it says it; it is used only when it falls inside the observed span,
    so a gateway whose clock is off cannot mislead the schedule.
    """
    if period <= 0:
        return known
    observed = RefreshWindow(last_poll, now)
    if changed and reported_at is not None and last_poll < reported_at <= now:
        observed = RefreshWindow(max(last_poll, reported_at - REPORTED_SLACK_SECONDS), reported_at)
    if observed.width >= period:
        return known  # a span of a whole period holds a refresh whatever the phase: it tells nothing
    k = round((observed.end - known.end) / period)
    moved = RefreshWindow(known.start + k * period, known.end + k * period)
    if changed:
        # The span may overlap two copies of the window; either may hold the refresh, so keep both (their hull).
        pieces = [
            (max(moved.start + j * period, observed.start), min(moved.end + j * period, observed.end))
            for j in (-1, 0, 1)
        ]
        agreeing = [(start, end) for start, end in pieces if end > start]
        if not agreeing:
            # The gateway's loop drifted (a restart, more tasks): trust the fresh observation.
            return observed
        return RefreshWindow(min(s for s, _ in agreeing), max(e for _, e in agreeing))
    # Cut the quiet span off whichever end of the window it covers; a span inside the window tells too little.
    for k_offset in (0, -1, 1):
        shift = RefreshWindow(moved.start + k_offset * period, moved.end + k_offset * period)
        if observed.start <= shift.start < observed.end < shift.end:
            return RefreshWindow(observed.end, shift.end)
        if shift.start < observed.start < shift.end <= observed.end:
            return RefreshWindow(shift.start, observed.start)
    return known


@dataclass(frozen=True, slots=True)
class PollTiming:
    """The bounds the schedule keeps to."""

    period: float  # the gateway's refresh period; 0 when every read is fresh
    min_interval: float
    max_interval: float


def next_poll(now: float, known: RefreshWindow, timing: PollTiming, *, slow: bool = False) -> float:
    """The time of the next poll, between ``now + min_interval`` and ``now + max_interval``."""
    earliest = now + timing.min_interval
    latest = now + timing.max_interval
    if slow:
        return latest
    if timing.period <= 0:
        return earliest
    window = known.shifted_after(now, timing.period)
    if window.width > NARROW_ENOUGH_SECONDS:
        probe = (window.start + window.end) / 2
        if probe >= earliest:
            return min(probe, latest)
    return min(max(window.end + MARGIN_SECONDS, earliest), latest)
