"""The usage chart of /video-admin server report: credits spent per day this month, stacked by model, as a PNG.

Drawn for Discord's dark theme. Member names are not drawn (they may need fonts this machine lacks): the embed
lists the top members instead.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from bot.services.periods import Periods

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DAY_SECONDS: Final = 86_400.0
FILENAME: Final = "usage.png"

# Discord's dark theme, and colours that stay apart on it (blurple, green, yellow, fuchsia, red, then softer ones).
BACKGROUND: Final = "#313338"
TEXT: Final = "#dbdee1"
GRID: Final = "#4e5058"
POOL: Final = "#ed4245"
CUMULATIVE: Final = "#ffffff"
PALETTE: Final = ("#5865f2", "#57f287", "#fee75c", "#eb459e", "#f0883e", "#00b0f4", "#b9bbbe", "#9b84ec")
OTHER: Final = "other models"


@dataclass(frozen=True, slots=True)
class DailySpending:
    """Credits spent on each day of one month, per model (models with the most spending first)."""

    day_starts: tuple[float, ...]
    by_model: dict[str, tuple[float, ...]]
    pool: float
    """The server's monthly pool; 0 means it has none."""
    today: int
    """The index of the day that holds ``now`` (the cumulative line stops there)."""

    @property
    def total(self) -> float:
        """Everything spent this month."""
        return sum(sum(days) for days in self.by_model.values())


def daily_spending(
    spending: Sequence[tuple[float, str, float]], periods: Periods, pool: float, now: float
) -> DailySpending:
    """Count ``(when, model, credits)`` into the days of the month ``periods`` holds; the days start at the reset
    hour, like the daily allowance. Beyond the palette, the least-spending models are drawn together."""
    days = max(1, round((periods.month_end - periods.month_start) / DAY_SECONDS))
    starts = tuple(periods.month_start + day * DAY_SECONDS for day in range(days))
    sums: defaultdict[str, list[float]] = defaultdict(lambda: [0.0] * days)
    for when, model, credits in spending:
        day = int((when - periods.month_start) // DAY_SECONDS)
        if 0 <= day < days:
            sums[model][day] += credits
    ranked = sorted(sums, key=lambda model: (-sum(sums[model]), model))
    if len(ranked) > len(PALETTE):
        kept, rest = ranked[: len(PALETTE) - 1], ranked[len(PALETTE) - 1 :]
        other = [sum(sums[model][day] for model in rest) for day in range(days)]
        by_model = {model: tuple(sums[model]) for model in kept} | {OTHER: tuple(other)}
    else:
        by_model = {model: tuple(sums[model]) for model in ranked}
    today = min(days - 1, max(0, int((now - periods.month_start) // DAY_SECONDS)))
    return DailySpending(day_starts=starts, by_model=by_model, pool=pool, today=today)


def render_png(usage: DailySpending) -> bytes:
    """Draw the chart: bars per day stacked by model on the left axis; the month's running total and the monthly
    pool as lines on the right axis. Blocking (about a tenth of a second): run it in a thread."""
    # Imported here: matplotlib costs about 30 MB, which a bot whose admins never ask for a report should not pay.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 5), dpi=100, facecolor=BACKGROUND)
    bars = figure.add_subplot()
    _dark(bars)
    positions = list(range(1, len(usage.day_starts) + 1))
    bottom = [0.0] * len(positions)
    for colour, (model, spent) in zip(PALETTE, usage.by_model.items(), strict=False):
        bars.bar(positions, spent, bottom=bottom, color=colour, label=model, width=0.8, zorder=3)
        bottom = [below + here for below, here in zip(bottom, spent, strict=True)]
    first = datetime.fromtimestamp(usage.day_starts[0], UTC)
    bars.set_title(f"Credits spent per day since {first.day} {first:%B %Y}", color=TEXT, loc="left")
    bars.set_ylabel("credits per day", color=TEXT)
    bars.set_xlabel("day of the period", color=TEXT)
    bars.set_xlim(0.4, len(positions) + 0.6)
    bars.set_xticks(positions[::2] if len(positions) > 16 else positions)
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.grid(axis="y", color=GRID, linewidth=0.6, zorder=0)

    running = bars.twinx()
    _dark(running)
    total, cumulative = 0.0, []
    for day in range(usage.today + 1):
        total += sum(spent[day] for spent in usage.by_model.values())
        cumulative.append(total)
    running.plot(positions[: usage.today + 1], cumulative, color=CUMULATIVE, linewidth=2, label="spent so far")
    top = max(total, usage.pool, 1.0)
    if usage.pool > 0:
        running.axhline(usage.pool, color=POOL, linestyle="--", linewidth=1.5, label=f"monthly pool ({usage.pool:g})")
    running.set_ylim(0, top * 1.1)
    running.set_ylabel("credits this month", color=TEXT)

    if not usage.by_model:
        bars.text(0.5, 0.5, "Nothing spent yet", transform=bars.transAxes, ha="center", color=TEXT, fontsize=14)
        bars.set_ylim(0, 1)
    # Under the chart, where no bar or line can cover it.
    handles = [*bars.get_legend_handles_labels()[0], *running.get_legend_handles_labels()[0]]
    legend = figure.legend(
        handles=handles, loc="lower center", ncol=3, fontsize=8, facecolor=BACKGROUND, edgecolor=BACKGROUND
    )
    for text in legend.get_texts():
        text.set_color(TEXT)
    rows = -(-len(handles) // 3)
    figure.tight_layout(rect=(0, 0.05 * rows + 0.02, 1, 1))
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor=BACKGROUND)
    return out.getvalue()


def _dark(axes: Axes) -> None:
    """Colour one set of axes for the dark theme."""
    axes.set_facecolor(BACKGROUND)
    axes.tick_params(colors=TEXT, which="both")
    for spine in axes.spines.values():
        spine.set_color(GRID)
