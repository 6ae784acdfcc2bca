"""The gateway clock shared by all tasks: learning one refresh phase from every task's windows, and planning with it."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.phase import (
    MARGIN_SECONDS,
    MIN_AGREEING,
    MIN_GAPS,
    STALE_AFTER_PERIODS,
    GatewayClock,
    PollTiming,
    RefreshGap,
    RefreshWindow,
    SharedClock,
    Sweep,
    TaskPlace,
    first_window,
    learn,
    learnt_period,
    next_poll,
    overlap,
    sweep_arc,
)

PERIOD = 15.0


def holds_phase(window: RefreshWindow, refresh: float, period: float = PERIOD) -> bool:
    """Whether ``window`` contains ``refresh`` shifted by some whole number of periods (to rounding)."""
    k = math.ceil((window.start - refresh) / period)
    candidate = refresh + k * period
    if candidate <= window.start - 1e-6:
        candidate += period
    return candidate <= window.end + 1e-6


def settled(refresh: float = 10.0) -> GatewayClock:
    """A clock that saw windows around ``refresh`` (phase) over more than a period, from several tasks."""
    clock = GatewayClock(PERIOD)
    for seen in (
        RefreshWindow(refresh - 6.0, refresh + 1.0),
        RefreshWindow(refresh + PERIOD - 1.5, refresh + PERIOD + 0.5),
        RefreshWindow(refresh + 2 * PERIOD - 0.5, refresh + 2 * PERIOD + 1.0),
    ):
        clock = clock.observed(seen)
    return clock


def test_overlap_keeps_the_part_of_the_span_where_the_phase_falls() -> None:
    assert overlap(RefreshWindow(10.0, 12.0), RefreshWindow(20.0, 26.0), PERIOD) == RefreshWindow(25.0, 26.0)
    assert overlap(RefreshWindow(10.0, 12.0), RefreshWindow(13.0, 24.0), PERIOD) is None


def test_windows_of_many_tasks_narrow_one_shared_phase() -> None:
    clock = settled(refresh=10.0)
    assert clock.agreeing == 3
    assert clock.drifts == 0
    assert clock.window == RefreshWindow(39.5, 40.5)
    assert clock.shared_phase(now=41.0) == RefreshWindow(39.5, 40.5)


def test_windows_seen_within_one_pass_are_not_trusted() -> None:
    # Tasks refreshed one after another look alike within one pass: the phase needs agreement over a period.
    clock = GatewayClock(PERIOD)
    for start in (9.0, 9.2, 9.4, 9.6):
        clock = clock.observed(RefreshWindow(start, start + 1.0))
    assert clock.agreeing == 4
    assert clock.shared_phase(now=11.0) is None


def test_too_few_windows_are_not_trusted() -> None:
    clock = GatewayClock(PERIOD).observed(RefreshWindow(9.0, 10.0)).observed(RefreshWindow(24.0, 25.0))
    assert clock.agreeing < MIN_AGREEING
    assert clock.shared_phase(now=26.0) is None


def test_a_wide_agreement_is_not_a_phase() -> None:
    clock = GatewayClock(PERIOD)
    for start in (0.0, 15.0, 30.0):
        clock = clock.observed(RefreshWindow(start, start + 7.0))
    assert clock.shared_phase(now=40.0) is None


def test_a_contradicting_window_is_a_drift_and_learning_starts_over() -> None:
    clock = settled(refresh=10.0).observed(RefreshWindow(46.0, 47.0))  # the loop now refreshes at phase ~1.5
    assert clock.drifts == 1
    assert clock.agreeing == 1
    assert clock.shared_phase(now=48.0) is None
    for start in (61.0, 76.0):
        clock = clock.observed(RefreshWindow(start, start + 1.0))
    assert clock.shared_phase(now=78.0) == RefreshWindow(76.0, 77.0)


def test_tasks_refreshed_one_after_another_never_settle_a_phase() -> None:
    """new-api's one task per second: each task's window is narrow and right, but they share no phase."""
    clock = GatewayClock(PERIOD)
    for n in range(60):
        offset = n % 15  # task n refreshes at offset n (mod 15) within the loop
        clock = clock.observed(RefreshWindow(100.0 + n + offset - 0.8, 100.0 + n + offset))
        assert clock.shared_phase(now=101.0 + n + offset) is None


def test_a_stale_phase_is_not_trusted() -> None:
    clock = settled(refresh=10.0)
    assert clock.shared_phase(now=40.5 + STALE_AFTER_PERIODS * PERIOD + 1.0) is None


def test_a_whole_period_tells_nothing() -> None:
    clock = settled()
    assert clock.observed(RefreshWindow(0.0, PERIOD)) == clock
    assert GatewayClock(0.0).observed(RefreshWindow(1.0, 2.0)) == GatewayClock(0.0)


def test_merging_agreeing_clocks_keeps_their_common_phase() -> None:
    mine = settled(refresh=10.0)
    theirs = GatewayClock(PERIOD, window=RefreshWindow(54.8, 55.2), since=5.0, agreeing=7)
    merged = mine.merged(theirs)
    assert merged.window == RefreshWindow(39.8, 40.2)
    assert merged.since == 5.0
    assert merged.agreeing == 7


def test_merging_disagreeing_clocks_keeps_the_more_recent() -> None:
    mine = settled(refresh=10.0)
    newer = GatewayClock(PERIOD, window=RefreshWindow(62.0, 63.0), since=30.0, agreeing=5)
    assert mine.merged(newer) == newer
    assert newer.merged(mine) == newer


def test_merging_ignores_a_clock_for_another_period_or_one_with_nothing_learnt() -> None:
    mine = settled()
    assert mine.merged(GatewayClock(30.0, window=RefreshWindow(1.0, 2.0), agreeing=9)) == mine
    assert mine.merged(GatewayClock(PERIOD)) == mine
    assert GatewayClock(PERIOD).merged(mine) == mine


def test_record_round_trip() -> None:
    for clock in (settled(), GatewayClock(PERIOD)):
        assert GatewayClock.from_record(clock.as_record()) == clock
    assert GatewayClock.from_record({"period": 15.0}) is None


def test_a_new_task_starts_in_the_shared_phase() -> None:
    shared = SharedClock(PERIOD)
    shared.estimate = settled(refresh=10.0)  # phase (9.5, 10.5] mod 15
    timing = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0, shared=shared)
    # Created at 43: without the clock the first poll would probe the middle of the blank period (50.5).
    assert next_poll(43.0, first_window(43.0, PERIOD), timing) == 55.5 + MARGIN_SECONDS


def test_a_task_whose_window_disagrees_keeps_its_own() -> None:
    shared = SharedClock(PERIOD)
    shared.estimate = settled(refresh=10.0)
    timing = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0, shared=shared)
    alone = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0)
    own = RefreshWindow(47.0, 48.0)  # this task refreshes at phase ~2.5, not ~10
    assert next_poll(45.0, own, timing) == next_poll(45.0, own, alone)


def test_note_tells_when_a_trusted_phase_was_contradicted() -> None:
    shared = SharedClock(PERIOD)
    shared.estimate = settled(refresh=10.0)
    assert not shared.note(RefreshWindow(54.0, 56.0))
    assert shared.note(RefreshWindow(61.0, 62.0))
    assert not shared.note(RefreshWindow(76.0, 77.0))


phases = st.floats(min_value=0.0, max_value=PERIOD, exclude_min=True)


@st.composite
def windows_holding(draw: st.DrawFn, phase: float) -> list[RefreshWindow]:
    """Windows (start, end] of different widths and periods, each holding a copy of ``phase``."""
    result = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        k = draw(st.integers(min_value=0, max_value=30))
        before = draw(st.floats(min_value=0.01, max_value=7.0))
        after = draw(st.floats(min_value=0.0, max_value=7.0))
        refresh = phase + k * PERIOD
        result.append(RefreshWindow(refresh - before, refresh + after))
    return result


@given(st.data(), phases)
def test_windows_that_share_a_phase_never_lose_it(data: st.DataObject, phase: float) -> None:
    clock = GatewayClock(PERIOD)
    for seen in data.draw(windows_holding(phase)):
        clock = clock.observed(seen)
        assert clock.window is not None
        assert clock.drifts == 0
        assert holds_phase(clock.window, phase), (clock.window, phase)


@given(st.data(), phases, st.floats(min_value=0.0, max_value=1000.0))
def test_planning_with_the_clock_stays_inside_the_own_window(data: st.DataObject, phase: float, now: float) -> None:
    shared = SharedClock(PERIOD)
    for seen in data.draw(windows_holding(phase)):
        shared.note(seen)
    start = data.draw(st.floats(min_value=now - 20.0, max_value=now + 20.0))
    own = RefreshWindow(start, start + data.draw(st.floats(min_value=0.05, max_value=PERIOD)))
    focused = shared.focus(own.shifted_after(now, PERIOD), now)
    mine = own.shifted_after(now, PERIOD)
    assert mine.start <= focused.start < focused.end <= mine.end
    timing = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0, shared=shared)
    assert now + 5.0 - 1e-9 <= next_poll(now, own, timing) <= now + 30.0 + 1e-9


def simulate(phase: float, created: float, timing: PollTiming) -> int:
    """Polls a 20 s task created at ``created`` takes when every task refreshes at ``phase + 15k``."""
    refreshes = [phase + PERIOD * k for k in range(40)]
    done_at = next(r for r in refreshes if r >= created + 20.0)
    window, last = first_window(created, PERIOD), created
    at = next_poll(created, window, timing)
    polls = 0
    while True:
        polls += 1
        if at >= done_at:
            return polls
        changed = any(last < r <= at for r in refreshes)
        window = learn(window, last, at, changed=changed, period=PERIOD)
        if timing.shared is not None and changed:
            timing.shared.note(window)
        last = at
        at = next_poll(at, window, timing)


def test_tasks_after_the_first_few_need_fewer_polls_with_the_clock() -> None:
    shared = SharedClock(PERIOD)
    timing = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0, shared=shared)
    alone = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0)
    phase = 11.0
    with_clock = [simulate(phase, created, timing) for created in range(0, 300, 7)]
    without = [simulate(phase, created, alone) for created in range(0, 300, 7)]
    assert shared.estimate.shared_phase(400.0) is not None
    assert sum(with_clock[5:]) < sum(without[5:])
    assert max(with_clock[5:]) <= 3


def test_each_probe_takes_another_point_of_the_windows_middle_half() -> None:
    shared = SharedClock(PERIOD)
    window = RefreshWindow(0.0, 16.0)
    probes = [shared.probe_at(window) for _ in range(4)]
    assert probes == [8.0, 6.0, 10.0, 5.0]
    assert all(window.start + 0.25 * window.width <= probe <= window.end - 0.25 * window.width for probe in probes)


def test_learn_from_needs_a_window_that_moved() -> None:
    shared = SharedClock(PERIOD)
    window = RefreshWindow(1.0, 2.0)
    assert not shared.learn_from(window, window)
    assert not shared.learn_from(window, None)
    assert shared.estimate.agreeing == 0
    assert not shared.learn_from(None, window)
    assert shared.estimate.agreeing == 1


# The period: learnt from the gaps between each task's consecutive changes (new-api's end-to-start loop).


def two_changes_each(shared: SharedClock, gap: float, tasks: int = 4, start: float = 100.0) -> None:
    """``tasks`` tasks, each seen changing within 3-s spans ``gap`` seconds apart."""
    for n in range(tasks):
        first = start + n
        shared.note_change(f"t{start}-{n}", RefreshWindow(first - 2.0, first + 1.0))
        shared.note_change(f"t{start}-{n}", RefreshWindow(first + gap - 1.0, first + gap + 2.0))


def test_the_guess_is_kept_while_the_gaps_allow_it() -> None:
    gaps = [RefreshGap(13.0, 17.0), RefreshGap(14.5, 15.5), RefreshGap(20.0, 26.0)]
    assert learnt_period(PERIOD, gaps) == PERIOD


def test_too_few_gaps_keep_the_guess() -> None:
    assert learnt_period(PERIOD, [RefreshGap(28.0, 31.0), RefreshGap(29.0, 32.0)]) == PERIOD


def test_gaps_that_rule_out_the_guess_give_the_span_most_of_them_allow() -> None:
    gaps = [RefreshGap(20.0, 31.0), RefreshGap(28.0, 35.0), RefreshGap(25.0, 33.0)]
    assert learnt_period(PERIOD, gaps) == 29.5


def test_gaps_wider_than_a_period_do_not_count() -> None:
    gaps = [RefreshGap(20.0, 40.0), RefreshGap(21.0, 41.0), RefreshGap(22.0, 42.0)]
    assert learnt_period(PERIOD, gaps) == PERIOD


def test_period_zero_is_never_learnt() -> None:
    assert learnt_period(0.0, [RefreshGap(28.0, 31.0)] * 5) == 0.0


@given(
    st.floats(min_value=5.0, max_value=60.0),
    st.lists(st.tuples(st.floats(0.0, 7.0), st.floats(0.0, 7.0)), min_size=MIN_GAPS, max_size=20),
)
def test_when_every_gap_allows_one_period_the_learnt_one_is_allowed_by_most(
    period: float, widths: list[tuple[float, float]]
) -> None:
    gaps = [RefreshGap(period - below, period + above) for below, above in widths]
    learnt = learnt_period(PERIOD, gaps)
    assert sum(gap.allows(learnt) for gap in gaps) >= len(gaps) / 2
    if learnt != PERIOD:
        assert all(gap.allows(learnt) for gap in gaps)


def test_a_longer_loop_is_learnt_from_the_tasks_changes() -> None:
    shared = SharedClock(PERIOD)
    two_changes_each(shared, gap=30.0)
    assert shared.period == pytest.approx(30.0, abs=1.5)
    assert shared.period_drifts == 1
    assert PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0, shared=shared).refresh_period == shared.period


def test_the_period_follows_the_loop_when_it_shortens_again() -> None:
    shared = SharedClock(PERIOD)
    two_changes_each(shared, gap=30.0)
    two_changes_each(shared, gap=15.0, tasks=16, start=500.0)
    assert shared.period == pytest.approx(PERIOD, abs=1.5)
    assert shared.period_drifts == 2


def test_a_steady_loop_keeps_the_setting() -> None:
    shared = SharedClock(PERIOD)
    two_changes_each(shared, gap=PERIOD, tasks=10)
    assert shared.period == PERIOD
    assert shared.period_drifts == 0


def test_without_a_shared_clock_or_with_fresh_reads_the_setting_is_the_period() -> None:
    assert PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0).refresh_period == PERIOD
    assert PollTiming(period=0.0, min_interval=5.0, max_interval=30.0, shared=SharedClock(0.0)).refresh_period == 0


def test_once_the_period_moved_a_task_plans_from_its_last_change() -> None:
    shared = SharedClock(PERIOD)
    change = RefreshWindow(90.0, 96.0)
    shared.note_change("late", change)
    narrowed = RefreshWindow(94.0, 95.0)  # narrowed with the old period: it may have cut the refresh out
    assert shared.own_window("late", narrowed) == narrowed
    two_changes_each(shared, gap=30.0)
    assert shared.own_window("late", narrowed) == change
    assert shared.own_window("unknown", narrowed) == narrowed
    shared.forget("late", 100.0)
    assert shared.own_window("late", narrowed) == narrowed


def test_a_changed_span_teaches_the_period_through_learn_from() -> None:
    shared = SharedClock(PERIOD)
    for n in range(4):
        shared.learn_from(None, None, task=f"t{n}", changed_in=RefreshWindow(100.0 + n, 103.0 + n))
        shared.learn_from(None, None, task=f"t{n}", changed_in=RefreshWindow(129.0 + n, 132.0 + n))
    assert shared.period == pytest.approx(29.5, abs=1.5)


def test_once_another_period_is_learnt_the_old_shared_phase_is_not_used() -> None:
    shared = SharedClock(PERIOD)
    shared.estimate = settled(refresh=10.0)
    own = RefreshWindow(30.0, 45.0)
    assert shared.focus(own, now=41.0) != own
    two_changes_each(shared, gap=30.0)
    assert shared.focus(own, now=41.0) == own


def kept(shared: SharedClock) -> dict[str, object]:
    """What the store gives back of ``shared``'s record (it keeps it as JSON)."""
    record: dict[str, object] = json.loads(json.dumps(shared.as_record()))
    return record


