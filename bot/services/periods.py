"""Quota periods: a day that starts at a chosen UTC hour, and a month that starts on a chosen day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Periods:
    """Where the current day and month periods start, and when the day ends, in unix seconds."""

    day_start: float
    day_end: float
    month_start: float
    month_end: float


def current_periods(now: float, reset_hour: int, reset_day: int) -> Periods:
    """The periods containing ``now``; the month starts on ``reset_day`` (1-28) at ``reset_hour`` (0-23) UTC."""
    moment = datetime.fromtimestamp(now, UTC)
    day_start = moment.replace(hour=reset_hour, minute=0, second=0, microsecond=0)
    if day_start > moment:
        day_start -= timedelta(days=1)
    month_start = moment.replace(day=reset_day, hour=reset_hour, minute=0, second=0, microsecond=0)
    if month_start > moment:
        month_start = _previous_month(month_start)
    return Periods(
        day_start=day_start.timestamp(),
        day_end=(day_start + timedelta(days=1)).timestamp(),
        month_start=month_start.timestamp(),
        month_end=_next_month(month_start).timestamp(),
    )


def _next_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return moment.replace(year=moment.year + 1, month=1)
    return moment.replace(month=moment.month + 1)


def _previous_month(moment: datetime) -> datetime:
    if moment.month == 1:
        return moment.replace(year=moment.year - 1, month=12)
    return moment.replace(month=moment.month - 1)
