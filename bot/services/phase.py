"""When to poll a task next: learn when the gateway refreshes it, and poll just after that.

The gateway does not ask its upstream on every read: a background loop refreshes each task every
``period`` seconds (15 on new-api), at an offset within the loop that stays put for the task's life.
A poll between two refreshes sees nothing new; a poll long after one delivers late. Each time a poll
sees the task change, the refresh happened between that poll and the one before it. Intersecting those
windows (shifted by whole periods) narrows the refresh phase, and each poll is placed either just after
the end of the window (to see the next refresh as soon as it lands) or, while the window is still wide,
inside it (to narrow it).

The refresh loop is the gateway's, not the task's: where it refreshes every task at the same instant, what one
task's polls reveal holds for all of them. A ``GatewayClock`` intersects the windows of every task; once windows
seen over a whole period agree on one narrow phase, each task plans within that phase (where its own window
allows it), and a new task starts there instead of probing a blank period. Where tasks refresh one after another,
their windows disagree and that clock never settles; the ``Sweep`` covers both: new-api takes the unfinished tasks
in creation order within a pass, so a task is refreshed no sooner than the task created just before it and no
later than the one created just after it, and its neighbours' windows bracket its own (the same phase when the
pass refreshes all at once, enclosing it when one after another). A task whose own window disagrees with the
bracket keeps its own. Wide windows are probed at a different point by each task rather than all in the middle,
so that neighbours that share (or nearly share) a phase rule out different parts of it.

The period itself is learnt too: ``GATEWAY_REFRESH_SECONDS`` is only the starting guess. new-api sleeps 15 s after a
pass *ends*, so the real gap between a task's refreshes is 15 s plus the pass (up to 30 s, more or less with the
load). Each task's two consecutive changes bound that gap; once enough recent gaps agree that the guess is wrong,
their median is the period every task plans with, and when later gaps disagree with it (a gateway restart, a
longer pass) it is learnt again from them.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
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
# A task's refresh is bracketed by the windows of this many tasks created just before it and just after it ...
SWEEP_NEIGHBOURS = 4
# ... each narrower than this share of a period (a wider one wraps round too far to place the pass).
SWEEP_WIDEST = 1.0
# What the tasks' neighbours learnt reaches the polls already planned this often (they are planned again).
SWEEP_REPLAN_SECONDS = 2.0
# The store keeps the windows of this many tasks, the most recently narrowed, for the other processes.
KEPT_SWEEP = 64
# A task is placed on the pass's line (``pass_line``) through the windows of tasks up to this many narrow ones away
# from it in creation order ...
LINE_REACH = 512
# ... each no wider than this: narrow windows pin the line, wide ones would only loosen it.
LINE_WIDEST_SECONDS = 5.0
# The line's place is widened by this much each side: the tasks' windows are rounded to the reports and answers.
LINE_SLACK_SECONDS = 0.05
# The earliest and latest lines through the windows are found by this many evaluations (golden section: each
# narrows the slopes left to 0.618 of them, so 20 leave 1/15,000 of their spread).
LINE_SEARCH_STEPS = 20
_GOLDEN = (math.sqrt(5) - 1) / 2
# The line is planned with until, of the recent polls it placed (at least ``LINE_TRIAL`` of the last
# ``LINE_OUTCOMES``), this share saw no change: then the pass is not what the windows say (the period is not the one
# planned with, as when a pass starts 15 s after the previous one ended), until the period is learnt again.
LINE_TRIAL = 16
LINE_OUTCOMES = 32
LINE_MISSES_SHARE = 0.5


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
class TaskPlace:
    """Which task is being planned, and when it was created: its place in the gateway's pass."""

    task: str
    created_at: float


