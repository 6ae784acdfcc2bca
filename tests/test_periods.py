"""Quota periods: the day that starts at QUOTA_RESET_HOUR_UTC and the month that starts on QUOTA_RESET_DAY."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import ErrorKind
from bot.services.periods import Periods, current_periods
from tests.helpers import FakeClock
from tests.quotarig import GUILD, USER, Rig, fail, make_settings, open_rig, refused, submit, succeed, usage


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp()


def periods(day_start: float, day_end: float, month_start: float, month_end: float) -> Periods:
    return Periods(day_start=day_start, day_end=day_end, month_start=month_start, month_end=month_end)


# --- The day ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "reset_hour", "day_start", "day_end"),
    [
        pytest.param(at(2025, 3, 10, 5, 59, 59), 6, at(2025, 3, 9, 6), at(2025, 3, 10, 6), id="6h-just-before"),
        pytest.param(at(2025, 3, 10, 5, 59, 59, 999_999), 6, at(2025, 3, 9, 6), at(2025, 3, 10, 6), id="6h-last-us"),
        pytest.param(at(2025, 3, 10, 6), 6, at(2025, 3, 10, 6), at(2025, 3, 11, 6), id="6h-on-the-dot"),
        pytest.param(at(2025, 3, 10, 6, 0, 1), 6, at(2025, 3, 10, 6), at(2025, 3, 11, 6), id="6h-just-after"),
        pytest.param(at(2025, 3, 10, 23, 59, 59), 6, at(2025, 3, 10, 6), at(2025, 3, 11, 6), id="6h-before-midnight"),
        pytest.param(at(2025, 3, 10, 23, 59, 59), 0, at(2025, 3, 10), at(2025, 3, 11), id="0h-just-before"),
        pytest.param(at(2025, 3, 11), 0, at(2025, 3, 11), at(2025, 3, 12), id="0h-on-the-dot"),
        pytest.param(at(2025, 3, 10, 22, 59, 59), 23, at(2025, 3, 9, 23), at(2025, 3, 10, 23), id="23h-before"),
        pytest.param(at(2025, 3, 10, 23), 23, at(2025, 3, 10, 23), at(2025, 3, 11, 23), id="23h-on-the-dot"),
        pytest.param(at(2025, 3, 1, 3), 6, at(2025, 2, 28, 6), at(2025, 3, 1, 6), id="6h-across-month-end"),
        pytest.param(at(2024, 3, 1, 3), 6, at(2024, 2, 29, 6), at(2024, 3, 1, 6), id="6h-leap-day"),
        pytest.param(at(2026, 1, 1, 5), 6, at(2025, 12, 31, 6), at(2026, 1, 1, 6), id="6h-across-new-year"),
    ],
)
def test_day_boundary(now: float, reset_hour: int, day_start: float, day_end: float) -> None:
    found = current_periods(now, reset_hour, 1)
    assert (found.day_start, found.day_end) == (day_start, day_end)


# --- The month -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "reset_hour", "reset_day", "month_start", "month_end"),
    [
        pytest.param(at(2025, 3, 15, 5, 59, 59), 6, 15, at(2025, 2, 15, 6), at(2025, 3, 15, 6), id="day15-just-before"),
        pytest.param(at(2025, 3, 15, 6), 6, 15, at(2025, 3, 15, 6), at(2025, 4, 15, 6), id="day15-on-the-dot"),
        pytest.param(at(2025, 3, 14, 23), 6, 15, at(2025, 2, 15, 6), at(2025, 3, 15, 6), id="day15-the-day-before"),
        pytest.param(at(2025, 3, 31, 12), 6, 15, at(2025, 3, 15, 6), at(2025, 4, 15, 6), id="day15-month-end"),
        pytest.param(at(2025, 3, 31, 23, 59, 59), 0, 1, at(2025, 3, 1), at(2025, 4, 1), id="day1-just-before"),
        pytest.param(at(2025, 4, 1), 0, 1, at(2025, 4, 1), at(2025, 5, 1), id="day1-on-the-dot"),
        pytest.param(at(2025, 12, 31, 23, 59, 59), 0, 1, at(2025, 12, 1), at(2026, 1, 1), id="dec-to-jan-before"),
        pytest.param(at(2026, 1, 1), 0, 1, at(2026, 1, 1), at(2026, 2, 1), id="dec-to-jan-on-the-dot"),
        pytest.param(at(2026, 1, 1, 5, 59, 59), 6, 1, at(2025, 12, 1, 6), at(2026, 1, 1, 6), id="jan-1-before-hour"),
        pytest.param(at(2026, 1, 5), 0, 10, at(2025, 12, 10), at(2026, 1, 10), id="early-jan-is-december"),
        pytest.param(at(2025, 12, 20), 0, 10, at(2025, 12, 10), at(2026, 1, 10), id="late-dec-ends-in-jan"),
        pytest.param(at(2025, 1, 10, 5), 6, 10, at(2024, 12, 10, 6), at(2025, 1, 10, 6), id="jan-reset-day-early"),
        pytest.param(at(2025, 2, 28, 12), 0, 28, at(2025, 2, 28), at(2025, 3, 28), id="day28-in-february"),
        pytest.param(at(2024, 2, 29, 12), 0, 28, at(2024, 2, 28), at(2024, 3, 28), id="day28-leap-day"),
        pytest.param(at(2025, 3, 1), 0, 28, at(2025, 2, 28), at(2025, 3, 28), id="day28-march-1"),
    ],
)
def test_month_boundary(now: float, reset_hour: int, reset_day: int, month_start: float, month_end: float) -> None:
    found = current_periods(now, reset_hour, reset_day)
    assert (found.month_start, found.month_end) == (month_start, month_end)


def test_periods_as_a_whole() -> None:
    assert current_periods(at(2025, 3, 15, 5, 59, 59), 6, 15) == periods(
        at(2025, 3, 14, 6), at(2025, 3, 15, 6), at(2025, 2, 15, 6), at(2025, 3, 15, 6)
    )
    assert current_periods(at(2025, 3, 15, 6), 6, 15) == periods(
        at(2025, 3, 15, 6), at(2025, 3, 16, 6), at(2025, 3, 15, 6), at(2025, 4, 15, 6)
    )


@pytest.mark.parametrize(("reset_hour", "reset_day"), [(0, 1), (6, 15), (23, 28), (12, 1)])
def test_periods_hold_their_invariants_over_two_years(reset_hour: int, reset_day: int) -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(hours=7, minutes=13, seconds=17)
    previous: Periods | None = None
    while moment < datetime(2026, 1, 1, tzinfo=UTC):
        now = moment.timestamp()
        found = current_periods(now, reset_hour, reset_day)
        assert found.day_start <= now < found.day_end
        assert found.day_end - found.day_start == 86_400
        day_start = datetime.fromtimestamp(found.day_start, UTC)
        assert (day_start.hour, day_start.minute, day_start.second) == (reset_hour, 0, 0)
        assert found.month_start <= now < found.month_end
        month_start = datetime.fromtimestamp(found.month_start, UTC)
        month_end = datetime.fromtimestamp(found.month_end, UTC)
        assert (month_start.day, month_start.hour, month_start.minute) == (reset_day, reset_hour, 0)
        assert (month_end.day, month_end.hour) == (reset_day, reset_hour)
        assert (month_end.year * 12 + month_end.month) - (month_start.year * 12 + month_start.month) == 1
        # A day never straddles the start of a month period.
        assert found.month_start <= found.day_start < found.day_end <= found.month_end
        if previous is not None:
            assert found.day_start >= previous.day_start
            assert found.month_start >= previous.month_start
        previous = found
        moment += step


# --- Usage counted against the right period, as the injected clock crosses a boundary ------------------------


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    opened: list[Rig] = []

    async def make(now: float, **env: str | float) -> Rig:
        rig = await open_rig(tmp_path / f"db{len(opened)}.sqlite3", FakeClock(now), make_settings(**env))
        opened.append(rig)
        return rig

    yield make
    for rig in opened:
        await rig.db.close()


@pytest.mark.parametrize(
    ("reset_hour", "yesterday", "just_before", "reset"),
    [
        pytest.param(0, at(2025, 3, 9, 23, 59), at(2025, 3, 9, 23, 59, 59), at(2025, 3, 10), id="midnight"),
        pytest.param(6, at(2025, 3, 10, 5, 59), at(2025, 3, 10, 5, 59, 59), at(2025, 3, 10, 6), id="six"),
        pytest.param(0, at(2025, 12, 31, 23, 59), at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1), id="new-year"),
    ],
)
async def test_yesterdays_reservation_does_not_count_today(
    make_rig: RigFactory, reset_hour: int, yesterday: float, just_before: float, reset: float
) -> None:
    rig = await make_rig(yesterday, QUOTA_USER_DAILY_CREDITS=4, QUOTA_RESET_HOUR_UTC=reset_hour)
    late = await submit(rig, 4)

    rig.clock.now = just_before
    refusal = await refused(rig, 4)
    assert refusal.reason == "daily allowance"
    assert f"Your allowance resets <t:{math.ceil(reset)}:R>" in refusal.user_message
    assert (await usage(rig)).user_today == 4

    rig.clock.now = reset
    status = await rig.quotas.status(GUILD, USER, ())
    assert status.periods.day_start == reset
    assert status.usage.user_today == 0
    early = await submit(rig, 4)
    assert (await usage(rig)).user_today == 4

    # Settling yesterday's job today changes nothing about today.
    await fail(rig, late, ErrorKind.TIMED_OUT)
    assert (await usage(rig)).user_today == 4
    await succeed(rig, early)
    assert (await usage(rig)).user_today == 4


async def test_server_daily_pool_starts_again_at_the_reset_hour(make_rig: RigFactory) -> None:
    rig = await make_rig(at(2025, 3, 10, 5, 30), QUOTA_GUILD_DAILY_CREDITS=8, QUOTA_RESET_HOUR_UTC=6)
    await submit(rig, 4, user_id=1)
    await submit(rig, 4, user_id=2)
    rig.clock.now = at(2025, 3, 10, 5, 59, 59)
    refusal = await refused(rig, 4, user_id=3)
    assert refusal.reason == "server daily pool"
    assert f"It resets <t:{math.ceil(at(2025, 3, 10, 6))}:R>" in refusal.user_message

    rig.clock.now = at(2025, 3, 10, 6)
    await submit(rig, 4, user_id=3)
    assert (await usage(rig)).guild_today == 4


@pytest.mark.parametrize(
    ("reset_day", "reset_hour", "last_month", "just_before", "reset", "next_reset"),
    [
        pytest.param(
            15,
            6,
            at(2025, 3, 10, 12),
            at(2025, 3, 15, 5, 59, 59),
            at(2025, 3, 15, 6),
            at(2025, 4, 15, 6),
            id="day15",
        ),
        pytest.param(
            1, 0, at(2025, 12, 31, 23, 59), at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1), at(2026, 2, 1), id="dec-jan"
        ),
    ],
)
async def test_server_monthly_pool_starts_again_on_the_reset_day(
    make_rig: RigFactory,
    reset_day: int,
    reset_hour: int,
    last_month: float,
    just_before: float,
    reset: float,
    next_reset: float,
) -> None:
    rig = await make_rig(
        last_month, QUOTA_GUILD_MONTHLY_CREDITS=8, QUOTA_RESET_DAY=reset_day, QUOTA_RESET_HOUR_UTC=reset_hour
    )
    await submit(rig, 4, user_id=1)
    await submit(rig, 4, user_id=2)

    rig.clock.now = just_before
    refusal = await refused(rig, 4, user_id=3)
    assert refusal.reason == "server monthly pool"
    assert f"It resets <t:{math.ceil(reset)}:R>" in refusal.user_message
    assert (await usage(rig)).guild_month == 8

    rig.clock.now = reset
    status = await rig.quotas.status(GUILD, USER, ())
    assert (status.periods.month_start, status.periods.month_end) == (reset, next_reset)
    assert status.usage.guild_month == 0
    await submit(rig, 4, user_id=3)
    await submit(rig, 4, user_id=4)
    assert (await refused(rig, 4, user_id=5)).reason == "server monthly pool"