def test_another_process_picks_up_the_learnt_period_from_the_record() -> None:
    learner = SharedClock(PERIOD)
    two_changes_each(learner, gap=30.0)
    other = SharedClock(PERIOD)
    other.merge_record(kept(learner))
    assert other.period == learner.period != PERIOD
    assert other.period_drifts == 1
    assert other.as_record() == kept(learner)  # merging again changes nothing: the processes agree


def test_the_kept_gaps_let_learning_go_on_where_it_was() -> None:
    # Two tasks' gaps in one process and two in the other: neither alone has enough to learn the period.
    first, second = SharedClock(PERIOD), SharedClock(PERIOD)
    two_changes_each(first, gap=30.0, tasks=2)
    two_changes_each(second, gap=30.0, tasks=2, start=200.0)
    assert first.period == second.period == PERIOD
    second.merge_record(kept(first))
    assert second.period == pytest.approx(30.0, abs=1.5)


def test_recent_gaps_for_the_setting_outweigh_an_older_learnt_period() -> None:
    learner = SharedClock(PERIOD)
    two_changes_each(learner, gap=30.0)
    steady = SharedClock(PERIOD)
    two_changes_each(steady, gap=PERIOD, tasks=12, start=500.0)
    steady.merge_record(kept(learner))
    assert steady.period == PERIOD
    learner.merge_record(kept(steady))
    assert learner.period == pytest.approx(PERIOD, abs=1.5)


