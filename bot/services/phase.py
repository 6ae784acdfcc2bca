"""When to poll a task next: learn when the gateway refreshes it, and poll just after that.

The gateway does not ask its upstream on every read: a background loop refreshes each task every
``period`` seconds (15 on new-api), at an offset within the loop that stays put for the task's life.
A poll between two refreshes sees nothing new; a poll long after one delivers late. Each time a poll
sees the task change, the refresh happened between that poll and the one before it. Intersecting those
windows (shifted by whole periods) narrows the refresh phase, and each poll is placed either just after
the end of the window (to see the next refresh as soon as it lands) or, while the window is still wide,
in its middle (to halve it).

The refresh loop is the gateway's, not the task's: where it refreshes every task at the same instant, what one
task's polls reveal holds for all of them. A ``GatewayClock`` intersects the windows of every task; once windows
seen over a whole period agree on one narrow phase, each task plans within that phase (where its own window
allows it), and a new task starts there instead of probing a blank period. Where tasks refresh one after another,
their windows disagree, the clock never settles and each task keeps to its own window.

The period itself is learnt too: ``GATEWAY_REFRESH_SECONDS`` is only the starting guess. new-api sleeps 15 s after a
pass *ends*, so the real gap between a task's refreshes is 15 s plus the pass (up to 30 s, more or less with the
load). Each task's two consecutive changes bound that gap; once enough recent gaps agree that the guess is wrong,
their median is the period every task plans with, and when later gaps disagree with it (a gateway restart, a
longer pass) it is learnt again from them.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# After the window's end, poll this much later so the refresh has surely been written.
MARGIN_SECONDS = 0.4
# A window no wider than this is good enough: probing further would cost more polls than the lag it saves.
NARROW_ENOUGH_SECONDS = 2.0
# A change time reported in whole seconds is the write's time truncated (new-api's ``time.Now().Unix()``): the
# change was written up to this much later. One with a fraction (milliseconds) is taken as exact to this.
REPORTED_SLACK_SECONDS = 1.0
REPORTED_FINE_SECONDS = 0.001
# The shared phase is trusted only once windows agreeing on it span this share of a period: windows seen within
# one pass cannot tell tasks refreshed all at once from tasks refreshed one after another.
TRUST_AFTER_PERIODS = 0.9
# ... and only when at least this many windows agree on it.
MIN_AGREEING = 3
# A shared phase no window confirmed for this many periods is stale (the gateway may have restarted while idle).
STALE_AFTER_PERIODS = 20.0
# Tasks spread their probes over the shared window only when no window contradicted it for this many periods.
CALM_PERIODS = 2.0
# The period is learnt from the gaps between a task's consecutive changes seen this recently (the last ones only:
# the gap of an end-to-start loop follows the load) ...
RECENT_GAPS = 16
# ... once at least this many are known.
MIN_GAPS = 3
# A period that at least this share of the recent gaps allows is kept: a gap seen through polls seconds apart
# cannot tell 15 s from 14.6 s, and moving the period for nothing would shift every window off its phase.
KEEP_PERIOD_SHARE = 0.5
# Changes of at most this many tasks are remembered, to bound each task's next gap.
REMEMBERED_TASKS = 4096


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


@dataclass(frozen=True, slots=True)
class RefreshGap:
    """The bounds (``low``, ``high``) on the time between two consecutive refreshes of one task.

    ``seen_at`` is when the later refresh was seen (the end of its window): what orders the gaps of several
    processes by how recent they are.
    """

    low: float
    high: float
    seen_at: float = 0.0

    @classmethod
    def between(cls, earlier: RefreshWindow, later: RefreshWindow) -> RefreshGap:
        """The gap between a refresh in ``earlier`` and the next one, in ``later``."""
        return cls(max(0.0, later.start - earlier.end), later.end - earlier.start, later.end)

    @property
    def middle(self) -> float:
        """The gap's best guess: the middle of its bounds."""
        return (self.low + self.high) / 2

    def allows(self, period: float) -> bool:
        """Whether a refresh every ``period`` seconds fits these bounds."""
        return self.low <= period <= self.high


