"""The simulator's tick models (when the gateway's loop refreshes each task) and its refresh hints."""

from __future__ import annotations

import pytest

from bot.devtools.gateway import ManualClock, SimulatorConfig
from bot.devtools.gateway.__main__ import config_from_args, parse_args
from bot.devtools.gateway.render import openai_video, unified_query
from bot.devtools.gateway.tasks import (
    DriftingSchedule,
    Phase,
    Schedule,
    SimTask,
    TaskFormat,
    TaskRegistry,
    TickModel,
    make_schedule,
)


def registry_of(model: TickModel, *, tick: float = 15.0, spacing: float = 1.0) -> tuple[TaskRegistry, ManualClock]:
    clock = ManualClock(0.0)
    return TaskRegistry(make_schedule(model, clock(), tick, spacing), clock), clock


def create(registry: TaskRegistry, model: str = "veo-3.1-fast-generate-preview", run: float = 20.0) -> SimTask:
    return registry.create(
        TaskFormat.OPENAI, owner="k", model=model, prompt="p", size="1280x720", seconds="8", run_seconds=run
    )


def test_global_refreshes_every_task_at_the_same_instant() -> None:
    registry, clock = registry_of(TickModel.GLOBAL)
    tasks = []
    for created in (1.0, 4.0, 9.5):
        clock.set(created)
        tasks.append(create(registry))
    assert {registry.schedule.first_refresh_at(task) for task in tasks} == {15.0}
    assert [registry.schedule.terminal_at(task) for task in tasks] == [30.0, 30.0, 30.0]


def test_spaced_is_the_default_and_unchanged() -> None:
    assert SimulatorConfig().tick_model is TickModel.SPACED
    assert make_schedule(TickModel.SPACED, 0.0, 15.0, 1.0) == Schedule(0.0, 15.0, 1.0)
    assert make_schedule(TickModel.DRIFTING, 0.0, 0.0, 1.0) == Schedule(0.0, 0.0, 1.0)  # instant mode stays instant


def test_drifting_passes_start_a_tick_after_the_previous_pass_ended() -> None:
    registry, clock = registry_of(TickModel.DRIFTING, spacing=1.0)
    clock.set(2.0)
    first, second, third = create(registry), create(registry), create(registry, run=40.0)
    # Pass 1 starts at 15 and takes the three in creation order, one a second: it ends at 18, so pass 2 starts at
    # 33 and ends at 36. The first two are done in it (20 s); pass 3, at 51, has only the third left.
    assert [registry.schedule.first_refresh_at(t) for t in (first, second, third)] == [15.0, 16.0, 17.0]
    assert [registry.schedule.terminal_at(t) for t in (first, second, third)] == [33.0, 34.0, 51.0]


def test_drifting_gap_grows_with_the_load() -> None:
    light, light_clock = registry_of(TickModel.DRIFTING, spacing=1.0)
    heavy, heavy_clock = registry_of(TickModel.DRIFTING, spacing=1.0)
    light_clock.set(1.0)
    heavy_clock.set(1.0)
    watched_light = create(light, run=100.0)
    watched_heavy = create(heavy, run=100.0)
    for _ in range(9):
        create(heavy, run=100.0)
    light_clock.set(200.0)
    heavy_clock.set(200.0)
    # A pass over one task lasts 1 s, over ten tasks 10 s: the watched task is refreshed every 16 s or every 25 s.
    assert light.snapshot(watched_light).phase is Phase.SUCCEEDED
    assert light.schedule.terminal_at(watched_light) == 111.0
    assert heavy.schedule.terminal_at(watched_heavy) == 115.0


def test_drifting_state_changes_only_at_the_tasks_refreshes() -> None:
    registry, clock = registry_of(TickModel.DRIFTING, spacing=1.0)
    clock.set(2.0)
    create(registry)
    task = create(registry)  # second in the pass: refreshed at 16, then at 32 + 1 = 33
    seen = []
    for now in (15.5, 16.0, 32.9, 33.0):
        clock.set(now)
        seen.append(registry.snapshot(task))
    assert [s.phase for s in seen] == [Phase.NOT_STARTED, Phase.RUNNING, Phase.RUNNING, Phase.SUCCEEDED]
    assert seen[1].changed_at == 16.0
    assert seen[3].changed_at == 33.0


def test_drifting_looking_ahead_does_not_fix_later_passes() -> None:
    registry, clock = registry_of(TickModel.DRIFTING, spacing=1.0)
    clock.set(1.0)
    early = create(registry, run=40.0)
    assert registry.schedule.terminal_at(early) == 47.0  # passes at 15, 31 and 47, as things stand now
    clock.set(20.0)
    late = create(registry, run=1.0)  # joins the pass at 31, after the early task: that pass now lasts 2 s
    clock.set(100.0)
    assert registry.snapshot(late).phase is Phase.SUCCEEDED
    assert isinstance(registry.schedule, DriftingSchedule)
    assert registry.schedule.first_refresh_at(late) == 32.0
    assert registry.schedule.terminal_at(early) == 48.0


@pytest.mark.parametrize("hints", [True, False])
def test_refresh_hints_can_be_left_out(hints: bool) -> None:
    registry, clock = registry_of(TickModel.GLOBAL)
    clock.set(1.0)
    task = create(registry)
    clock.set(16.0)
    config = SimulatorConfig(refresh_hints=hints)
    snapshot = registry.snapshot(task)
    openai = openai_video(task, snapshot, registry, config, "http://sim")
    unified = unified_query(task, snapshot, registry, config, "http://sim")
    assert ("completed_at" in openai) is hints
    assert ("status_update_time" in unified) is hints
    clock.set(31.0)
    assert "completed_at" in openai_video(task, registry.snapshot(task), registry, config, "http://sim")


def test_command_line_selects_the_tick_model_and_the_hints() -> None:
    config = config_from_args(parse_args(["--tick-model", "drifting", "--no-refresh-hints"]))
    assert (config.tick_model, config.refresh_hints) == (TickModel.DRIFTING, False)
    default = config_from_args(parse_args([]))
    assert (default.tick_model, default.refresh_hints) == (TickModel.SPACED, True)