def test_a_record_from_before_the_period_was_kept_still_loads() -> None:
    old = {"period": 15.0, "since": 11.0, "agreeing": 3.0, "drifts": 0.0, "start": 39.5, "end": 40.5}
    shared = SharedClock(PERIOD)
    shared.merge_record(old)
    assert shared.estimate == GatewayClock(PERIOD, window=RefreshWindow(39.5, 40.5), since=11.0, agreeing=3)
    assert shared.period == PERIOD
    assert shared.as_record()["gaps"] == []


@pytest.mark.parametrize(
    "broken",
    [{"gaps": "many"}, {"gaps": [[1.0, 2.0]]}, {"gaps": [[1.0, "2", 3.0]]}, {"learnt_period": True}],
    ids=["not-a-list", "short-gap", "text", "bool"],
)
def test_a_learnt_period_that_cannot_be_read_is_ignored(broken: dict[str, object]) -> None:
    learner = SharedClock(PERIOD)
    two_changes_each(learner, gap=30.0)
    shared = SharedClock(PERIOD)
    shared.merge_record(kept(learner) | broken)
    assert shared.period == PERIOD


def test_fresh_reads_learn_no_period_from_a_record() -> None:
    learner = SharedClock(PERIOD)
    two_changes_each(learner, gap=30.0)
    fresh = SharedClock(0.0)
    fresh.merge_record(kept(learner))
    assert fresh.period == 0.0