def learnt_period(current: float, gaps: Iterable[RefreshGap]) -> float:
    """The period to plan with, given the one planned with until now and the recent gaps between changes.

    Gaps no wider than a period count (a wider one allows nearly anything). The current period is kept while at
    least ``KEEP_PERIOD_SHARE`` of them allow it, or too few are known; otherwise the middle of the span most of
    them allow takes over (each gap is wide, but the gaps of many tasks overlap where the period is). Being the
    recent gaps only, a gateway that restarts or lengthens its pass is followed once they disagree.
    """
    if current <= 0:
        return current
    known = [gap for gap in gaps if gap.high - gap.low <= current]
    if len(known) < MIN_GAPS or _support(current, known) >= KEEP_PERIOD_SHARE * len(known):
        return current
    return _deepest(known)


def _deepest(gaps: list[RefreshGap]) -> float:
    """The middle of the first span that the most gaps allow."""
    edges = sorted([(gap.low, -1) for gap in gaps] + [(gap.high, 1) for gap in gaps])
    depth = best = 0
    best_span = (edges[0][0], edges[0][0])
    for index, (at, kind) in enumerate(edges):
        depth -= kind
        if depth > best:
            best = depth
            best_span = (at, edges[index + 1][0])
    return (best_span[0] + best_span[1]) / 2


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
    gateway's own time of the change, when it says it (in whole seconds: truncated, so the change came up to a
    second later); it is used only where it overlaps the observed span, so a gateway whose clock is off cannot
    mislead the schedule.
    """
    if period <= 0:
        return known
    observed = RefreshWindow(last_poll, now)
    if changed and reported_at is not None:
        observed = _reported(observed, reported_at)
    if observed.width >= period:
        return known  # a span of a whole period holds a refresh whatever the phase: it tells nothing
    if changed:
        # The gateway's loop drifted (a restart, more tasks) when the two disagree: trust the fresh observation.
        return overlap(known, observed, period) or observed
    k = round((observed.end - known.end) / period)
    moved = RefreshWindow(known.start + k * period, known.end + k * period)
    # Cut the quiet span off whichever end of the window it covers; a span inside the window tells too little.
    for k_offset in (0, -1, 1):
        shift = RefreshWindow(moved.start + k_offset * period, moved.end + k_offset * period)
        if observed.start <= shift.start < observed.end < shift.end:
            return RefreshWindow(observed.end, shift.end)
        if shift.start < observed.start < shift.end <= observed.end:
            return RefreshWindow(shift.start, observed.start)
    return known


def _reported(span: RefreshWindow, reported_at: float) -> RefreshWindow:
    """The part of the observed span the gateway's reported change time allows (the span when it allows none)."""
    slack = REPORTED_SLACK_SECONDS if reported_at == math.floor(reported_at) else REPORTED_FINE_SECONDS
    start, end = max(span.start, reported_at - REPORTED_FINE_SECONDS), min(span.end, reported_at + slack)
    return RefreshWindow(start, end) if end > start else span


def overlap(phase: RefreshWindow, span: RefreshWindow, period: float) -> RefreshWindow | None:
    """The part of ``span`` where ``phase``, shifted by whole periods, falls; None when none of it does.

    The span may overlap two copies of the phase window; either may hold the refresh, so both are kept (their hull).
    """
    k = round((span.end - phase.end) / period)
    pieces = [
        (max(phase.start + (k + j) * period, span.start), min(phase.end + (k + j) * period, span.end))
        for j in (-1, 0, 1)
    ]
    agreeing = [(start, end) for start, end in pieces if end > start]
    if not agreeing:
        return None
    return RefreshWindow(min(s for s, _ in agreeing), max(e for _, e in agreeing))