def sweep_arc(earlier: RefreshWindow, later: RefreshWindow, period: float) -> RefreshWindow:
    """Where a task created between two others is refreshed, given their windows.

    new-api refreshes the unfinished tasks in creation order, one after another within a pass: a task is refreshed
    no sooner than a task created before it and no later than one created after it, in the same pass. The arc runs
    from the start of the earlier task's window to the first end of the later one's after that (so it is never
    wider than a period). It assumes the two are close in the pass (the nearest tasks in creation order are): a
    heuristic for planning, which the task's own observations overrule.
    """
    k = math.floor((earlier.start - later.end) / period) + 1
    return RefreshWindow(earlier.start, later.end + k * period)


def pass_line(points: Sequence[tuple[int, RefreshWindow]], rank: int, period: float) -> RefreshWindow | None:
    """Where the task at ``rank`` (its place among the running tasks, in creation order) is refreshed, if the pass
    refreshes the tasks at a steady rate: at ``start + rank * seconds_per_task``.

    ``points`` are other tasks' ranks and windows. Their windows are first placed in one pass (``_in_one_pass``),
    then every line through all of them (slope from 0 up to a pass of a whole period) is considered: the task is
    refreshed where any of them crosses its rank. So neighbours on one side place it too (the newest task), and many
    tasks' coarse windows (whole-second change times) pin the line far finer than each of them. None when no line
    goes through all the windows (the pass is not steady there: another channel, tasks of other users, a restart) or
    the place is a period wide.
    """
    if period <= 0 or not points:
        return None
    ranks = [r for r, _ in points] + [rank]
    found = _in_one_pass(
        sorted(points, key=lambda point: abs(point[0] - rank)), period / max(1, max(ranks) - min(ranks)), period
    )
    if found is None or len(found[0]) < 2:
        return None  # one window does not make a line
    placed, low, high = found
    earliest = _line_extreme(placed, rank, low, high, lowest=True)
    latest = _line_extreme(placed, rank, low, high, lowest=False)
    if latest - earliest >= period:
        return None
    return RefreshWindow(earliest - LINE_SLACK_SECONDS, latest + LINE_SLACK_SECONDS)


def _in_one_pass(
    points: list[tuple[int, RefreshWindow]], steepest: float, period: float
) -> tuple[list[tuple[int, RefreshWindow]], float, float] | None:
    """The windows shifted by whole periods into one pass, and the bounds on the slope of the lines through them.

    From the first window (the nearest to the rank planned for) on, each is shifted to the copy that a line through
    those placed so far (slope 0 to ``steepest``) goes through; a window two copies of which such lines go through
    is left out (near the end of a pass a wide window cannot tell this pass from the next). None when no copy of a
    window fits: the windows are not on one line.
    """
    reference = (points[0][1].start + points[0][1].end) / 2
    placed: list[tuple[int, RefreshWindow]] = []
    low, high = 0.0, steepest
    for rank, window in points:
        if not placed:
            placed.append((rank, window))
            continue
        k = round((reference - (window.start + window.end) / 2) / period)
        fits = []
        for shift in (k - 1, k, k + 1):
            copy = RefreshWindow(window.start + shift * period, window.end + shift * period)
            bounds = _slopes_with(placed, rank, copy, low, high)
            if bounds is not None:
                fits.append((copy, bounds))
        if not fits:
            return None
        if len(fits) == 1:
            placed.append((rank, fits[0][0]))
            low, high = fits[0][1]
    return placed, low, high


def _slopes_with(
    placed: list[tuple[int, RefreshWindow]], rank: int, window: RefreshWindow, low: float, high: float
) -> tuple[float, float] | None:
    """The slopes, within [low, high], of the lines through every placed window and ``window`` at ``rank``."""
    for other_rank, other in placed:
        if other_rank == rank:
            return None
        (r_a, w_a), (r_b, w_b) = (
            ((other_rank, other), (rank, window)) if other_rank < rank else ((rank, window), (other_rank, other))
        )
        high = min(high, (w_b.end - w_a.start) / (r_b - r_a))
        low = max(low, (w_b.start - w_a.end) / (r_b - r_a))
        if low > high:
            return None
    return low, high