# The sweep: new-api refreshes the unfinished tasks in creation order, one after another within a pass.


def test_the_arc_runs_from_the_earlier_tasks_start_to_the_later_ones_next_end() -> None:
    assert sweep_arc(RefreshWindow(10.0, 11.0), RefreshWindow(11.5, 12.0), PERIOD) == RefreshWindow(10.0, 12.0)
    # The later task's window was seen a pass earlier, or wraps past the end of the period: its next end counts.
    assert sweep_arc(RefreshWindow(40.0, 41.0), RefreshWindow(11.5, 12.0), PERIOD) == RefreshWindow(40.0, 42.0)
    assert sweep_arc(RefreshWindow(14.0, 14.5), RefreshWindow(0.2, 0.8), PERIOD) == RefreshWindow(14.0, 15.8)


def sweep_of(windows: list[tuple[float, RefreshWindow]]) -> Sweep:
    """A sweep of tasks t0, t1, ... created at the given times, with the given windows."""
    sweep = Sweep()
    for n, (created_at, window) in enumerate(windows):
        sweep.note(TaskPlace(f"t{n}", created_at), window)
    return sweep


def test_tasks_refreshed_at_once_give_a_new_task_their_phase() -> None:
    sweep = sweep_of([(float(n), RefreshWindow(30.0 + n % 2, 31.5)) for n in range(4)])
    # t9, created between t1 and t2, is bracketed by them: refreshed no sooner than t1's, no later than t2's.
    assert sweep.bracket(TaskPlace("t9", 1.5), PERIOD) == RefreshWindow(31.0, 31.5)


