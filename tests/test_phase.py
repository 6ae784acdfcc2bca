"""Refresh-phase learning and poll scheduling, including a seeded simulation of a 15 s gateway refresh loop."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from bot.services.phase import (
    MARGIN_SECONDS,
    REPORTED_SLACK_SECONDS,
    PollTiming,
    RefreshWindow,
    first_window,
    learn,
    next_poll,
)

PERIOD = 15.0
TIMING = PollTiming(period=PERIOD, min_interval=5.0, max_interval=30.0)


def holds_phase(window: RefreshWindow, refresh: float, period: float = PERIOD) -> bool:
    """Whether ``window`` contains ``refresh`` shifted by some whole number of periods."""
    k = math.ceil((window.start - refresh) / period)
    candidate = refresh + k * period
    if candidate <= window.start:
        candidate += period
    return candidate <= window.end


def test_first_window_spans_one_period() -> None:
    assert first_window(100.0, PERIOD) == RefreshWindow(100.0, 115.0)


def test_shifted_after_moves_by_whole_periods() -> None:
    window = RefreshWindow(10.0, 12.0)
    assert window.shifted_after(11.0, PERIOD) is window
    assert window.shifted_after(12.0, PERIOD) == RefreshWindow(25.0, 27.0)
    assert window.shifted_after(50.0, PERIOD) == RefreshWindow(55.0, 57.0)
    assert window.width == 2.0


def test_change_narrows_to_the_observed_span() -> None:
    assert learn(RefreshWindow(0.0, 15.0), 0.0, 7.5, changed=True, period=PERIOD) == RefreshWindow(0.0, 7.5)


def test_changes_intersect_across_periods() -> None:
    window = learn(RefreshWindow(0.0, 15.0), 0.0, 7.5, changed=True, period=PERIOD)
    window = learn(window, 14.0, 18.0, changed=True, period=PERIOD)
    assert window == RefreshWindow(15.0, 18.0)
    window = learn(window, 46.0, 50.0, changed=True, period=PERIOD)
    assert window == RefreshWindow(46.0, 48.0)


def test_quiet_poll_cuts_the_start() -> None:
    assert learn(RefreshWindow(10.0, 20.0), 5.0, 14.0, changed=False, period=PERIOD) == RefreshWindow(14.0, 20.0)


def test_quiet_poll_cuts_the_end() -> None:
    assert learn(RefreshWindow(10.0, 20.0), 16.0, 25.0, changed=False, period=PERIOD) == RefreshWindow(10.0, 16.0)


def test_quiet_poll_cuts_a_window_a_period_away() -> None:
    # The known window (10, 20] recurs as (25, 35]; a quiet (24, 29] rules out its first part.
    assert learn(RefreshWindow(10.0, 20.0), 24.0, 29.0, changed=False, period=PERIOD) == RefreshWindow(29.0, 35.0)


def test_quiet_poll_inside_the_window_changes_nothing() -> None:
    known = RefreshWindow(10.0, 20.0)
    assert learn(known, 12.0, 18.0, changed=False, period=PERIOD) == known


def test_quiet_span_of_a_whole_period_changes_nothing() -> None:
    known = RefreshWindow(10.0, 12.0)
    assert learn(known, 20.0, 40.0, changed=False, period=PERIOD) == known


def test_contradicting_change_resets_to_the_observation() -> None:
    # The window says a refresh lands in (25, 27]; a change in (20, 24] means the gateway's loop moved.
    assert learn(RefreshWindow(10.0, 12.0), 20.0, 24.0, changed=True, period=PERIOD) == RefreshWindow(20.0, 24.0)


def test_reported_whole_second_covers_the_second_after_it() -> None:
    # new-api truncates the write's time to the second: a change stamped 6 was written in [6, 7).
    window = learn(RefreshWindow(0.0, 15.0), 0.0, 7.5, changed=True, period=PERIOD, reported_at=6.0)
    assert window.start == pytest.approx(6.0, abs=0.01)
    assert window.end == pytest.approx(6.0 + REPORTED_SLACK_SECONDS)


def test_reported_milliseconds_are_taken_as_exact() -> None:
    window = learn(RefreshWindow(0.0, 15.0), 0.0, 7.5, changed=True, period=PERIOD, reported_at=6.2)
    assert window.start == pytest.approx(6.2, abs=0.01)
    assert window.end == pytest.approx(6.2, abs=0.01)


def test_reported_time_near_the_last_poll_stays_inside_the_span() -> None:
    # Stamped 3, written in [3, 4): a poll sent at 3.2 had not seen it, so the change came in (3.2, 4].
    window = learn(RefreshWindow(0.0, 15.0), 3.2, 7.5, changed=True, period=PERIOD, reported_at=3.0)
    assert window == RefreshWindow(3.2, 4.0)


@pytest.mark.parametrize("reported_at", [2.0, 9.0, 1_000_000.0, -50.0])
def test_reported_time_outside_the_span_is_ignored(reported_at: float) -> None:
    window = learn(RefreshWindow(0.0, 15.0), 3.0, 7.5, changed=True, period=PERIOD, reported_at=reported_at)
    assert window == RefreshWindow(3.0, 7.5)


def test_reported_time_without_a_change_is_ignored() -> None:
    known = RefreshWindow(10.0, 20.0)
    assert learn(known, 12.0, 18.0, changed=False, period=PERIOD, reported_at=15.0) == known


def test_period_zero_learns_nothing() -> None:
    known = RefreshWindow(1.0, 2.0)
    assert learn(known, 5.0, 9.0, changed=True, period=0.0) is known


def test_next_poll_probes_the_middle_of_a_wide_window() -> None:
    assert next_poll(0.0, first_window(0.0, PERIOD), TIMING) == pytest.approx(7.5)


def test_next_poll_goes_just_after_a_narrow_window() -> None:
    assert next_poll(0.0, RefreshWindow(11.0, 12.0), TIMING) == pytest.approx(12.0 + MARGIN_SECONDS)


def test_next_poll_uses_the_windows_next_occurrence() -> None:
    assert next_poll(20.0, RefreshWindow(11.0, 12.0), TIMING) == pytest.approx(27.0 + MARGIN_SECONDS)


def test_next_poll_keeps_the_minimum_interval() -> None:
    assert next_poll(10.0, RefreshWindow(10.5, 11.0), TIMING) == pytest.approx(15.0)


def test_next_poll_keeps_the_maximum_interval() -> None:
    timing = PollTiming(period=60.0, min_interval=1.0, max_interval=10.0)
    assert next_poll(0.0, RefreshWindow(40.0, 41.0), timing) == pytest.approx(10.0)


def test_slow_polls_at_the_maximum_interval() -> None:
    assert next_poll(100.0, RefreshWindow(101.0, 102.0), TIMING, slow=True) == 130.0


def test_period_zero_polls_at_the_minimum_interval() -> None:
    timing = PollTiming(period=0.0, min_interval=0.5, max_interval=3.0)
    assert next_poll(100.0, RefreshWindow(0.0, 0.0), timing) == 100.5


def test_next_poll_stays_within_bounds() -> None:
    rng = random.Random(20240611)
    for _ in range(5_000):
        period = rng.choice([0.0, 5.0, 15.0, 40.0])
        low = rng.uniform(0.1, 10.0)
        timing = PollTiming(period=period, min_interval=low, max_interval=low + rng.uniform(0.0, 40.0))
        now = rng.uniform(0.0, 10_000.0)
        start = now + rng.uniform(-500.0, 500.0)
        window = RefreshWindow(start, start + rng.uniform(0.01, 30.0))
        at = next_poll(now, window, timing, slow=rng.random() < 0.1)
        assert now + timing.min_interval - 1e-9 <= at <= now + timing.max_interval + 1e-9


def simulate(phase: float, *, duration: float = 20.0, reported: bool = False) -> tuple[int, float]:
    """Poll a task created at 0 whose refreshes land at ``phase + 15k``; every refresh is visible.

    Returns how many polls it took to see the result (the first refresh at or after ``duration``)
    and how late the poll that saw it came.
    """
    refreshes = [phase + PERIOD * k for k in range(10)]
    done_at = next(r for r in refreshes if r >= duration)
    window = first_window(0.0, PERIOD)
    last = 0.0
    at = next_poll(0.0, window, TIMING)
    polls = 0
    while True:
        polls += 1
        if at >= done_at:
            return polls, at - done_at
        seen = [r for r in refreshes if last < r <= at]
        latest = max((r for r in refreshes if r <= at), default=None)
        window = learn(window, last, at, changed=bool(seen), period=PERIOD, reported_at=latest if reported else None)
        last = at
        at = next_poll(at, window, TIMING)


def phases(seed: int, count: int = 1_000) -> list[float]:
    """Refresh offsets in (0, 15]: the first refresh comes within one period of the create."""
    rng = random.Random(seed)
    return [PERIOD - rng.random() * PERIOD for _ in range(count)]


def test_simulated_polls_and_lag_from_changes_alone() -> None:
    results = [simulate(phase) for phase in phases(seed=7)]
    lags = sorted(lag for _, lag in results)
    assert max(polls for polls, _ in results) <= 4
    assert lags[0] >= 0.0
    assert lags[int(0.95 * len(lags))] <= 6.0
    assert statistics.mean(lags) <= 4.0


def test_simulated_lag_with_reported_times() -> None:
    results = [simulate(phase, reported=True) for phase in phases(seed=11)]
    lags = sorted(lag for _, lag in results)
    assert max(polls for polls, _ in results) <= 4
    assert lags[int(0.95 * len(lags))] <= 3.0


def test_learned_window_keeps_the_phase_under_the_live_schedule() -> None:
    """While polls follow next_poll, every learned window still holds the true refresh phase."""
    for phase in phases(seed=3, count=300):
        refreshes = [phase + PERIOD * k for k in range(20)]
        window, last = first_window(0.0, PERIOD), 0.0
        for _ in range(12):
            at = next_poll(last, window, TIMING)
            changed = any(last < r <= at for r in refreshes)
            window = learn(window, last, at, changed=changed, period=PERIOD)
            assert holds_phase(window, phase), (phase, window)
            last = at


def test_change_overlapping_two_shifts_keeps_the_true_phase() -> None:
    # A refresh at 14.5 (phase 14.5) fits the known window (7.5, 15] and the change seen in (14, 23].
    window = learn(RefreshWindow(7.5, 15.0), 14.0, 23.0, changed=True, period=PERIOD)
    assert holds_phase(window, 14.5), window


def test_schedule_recovers_after_a_change_overlapping_two_shifts() -> None:
    refreshes = [14.5 + PERIOD * k for k in range(20)]
    last = 23.0
    window = learn(RefreshWindow(7.5, 15.0), 14.0, last, changed=True, period=PERIOD)
    lags = []
    for _ in range(8):
        at = next_poll(last, window, TIMING)
        seen = [r for r in refreshes if last < r <= at]
        if seen:
            lags.append(at - seen[-1])
        window = learn(window, last, at, changed=bool(seen), period=PERIOD)
        last = at
    assert lags[-1] <= 2.0, lags
