"""The usage chart: spending counted into the month's days, and a PNG readable on Discord's dark theme."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image

from bot.front import usage_chart
from bot.front.usage_chart import DAY_SECONDS, OTHER, PALETTE, daily_spending, render_png
from bot.services.periods import current_periods
from tests.helpers import rgb

# 15 March 2026, noon; the month starts on the 1st at 06:00 UTC.
NOW = datetime(2026, 3, 15, 12, tzinfo=UTC).timestamp()
PERIODS = current_periods(NOW, reset_hour=6, reset_day=1)
START = PERIODS.month_start


def test_spending_is_counted_into_days_that_start_at_the_reset_hour() -> None:
    spending = [
        (START + 10, "veo", 6.0),  # day 1, just after 06:00
        (START + DAY_SECONDS - 1, "veo", 4.0),  # day 1, just before the next 06:00
        (START + DAY_SECONDS, "kling", 5.0),  # day 2
        (START - 1, "veo", 100.0),  # last month: not drawn
        (PERIODS.month_end, "veo", 100.0),  # next month: not drawn
    ]
    usage = daily_spending(spending, PERIODS, pool=500, now=NOW)
    assert len(usage.day_starts) == 31  # March
    assert usage.by_model["veo"][:2] == (10.0, 0.0)
    assert usage.by_model["kling"][:2] == (0.0, 5.0)
    assert usage.total == 15.0
    assert usage.today == 14  # the 15th, at noon: after 06:00


def test_models_beyond_the_palette_are_drawn_together_and_the_biggest_come_first() -> None:
    models = [f"model-{n}" for n in range(len(PALETTE) + 3)]
    spending = [(START + 60, model, float(rank + 1)) for rank, model in enumerate(models)]
    usage = daily_spending(spending, PERIODS, pool=0, now=NOW)
    assert len(usage.by_model) == len(PALETTE)
    assert next(iter(usage.by_model)) == models[-1]  # the most spent on leads
    assert usage.by_model[OTHER][0] == 1.0 + 2.0 + 3.0 + 4.0  # the four smallest
    assert usage.total == sum(range(1, len(models) + 1))


def test_the_chart_is_a_dark_png_with_a_bar_per_model() -> None:
    spending = [(START + day * DAY_SECONDS + 60, "veo", 6.0) for day in range(10)]
    spending += [(START + day * DAY_SECONDS + 60, "kling", 3.0) for day in range(0, 10, 2)]
    png = render_png(daily_spending(spending, PERIODS, pool=200, now=NOW))
    opened = Image.open(io.BytesIO(png))
    assert opened.format == "PNG" and opened.size == (800, 500)
    image = opened.convert("RGB")
    assert image.getpixel((2, 2)) == rgb(usage_chart.BACKGROUND)
    colours = {colour for _count, colour in image.getcolors(maxcolors=800 * 500) or []}
    # Both models' bars and the pool line are there, in their colours.
    for drawn in (PALETTE[0], PALETTE[1], usage_chart.POOL):
        assert rgb(drawn) in colours, drawn


def test_an_empty_month_still_draws() -> None:
    png = render_png(daily_spending([], PERIODS, pool=0, now=NOW))
    assert Image.open(io.BytesIO(png)).format == "PNG"