def test_tasks_refreshed_one_after_another_enclose_the_one_between() -> None:
    sweep = sweep_of([(0.0, RefreshWindow(20.0, 20.5)), (1.0, RefreshWindow(36.0, 36.4))])
    # t0 refreshes at ~5 (mod 15), t1 at ~6: a task created between them refreshes in between, in t0's pass.
    assert sweep.bracket(TaskPlace("new", 0.5), PERIOD) == RefreshWindow(20.0, 21.4)


def test_no_bracket_without_a_neighbour_on_each_side() -> None:
    sweep = sweep_of([(0.0, RefreshWindow(20.0, 20.5)), (1.0, RefreshWindow(21.0, 21.5))])
    assert sweep.bracket(TaskPlace("last", 2.0), PERIOD) is None
    assert sweep.bracket(TaskPlace("first", -1.0), PERIOD) is None
    assert sweep.bracket(TaskPlace("t0", 0.0), PERIOD) is None  # a task is not its own neighbour
    blank = sweep_of([(0.0, RefreshWindow(0.0, PERIOD)), (1.0, RefreshWindow(1.0, 1.0 + PERIOD))])
    assert blank.bracket(TaskPlace("between", 0.5), PERIOD) is None  # blank windows tell nothing


@given(
    st.floats(min_value=0.0, max_value=1000.0),
    st.floats(min_value=0.0, max_value=0.05),
    st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(0.0, 5.0), st.integers(-3, 3)), min_size=9, max_size=9),
)
def test_a_bracket_from_close_neighbours_holds_the_refresh(
    base: float, rate: float, shapes: list[tuple[float, float, int]]
) -> None:
    # Task n refreshes at base + rate * n (mod 15): one after another, or all at once (rate 0); each window (of any
    # width up to 10 s, seen in any pass) holds that task's refresh; the middle task's bracket holds its own.
    windows = [
        (float(n), RefreshWindow(base + rate * n + k * PERIOD - before, base + rate * n + k * PERIOD + after))
        for n, (before, after, k) in enumerate(shapes)
    ]
    sweep = sweep_of(windows[:4] + windows[5:])
    found = sweep.bracket(TaskPlace("middle", 4.0), PERIOD)
    assert found is not None
    assert holds_phase(found, base + rate * 4)