@dataclass(frozen=True, slots=True)
class GatewayClock:
    """The gateway's refresh loop as the windows of all its tasks describe it: one phase shared by every task.

    ``window`` is the intersection of the agreeing windows, placed at the latest one; ``since`` is the end of the
    first of them and ``agreeing`` their number. A window that contradicts the phase (a gateway restart, a longer
    pass, or tasks refreshed one after another) starts the learning over from that window and counts a drift.
    """

    period: float  # the refresh period windows are shifted by: GATEWAY_REFRESH_SECONDS
    window: RefreshWindow | None = None
    since: float = 0.0
    agreeing: int = 0
    drifts: int = 0
    drifted_at: float = -math.inf  # the end of the last contradicting window

    def observed(self, seen: RefreshWindow) -> GatewayClock:
        """Fold in one task's refresh window (one of that task's refreshes falls in it)."""
        if self.period <= 0 or seen.width >= self.period:
            return self
        common = overlap(self.window, seen, self.period) if self.window is not None else None
        if common is None:
            if self.window is None:
                return dataclasses.replace(self, window=seen, since=seen.end, agreeing=1)
            return dataclasses.replace(
                self, window=seen, since=seen.end, agreeing=1, drifts=self.drifts + 1, drifted_at=seen.end
            )
        return dataclasses.replace(self, window=common, agreeing=self.agreeing + 1)

    def merged(self, other: GatewayClock) -> GatewayClock:
        """This clock together with one another process learnt; when they disagree, the more recent one wins."""
        if other.period != self.period or other.window is None:
            return self
        if self.window is None:
            return other
        common = overlap(other.window, self.window, self.period)
        if common is None:
            return self if self.window.end >= other.window.end else other
        return dataclasses.replace(
            self,
            window=common,
            since=min(self.since, other.since),
            agreeing=max(self.agreeing, other.agreeing),
            drifts=max(self.drifts, other.drifts),
            drifted_at=max(self.drifted_at, other.drifted_at),
        )

    def as_record(self) -> dict[str, object]:
        """The clock as plain numbers, for the store."""
        record: dict[str, object] = {
            "period": self.period,
            "since": self.since,
            "agreeing": self.agreeing,
            "drifts": self.drifts,
        }
        if self.drifted_at > -math.inf:
            record["drifted_at"] = self.drifted_at
        if self.window is not None:
            record |= {"start": self.window.start, "end": self.window.end}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> GatewayClock | None:
        """A clock kept by ``as_record``; None when the record is not one."""
        try:
            window = RefreshWindow(_number(record, "start"), _number(record, "end")) if "start" in record else None
            return cls(
                period=_number(record, "period"),
                window=window,
                since=_number(record, "since"),
                agreeing=int(_number(record, "agreeing")),
                drifts=int(_number(record, "drifts")),
                drifted_at=_number(record, "drifted_at") if "drifted_at" in record else -math.inf,
            )
        except (KeyError, ValueError):
            return None

    def agrees(self, now: float) -> bool:
        """Whether enough recent windows agree that the tasks may share one phase (perhaps still to be narrowed),
        with no contradiction for a while: where tasks refresh one after another, contradictions keep coming."""
        return (
            self.window is not None
            and self.agreeing >= MIN_AGREEING
            and now - self.window.end <= STALE_AFTER_PERIODS * self.period
            and now - self.drifted_at > CALM_PERIODS * self.period
        )

    def shared_phase(self, now: float) -> RefreshWindow | None:
        """The phase every task refreshes at, once enough agreeing windows over a whole period have settled it."""
        window = self.window
        if window is None or self.agreeing < MIN_AGREEING or window.width > NARROW_ENOUGH_SECONDS:
            return None
        if window.end - self.since < TRUST_AFTER_PERIODS * self.period:
            return None
        if now - window.end > STALE_AFTER_PERIODS * self.period:
            return None
        return window