def _line_extreme(
    placed: list[tuple[int, RefreshWindow]], rank: int, low: float, high: float, *, lowest: bool
) -> float:
    """The earliest (``lowest``) or latest time a line through every window, of a slope in [low, high], crosses
    ``rank``. For one slope the lines cross it between the latest of the windows' starts and the earliest of their
    ends carried along the slope; that bound is convex (concave) in the slope, so it is searched by golden section,
    which reuses one of its two inner points at each step (this runs for every plan of every task)."""
    sign = 1.0 if lowest else -1.0  # search for the least of ``sign * bound``
    edges = [(sign * (window.start if lowest else window.end), sign * (rank - r)) for r, window in placed]

    def least(slope: float) -> float:  # ``sign * bound(slope)``
        return max(edge + slope * step for edge, step in edges)

    left, right = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    at_left, at_right = least(left), least(right)
    for _ in range(LINE_SEARCH_STEPS - 2):
        if at_left <= at_right:
            high, right, at_right = right, left, at_left
            left = high - _GOLDEN * (high - low)
            at_left = least(left)
        else:
            low, left, at_left = left, right, at_right
            right = low + _GOLDEN * (high - low)
            at_right = least(right)
    return sign * least((low + high) / 2)


class Sweep:
    """The gateway's pass as the tasks' own windows describe it, in the order the tasks were created.

    Each task's latest window is kept with its creation time; a task's refresh is bracketed by the windows of the
    tasks created just before and just after it (``sweep_arc``), so what its neighbours learnt narrows its own
    window: where the gateway refreshes every task at once the neighbours' phase is its own, and where it refreshes
    them one after another the neighbours' phases enclose it.
    """

    def __init__(self) -> None:
        self._order: list[tuple[float, str]] = []  # (created_at, task) of every running task planned, sorted
        self._created: dict[str, float] = {}  # the same, by task
        self._windows: dict[str, tuple[float, RefreshWindow]] = {}
        self._narrow: list[tuple[float, str]] = []  # the tasks whose window can pin the pass's line, sorted
        self._finished: deque[tuple[float, str]] = deque()  # (finished at, task) of tasks still counted
        self.moves = 0  # how many windows were noted: the polls planned before may be planned better now

    def __len__(self) -> int:
        return len(self._windows)

    def enrol(self, place: TaskPlace) -> None:
        """Count a running task in the pass, window or not: the rank of each task is its place among them."""
        known = self._created.get(place.task)
        if known == place.created_at:
            return
        if known is not None:
            self._order.remove((known, place.task))
            self._drop_narrow(place.task, known)
        bisect.insort(self._order, (place.created_at, place.task))
        self._created[place.task] = place.created_at
        if len(self._order) > REMEMBERED_TASKS:
            self.forget(self._order[0][1])

    def note(self, place: TaskPlace, window: RefreshWindow) -> None:
        """Remember a task's latest window."""
        self.enrol(place)
        known = self._windows.pop(place.task, None)  # noted again: the most recent one
        self._windows[place.task] = (place.created_at, window)
        if known is not None:
            self._drop_narrow(place.task, known[0])
        if window.width <= LINE_WIDEST_SECONDS:
            bisect.insort(self._narrow, (place.created_at, place.task))
        self.moves += 1

    def _drop_narrow(self, task: str, created_at: float) -> None:
        at = bisect.bisect_left(self._narrow, (created_at, task))
        if at < len(self._narrow) and self._narrow[at] == (created_at, task):
            del self._narrow[at]

    def forget(self, task: str) -> None:
        """Drop a task (finished, or its window no longer holds with the period planned with)."""
        created_at = self._created.pop(task, None)
        if created_at is not None:
            self._order.remove((created_at, task))
            self._drop_narrow(task, created_at)
        self._windows.pop(task, None)

    def finish(self, task: str, now: float) -> None:
        """A task finished at ``now``: its window goes, but it still counts in the pass until ``retire``s it (the
        gateway took it in the pass under way, and counts it in the rank of the tasks after it until that ends)."""
        created_at = self._windows.pop(task, (self._created.get(task), None))[0]
        if created_at is not None:
            self._drop_narrow(task, created_at)
            self._finished.append((now, task))

    def retire(self, before: float) -> None:
        """Stop counting the tasks that finished before ``before``."""
        while self._finished and self._finished[0][0] < before:
            _, task = self._finished.popleft()
            if task not in self._windows:
                self.forget(task)

    def clear(self) -> None:
        """Forget every task's window: they were narrowed with a period that no longer holds (the tasks still count
        in the pass)."""
        self._windows.clear()
        self._narrow.clear()

    def rank(self, place: TaskPlace) -> int:
        """How many of the running tasks were created before this one."""
        return bisect.bisect_left(self._order, (place.created_at, place.task))

    def line(self, place: TaskPlace, period: float) -> RefreshWindow | None:
        """Where the pass's line through other tasks' narrow windows puts the task's refresh (``pass_line``); None
        when it puts it nowhere.

        The windows are those of the 1st, 2nd, 4th, 8th, ... (up to ``LINE_REACH``) narrow task on each side of it
        in creation order: the near ones place it, the far ones pin the slope. Where no line goes through them all,
        the farthest are left out until one does (the pass is steady over the tasks nearest it, if anywhere).
        """
        at = bisect.bisect_left(self._narrow, (place.created_at, place.task))
        rank = self.rank(place)
        sides = [
            [self._narrow[at - step] for step in _doubling(LINE_REACH) if at - step >= 0],
            [self._narrow[at + step] for step in (0, *_doubling(LINE_REACH)) if at + step < len(self._narrow)],
        ]
        ranked = sorted(
            (
                (abs(self.rank(TaskPlace(task, created_at)) - rank), self.rank(TaskPlace(task, created_at)), task)
                for side in sides
                for created_at, task in side
                if task != place.task
            ),
        )
        points = [(r, self._windows[task][1]) for _, r, task in ranked]
        while points:
            found = pass_line(points, rank, period)
            if found is not None or len(points) <= 2:
                return found
            points = points[: max(2, len(points) * 2 // 3)]
        return None

    def bracket(self, place: TaskPlace, period: float) -> RefreshWindow | None:
        """Where the neighbours (``SWEEP_NEIGHBOURS`` each side, in creation order) put the task's refresh; None
        when they put it nowhere narrower than a period, or disagree among themselves."""
        at = bisect.bisect_left(self._order, (place.created_at, place.task))
        earlier = self._neighbours(range(at - 1, -1, -1), place.task, period)
        later = self._neighbours(range(at, len(self._order)), place.task, period)
        found: RefreshWindow | None = None
        for before in earlier:
            for after in later:
                arc = sweep_arc(before, after, period)
                if arc.width >= period:
                    continue
                common = arc if found is None else overlap(found, arc, period)
                if common is None:
                    return None
                found = common
        return found

    def _neighbours(self, indexes: range, task: str, period: float) -> list[RefreshWindow]:
        """The windows of the first ``SWEEP_NEIGHBOURS`` tasks along ``indexes`` that tell something (narrower
        than ``SWEEP_WIDEST`` of a period)."""
        found: list[RefreshWindow] = []
        for index in indexes:
            other = self._order[index][1]
            known = self._windows.get(other)
            if known is not None and other != task and known[1].width < SWEEP_WIDEST * period:
                found.append(known[1])
            if len(found) == SWEEP_NEIGHBOURS:
                break
        return found

    def as_record(self) -> list[list[object]]:
        """The most recently noted ``KEPT_SWEEP`` tasks as ``[task, created_at, start, end]``."""
        recent = list(self._windows.items())[-KEPT_SWEEP:]
        return [[task, created_at, window.start, window.end] for task, (created_at, window) in recent]

    def merge_record(self, entries: Iterable[object]) -> None:
        """Take in the tasks another process kept (its own ones; this process's tasks stay as this one knows them).

        They are taken as the least recent: what this process notes itself is what it passes on.
        """
        taken: dict[str, tuple[float, RefreshWindow]] = {}
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 4 or not isinstance(entry[0], str):
                continue
            try:
                created_at, start, end = (_as_number(value) for value in entry[1:])
            except ValueError:
                continue
            if entry[0] not in self._windows and entry[0] not in taken and end > start:
                taken[entry[0]] = (created_at, RefreshWindow(start, end))
        for task, (created_at, window) in taken.items():
            self.enrol(TaskPlace(task, created_at))
            if window.width <= LINE_WIDEST_SECONDS:
                bisect.insort(self._narrow, (created_at, task))
        if taken:
            self._windows = taken | self._windows
            self.moves += 1


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
        self.sweep = Sweep()
        # Per task, the last poll each of its latest two plans was made from, and whether the pass's line placed it.
        self._line_plans: dict[str, tuple[tuple[float, bool], tuple[float, bool] | None]] = {}
        self._line_outcomes: deque[bool] = deque(maxlen=LINE_OUTCOMES)  # whether each such poll saw the change

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
        place: TaskPlace | None = None,
        planned_from: float | None = None,
    ) -> bool:
        """Fold in a task's window when a poll moved it; tells whether this contradicted a trusted phase.

        ``changed_in`` is the span the poll saw the task change in (from the previous poll's send to this one's
        answer), when it did: the gap since the task's previous change bounds the gateway's period, which may move
        the period the tasks plan with. The span, not the task's window, is what is known for sure: the window
        also relies on the period, which is what is being learnt. ``place`` puts the task's window in the pass
        (``Sweep``). ``planned_from`` is the poll before this one (which this one was planned from): when the pass's
        line placed this poll, whether it saw the change tells whether the line holds.
        """
        if task is not None and changed_in is not None:
            self.note_change(task, changed_in)
        if task is not None and planned_from is not None and self._line_placed_from(task, planned_from):
            self._line_outcomes.append(changed_in is not None)
        if after is None or after == before:
            return False
        if place is not None:
            self.sweep.note(place, after)
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
        learning it from where this one is; and the latest windows of the sweep (with that period)."""
        gaps = [[gap.seen_at, gap.low, gap.high] for gap in self._gaps]
        return self.estimate.as_record() | {
            "learnt_period": self.period,
            "period_drifts": self.period_drifts,
            "gaps": gaps,
            "sweep": self.sweep.as_record(),
        }

    def merge_record(self, record: Mapping[str, object]) -> None:
        """Take in a clock kept with ``as_record`` by another process (or by this one before a restart).

        The phase merges as ``GatewayClock.merged`` does. The gaps join this clock's own, keeping the most recent
        ``RECENT_GAPS`` of both; of the two periods, the one more of those gaps allow is planned with (this one's
        on a tie), and then learnt further from them as a new gap would. A record from before the period was kept
        has no gaps: only its phase is taken. The other process's tasks join the sweep when its period is the one
        planned with (their windows were narrowed with it).
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
        sweep = record.get("sweep")
        if period == self.period and isinstance(sweep, list):
            self.sweep.merge_record(sweep)

    def _relearn_period(self) -> None:
        """Move the period to where the recent gaps put it, counting a move as a drift."""
        period = learnt_period(self.period, self._gaps)
        if period != self.period:
            self.period = period
            self.period_drifts += 1
            self.sweep.clear()
            self._line_outcomes.clear()
            self._line_plans.clear()

    def forget(self, task: str, now: float) -> None:
        """Drop what was remembered of a task that will not be polled again (finished at ``now``; it still counts in
        the pass for a period: the gateway's pass under way took it)."""
        self._changes.pop(task, None)
        self._line_plans.pop(task, None)
        self.sweep.finish(task, now)

    def _phase_usable(self) -> bool:
        # The shared phase is kept in the starting period; once another one is learnt, it no longer lines up.
        return self.period == self.estimate.period

    def focus(self, window: RefreshWindow, now: float, place: TaskPlace | None = None) -> RefreshWindow:
        """The part of a task's own window where the shared phase falls, and then where its neighbours in the pass
        put it (``place``: which task, created when); the own window where they disagree with it."""
        phase = self.estimate.shared_phase(now) if self._phase_usable() else None
        if phase is not None:
            window = overlap(phase, window, self.estimate.period) or window
        if place is None:
            return window
        self.sweep.retire(now - self.period)
        self.sweep.enrol(place)
        line = self.sweep.line(place, self.period) if self.line_trusted else None
        # The part of the window up to ``now`` was seen (by the poll planned from): the next refresh is after it.
        unseen = RefreshWindow(max(window.start, now), window.end) if window.end > now else window
        placed = overlap(line, unseen, self.period) if line is not None else None
        self._note_plan(place.task, now, placed is not None and placed.width <= NARROW_ENOUGH_SECONDS < window.width)
        # The nearest neighbours' bracket narrows further what the line (or else the task's own window) allows.
        window = placed or window
        bracket = self.sweep.bracket(place, self.period)
        return (overlap(bracket, window, self.period) if bracket is not None else None) or window

    def _note_plan(self, task: str, since: float, by_line: bool) -> None:
        """Remember whether the line placed the task's poll planned from the poll at ``since`` (a replan from the same
        poll replaces it; a plan from a later poll keeps the one before, whose poll is being learnt from)."""
        latest, previous = self._line_plans.get(task, ((since, False), None))
        if latest[0] != since:
            previous = latest
        self._line_plans[task] = ((since, by_line), previous)

    def _line_placed_from(self, task: str, since: float) -> bool:
        """Whether the line placed the poll planned from the poll at ``since`` (each such poll is counted once)."""
        plans = self._line_plans.get(task)
        if plans is None:
            return False
        latest, previous = plans
        for at, plan in enumerate((latest, previous)):
            if plan is not None and plan[0] == since:
                self._line_plans[task] = ((latest[0], False), previous) if at == 0 else (latest, None)
                return plan[1]
        return False

    @property
    def line_trusted(self) -> bool:
        """Whether the pass's line still places polls: too few of them missed the change lately."""
        misses = self._line_outcomes.count(False)
        return len(self._line_outcomes) < LINE_TRIAL or misses < LINE_MISSES_SHARE * len(self._line_outcomes)

    def probe_at(self, window: RefreshWindow) -> float:
        """Where to probe a wide window: a different point of its middle half for each probe (1/2, 3/8, 5/8, 5/16,
        ...). Tasks refreshed at once, or one after another in creation order, narrow their common phase far
        faster by probing different points than by each halving the same window: what one task's probe rules out
        reaches its neighbours through the shared phase and the sweep. A task alone loses little by it."""
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


def _doubling(reach: int) -> list[int]:
    """1, 2, 4, ... up to ``reach``."""
    return [1 << k for k in range(reach.bit_length()) if 1 << k <= reach]


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


def next_poll(
    now: float, known: RefreshWindow, timing: PollTiming, *, slow: bool = False, place: TaskPlace | None = None
) -> float:
    """The time of the next poll, between ``now + min_interval`` and ``now + max_interval``; ``place`` (which task,
    created when) lets the shared clock narrow the window with what the task's neighbours in the pass learnt."""
    earliest = now + timing.min_interval
    latest = now + timing.max_interval
    if slow:
        return latest
    period = timing.refresh_period
    if period <= 0:
        return earliest
    window = known.shifted_after(now, period)
    if timing.shared is not None:
        window = timing.shared.focus(window, now, place)
    if window.width > NARROW_ENOUGH_SECONDS and (window.start + window.end) / 2 >= earliest:
        # Probe the part of the window after the earliest allowed poll (where a single task probes its middle).
        probe = (window.start + window.end) / 2
        if timing.shared is not None:
            probe = timing.shared.probe_at(RefreshWindow(max(window.start, earliest), window.end))
        return min(probe, latest)
    return min(max(window.end + MARGIN_SECONDS, earliest), latest)