def test_the_shared_clock_narrows_a_task_by_its_neighbours_unless_they_disagree() -> None:
    shared = SharedClock(PERIOD)
    for n, window in enumerate((RefreshWindow(30.0, 31.0), RefreshWindow(30.5, 31.2))):
        shared.learn_from(None, window, place=TaskPlace(f"t{n}", 2.0 * n))
    own = RefreshWindow(41.0, 50.0)
    # Two tasks two ranks apart do not tell one pass from the next (a pass of a whole period fits them): no line,
    # only the neighbours' bracket.
    assert shared.focus(own, 41.0, TaskPlace("mine", 1.0)) == RefreshWindow(45.0, 46.2)
    assert shared.focus(own, 41.0) == own  # planned without its place: its own window
    elsewhere = RefreshWindow(37.0, 44.0)  # its own observations rule out the neighbours' phase: it keeps them
    assert shared.focus(elsewhere, 37.0, TaskPlace("mine", 1.0)) == elsewhere
    timing = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0, shared=shared)
    assert next_poll(41.0, own, timing, place=TaskPlace("mine", 1.0)) == 46.2 + MARGIN_SECONDS


def test_a_finished_task_or_a_new_period_leaves_the_sweep() -> None:
    shared = SharedClock(PERIOD)
    shared.learn_from(None, RefreshWindow(30.0, 31.0), place=TaskPlace("a", 0.0))
    shared.learn_from(None, RefreshWindow(30.0, 31.0), place=TaskPlace("b", 1.0))
    shared.forget("a", 40.0)
    assert len(shared.sweep) == 1
    two_changes_each(shared, gap=30.0, tasks=4)
    assert shared.period != PERIOD
    assert len(shared.sweep) == 0


def test_the_sweep_is_kept_in_the_record_for_other_processes() -> None:
    mine = SharedClock(PERIOD)
    for n in range(3):
        mine.learn_from(None, RefreshWindow(30.0 + n, 31.0 + n), place=TaskPlace(f"t{n}", float(n)))
    record = json.loads(json.dumps(mine.as_record()))
    assert record["sweep"] == [[f"t{n}", float(n), 30.0 + n, 31.0 + n] for n in range(3)]
    other = SharedClock(PERIOD)
    other.learn_from(None, RefreshWindow(50.0, 51.0), place=TaskPlace("own", 5.0))
    other.merge_record(record | {"sweep": [*record["sweep"], ["bad", "x", 1, 2], ["t0", 0.0, 1.0, 2.0]]})
    assert len(other.sweep) == 4
    assert other.sweep.bracket(TaskPlace("between", 0.5), PERIOD) == RefreshWindow(30.0, 32.0)
    # What a process passes on is what it noted itself first: the merged tasks are the least recent.
    assert other.sweep.as_record()[-1] == ["own", 5.0, 50.0, 51.0]
    # A record kept with another period brings no sweep: its windows were narrowed with that period.
    third = SharedClock(PERIOD)
    third.merge_record(record | {"learnt_period": 30.0, "gaps": []})
    assert len(third.sweep) == 0