class SharedClock:
    """The gateway clock one process's tasks learn from and plan with; the poller keeps it in step with the store.

    ``period`` is the refresh period every task plans with: the starting guess until tasks' consecutive changes
    show another one (``learnt_period``); ``period_drifts`` counts how often it moved.
    """

    def __init__(self, period: float) -> None:
        self.estimate = GatewayClock(period)
        self.period = period
        self.period_drifts = 0
        self._probes = 0
        self._changes: dict[str, tuple[RefreshWindow, float]] = {}  # each task's last change, and the period then
        self._gaps: deque[RefreshGap] = deque(maxlen=RECENT_GAPS)

    def note(self, seen: RefreshWindow) -> bool:
        """Fold in a task's window; tells whether this contradicted a phase that was trusted until now."""
        trusted = self.estimate.window is not None and self.estimate.shared_phase(seen.end) is not None
        self.estimate = self.estimate.observed(seen)
        return trusted and self.estimate.agreeing == 1

    def learn_from(
        self,
        before: RefreshWindow | None,
        after: RefreshWindow | None,
        *,
        task: str | None = None,
        changed_in: RefreshWindow | None = None,
    ) -> bool:
        """Fold in a task's window when a poll moved it; tells whether this contradicted a trusted phase.

        ``changed_in`` is the span the poll saw the task change in (from the previous poll's send to this one's
        answer), when it did: the gap since the task's previous change bounds the gateway's period, which may move
        the period the tasks plan with. The span, not the task's window, is what is known for sure: the window
        also relies on the period, which is what is being learnt.
        """
        if task is not None and changed_in is not None:
            self.note_change(task, changed_in)
        if after is None or after == before:
            return False
        return self.note(after)

    def note_change(self, task: str, refreshed: RefreshWindow) -> None:
        """Remember that ``task`` was refreshed within ``refreshed``; its previous change bounds one gap."""
        previous = self._changes.pop(task, None)
        if previous is not None and refreshed.start >= previous[0].end:
            self._gaps.append(RefreshGap.between(previous[0], refreshed))
            self._relearn_period()
        self._changes[task] = (refreshed, self.period)
        if len(self._changes) > REMEMBERED_TASKS:
            del self._changes[next(iter(self._changes))]

    def own_window(self, task: str, window: RefreshWindow) -> RefreshWindow:
        """A task's window; or, when the period moved since the task's last change, the span of that change:
        the window was narrowed with the old period, the span holds the refresh whatever the period."""
        noted = self._changes.get(task)
        if noted is None or noted[1] == self.period:
            return window
        return noted[0]

    def as_record(self) -> dict[str, object]:
        """The clock as the store keeps it: the shared phase, and the period planned with together with the recent
        gaps it was learnt from, so that other processes (and this one after a restart) plan with it and go on
        learning it from where this one is."""
        gaps = [[gap.seen_at, gap.low, gap.high] for gap in self._gaps]
        return self.estimate.as_record() | {
            "learnt_period": self.period,
            "period_drifts": self.period_drifts,
            "gaps": gaps,
        }

    def merge_record(self, record: Mapping[str, object]) -> None:
        """Take in a clock kept with ``as_record`` by another process (or by this one before a restart).

        The phase merges as ``GatewayClock.merged`` does. The gaps join this clock's own, keeping the most recent
        ``RECENT_GAPS`` of both; of the two periods, the one more of those gaps allow is planned with (this one's
        on a tie), and then learnt further from them as a new gap would. A record from before the period was kept
        has no gaps: only its phase is taken.
        """
        kept = GatewayClock.from_record(record)
        if kept is not None:
            self.estimate = self.estimate.merged(kept)
        learnt = _kept_period(record)
        if learnt is None or self.period <= 0:
            return
        period, drifts, gaps = learnt
        recent = sorted(set(self._gaps) | set(gaps), key=lambda gap: (gap.seen_at, gap.low, gap.high))
        self._gaps = deque(recent[-RECENT_GAPS:], maxlen=RECENT_GAPS)
        if period > 0 and _support(period, self._gaps) > _support(self.period, self._gaps):
            self.period = period
        self.period_drifts = max(self.period_drifts, drifts)
        self._relearn_period()

    def _relearn_period(self) -> None:
        """Move the period to where the recent gaps put it, counting a move as a drift."""
        period = learnt_period(self.period, self._gaps)
        if period != self.period:
            self.period = period
            self.period_drifts += 1

    def forget(self, task: str) -> None:
        """Drop what was remembered of a task that will not be polled again."""
        self._changes.pop(task, None)

    def _phase_usable(self) -> bool:
        # The shared phase is kept in the starting period; once another one is learnt, it no longer lines up.
        return self.period == self.estimate.period

    def focus(self, window: RefreshWindow, now: float) -> RefreshWindow:
        """The part of a task's own window where the shared phase falls; the own window when they disagree."""
        phase = self.estimate.shared_phase(now) if self._phase_usable() else None
        if phase is None:
            return window
        return overlap(phase, window, self.estimate.period) or window

    def probe_at(self, window: RefreshWindow, now: float) -> float:
        """Where to probe a wide window: its middle, or, while the tasks' windows agree on one phase still to be
        narrowed, a different point for each probe (1/2, 1/4, 3/4, 1/8, ...): tasks that share a phase narrow it
        far faster together than by each halving the same window."""
        if not self._phase_usable() or not self.estimate.agrees(now):
            return (window.start + window.end) / 2
        self._probes += 1
        return window.start + (0.25 + 0.5 * _spread(self._probes)) * window.width


