"""The pass's line: new-api refreshes the running tasks in creation order at a steady rate, so a task's refresh lies
on the line through the other tasks' windows (by rank), and many coarse windows place it finely."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bot.services.phase import (
    LINE_TRIAL,
    NARROW_ENOUGH_SECONDS,
    RefreshWindow,
    SharedClock,
    Sweep,
    TaskPlace,
    pass_line,
)
from tests.test_gateway_clock import holds_phase, two_changes_each

PERIOD = 15.0


def around(at: float, before: float = 0.25, after: float = 0.25) -> RefreshWindow:
    return RefreshWindow(at - before, at + after)


def test_neighbours_on_one_side_place_the_newest_task() -> None:
    # Tasks 0..5 refresh at 20 + 0.5 * rank; the newest (rank 8) has no neighbour after it.
    points = [(rank, around(20.0 + 0.5 * rank)) for rank in range(6)]
    found = pass_line(points, 8, PERIOD)
    assert found is not None
    assert found.start < 24.0 <= found.end
    assert found.width < 2.0


def test_whole_second_windows_place_a_task_within_a_fraction_of_a_second() -> None:
    # A change time in whole seconds says "in this second" (openai's completed_at); 40 tasks 0.1 s apart say more.
    refresh = [10.0 + 0.1 * rank + 0.05 for rank in range(40)]
    points = [(rank, RefreshWindow(math.floor(t), math.floor(t) + 1.0)) for rank, t in enumerate(refresh) if rank != 20]
    found = pass_line(points, 20, PERIOD)
    assert found is not None
    assert found.start < refresh[20] <= found.end
    assert found.width < 0.5


def test_windows_seen_in_other_passes_are_placed_in_one() -> None:
    points = [(rank, around(20.0 + 0.5 * rank + k * PERIOD)) for rank, k in enumerate((0, 2, -1, 1, 0, 3))]
    found = pass_line(points, 6, PERIOD)
    assert found is not None
    assert holds_phase(found, 23.0)


def test_no_line_through_windows_that_are_not_on_one() -> None:
    # A rank refreshed before the one created ahead of it by more than any steady pass allows: no line.
    points = [(0, around(20.0)), (1, around(24.0)), (2, around(21.0))]
    assert pass_line(points, 3, PERIOD) is None
    assert pass_line([], 3, PERIOD) is None
    assert pass_line([(0, around(20.0))], 1, 0.0) is None


@given(
    st.floats(min_value=0.0, max_value=1000.0),
    st.floats(min_value=0.0, max_value=0.6),
    st.lists(st.tuples(st.floats(0.01, 2.0), st.floats(0.0, 2.0), st.integers(-2, 2)), min_size=3, max_size=20),
    st.integers(0, 24),
)
def test_the_line_holds_the_refresh_of_a_task_on_it(
    base: float, rate: float, shapes: list[tuple[float, float, int]], rank: int
) -> None:
    # Task n refreshes at base + rate * n (a pass of at most 15 s over 25 tasks); each window holds its refresh, in
    # any pass. Wherever the line places the task at ``rank``, its refresh is there.
    points = [
        (n, RefreshWindow(base + rate * n + k * PERIOD - before, base + rate * n + k * PERIOD + after))
        for n, (before, after, k) in enumerate(shapes)
        if n != rank
    ]
    found = pass_line(points, rank, PERIOD)
    if found is not None:
        assert holds_phase(found, base + rate * rank)


def test_the_rank_counts_every_running_task_and_a_finished_one_for_a_period() -> None:
    sweep = Sweep()
    for n in range(4):
        sweep.enrol(TaskPlace(f"t{n}", float(n)))  # planned, no window yet: they still count in the pass
    sweep.note(TaskPlace("t4", 4.0), around(30.0))
    assert sweep.rank(TaskPlace("t4", 4.0)) == 4
    sweep.finish("t1", now=50.0)
    assert sweep.rank(TaskPlace("t4", 4.0)) == 4  # the pass under way took it
    sweep.retire(before=50.0)
    assert sweep.rank(TaskPlace("t4", 4.0)) == 4
    sweep.retire(before=50.5)
    assert sweep.rank(TaskPlace("t4", 4.0)) == 3
    sweep.finish("t4", now=51.0)
    assert len(sweep) == 0  # its window went at once


def test_the_sweep_places_a_task_on_the_line_of_the_narrow_windows() -> None:
    sweep = Sweep()
    for n in range(11):
        # Task 4's window is too wide to pin the line, but it counts in the ranks of the tasks after it.
        window = RefreshWindow(10.0, 24.0) if n == 4 else around(20.0 + 0.5 * n)
        sweep.note(TaskPlace(f"t{n}", float(n)), window)
    found = sweep.line(TaskPlace("new", 11.0), PERIOD)
    assert found is not None
    assert found.start < 25.5 <= found.end
    assert found.width < 1.0


def line_clock(tasks: int = 12) -> SharedClock:
    """A clock whose tasks 0..tasks-1 refresh at 20 + 0.5 * rank (narrow windows)."""
    shared = SharedClock(PERIOD)
    for n in range(tasks):
        shared.learn_from(None, around(20.0 + 0.5 * n), place=TaskPlace(f"t{n}", float(n)))
    return shared


def test_a_task_whose_own_window_disagrees_with_the_line_keeps_its_own() -> None:
    shared = line_clock()
    own = RefreshWindow(33.0, 37.0)  # ruled out where the line puts it (26.0 + 15 = 41.0)
    assert shared.focus(own, 33.0, TaskPlace("new", 12.0)) == own
    wide = RefreshWindow(36.0, 46.0)
    placed = shared.focus(wide, 36.0, TaskPlace("new", 12.0))
    assert placed.start < 41.0 <= placed.end
    assert placed.width <= NARROW_ENOUGH_SECONDS


def test_polls_the_line_placed_that_see_nothing_turn_it_off_until_the_period_moves() -> None:
    shared = line_clock()
    for n in range(LINE_TRIAL):
        task = TaskPlace(f"new{n}", 12.0 + n / 100)
        placed = shared.focus(RefreshWindow(36.0, 46.0), 36.0, task)
        assert placed.width <= NARROW_ENOUGH_SECONDS  # the line placed its poll ...
        # ... a replan from the same poll, then this poll's own plan, and then what the poll saw: nothing.
        shared.focus(RefreshWindow(36.0, 46.0), 36.0, task)
        shared.focus(RefreshWindow(42.0, 46.0), 42.0, task)
        shared.learn_from(None, None, task=task.task, planned_from=36.0)
        shared.forget(task.task, 0.0)  # and it left the pass long ago: the next one takes its rank
    assert not shared.line_trusted
    assert shared.focus(RefreshWindow(36.0, 46.0), 36.0, TaskPlace("late", 13.0)).width > NARROW_ENOUGH_SECONDS
    two_changes_each(shared, gap=30.0, tasks=4)
    assert shared.period != PERIOD
    assert shared.line_trusted


def test_a_poll_the_line_placed_that_saw_the_change_keeps_it_on() -> None:
    shared = line_clock()
    for n in range(LINE_TRIAL):
        task = TaskPlace(f"new{n}", 12.0 + n / 100)
        shared.focus(RefreshWindow(36.0, 46.0), 36.0, task)
        shared.learn_from(None, None, task=task.task, changed_in=RefreshWindow(36.0, 41.5), planned_from=36.0)
        # Counted once: the same poll learnt from again tells nothing more.
        shared.learn_from(None, None, task=task.task, planned_from=36.0)
        shared.forget(task.task, 0.0)
    assert shared.line_trusted


def test_the_line_reaches_other_processes_through_the_record() -> None:
    record = line_clock().as_record()
    other = SharedClock(PERIOD)
    other.merge_record(record)
    found = other.sweep.line(TaskPlace("new", 12.0), PERIOD)
    assert found is not None
    assert found.start < 26.0 <= found.end


def test_a_window_that_fits_this_pass_and_the_next_is_left_out() -> None:
    # Rank 0 refreshed at the end of its window (15.0), rank 769 in (11.4, 16.2] — in this pass with a flat line,
    # or in the next (26.4, 31.2] with a steep one: the windows cannot tell, so rank 769's is not used, and the line
    # does not put rank 57 anywhere it cannot be (its refresh is at 15.86).
    steep = 0.015
    points = [(0, RefreshWindow(10.24, 15.0)), (769, RefreshWindow(11.36, 16.15)), (976, RefreshWindow(11.58, 16.46))]
    found = pass_line(points, 57, PERIOD)
    assert found is None or holds_phase(found, 15.0 + 57 * steep)