def _number(record: Mapping[str, object], key: str) -> float:
    """A number kept in a record; KeyError when it is missing, ValueError when it is not a number."""
    return _as_number(record[key])


def _as_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _kept_gap(entry: object) -> RefreshGap:
    """A gap kept as ``[seen_at, low, high]``; ValueError when the entry is not one."""
    if not isinstance(entry, list) or len(entry) != 3:
        raise ValueError(f"not a gap: {entry!r}")
    seen_at, low, high = (_as_number(value) for value in entry)
    return RefreshGap(low, high, seen_at)


def _kept_period(record: Mapping[str, object]) -> tuple[float, int, list[RefreshGap]] | None:
    """The learnt period, its drift count and the recent gaps a record keeps; None when it keeps none (a record
    from before the period was kept) or they cannot be read."""
    try:
        gaps = record["gaps"]
        if not isinstance(gaps, list):
            raise ValueError(f"not a list of gaps: {gaps!r}")
        return _number(record, "learnt_period"), int(_number(record, "period_drifts")), [_kept_gap(g) for g in gaps]
    except (KeyError, ValueError):
        return None


def _support(period: float, gaps: Iterable[RefreshGap]) -> int:
    """How many of the gaps allow a refresh every ``period`` seconds."""
    return sum(gap.allows(period) for gap in gaps)


def _spread(n: int) -> float:
    """The n-th point (from 1) of the base-2 van der Corput sequence: 1/2, 1/4, 3/4, 1/8, 5/8, ..."""
    point, scale = 0.0, 0.5
    while n:
        if n & 1:
            point += scale
        n >>= 1
        scale /= 2
    return point


@dataclass(frozen=True, slots=True)
class PollTiming:
    """The bounds the schedule keeps to, and the gateway clock shared by all tasks (None: each task on its own)."""

    period: float  # the gateway's refresh period; 0 when every read is fresh
    min_interval: float
    max_interval: float
    shared: SharedClock | None = None

    @property
    def refresh_period(self) -> float:
        """The period to plan with: the one the shared clock learnt, else ``period`` (the starting guess)."""
        if self.period <= 0 or self.shared is None:
            return self.period
        return self.shared.period


def next_poll(now: float, known: RefreshWindow, timing: PollTiming, *, slow: bool = False) -> float:
    """The time of the next poll, between ``now + min_interval`` and ``now + max_interval``."""
    earliest = now + timing.min_interval
    latest = now + timing.max_interval
    if slow:
        return latest
    period = timing.refresh_period
    if period <= 0:
        return earliest
    window = known.shifted_after(now, period)
    if timing.shared is not None:
        window = timing.shared.focus(window, now)
    if window.width > NARROW_ENOUGH_SECONDS and (window.start + window.end) / 2 >= earliest:
        # Probe the part of the window after the earliest allowed poll (where a single task probes its middle).
        probe = (window.start + window.end) / 2
        if timing.shared is not None:
            probe = timing.shared.probe_at(RefreshWindow(max(window.start, earliest), window.end), now)
        return min(probe, latest)
    return min(max(window.end + MARGIN_SECONDS, earliest), latest)
