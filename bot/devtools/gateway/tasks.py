"""The simulated task store and the refresh schedule that decides what a poll may see.

Like the real gateway's background poller, the stored state of a task only changes when it is refreshed.
Three tick models say when (`TickModel`):

* `spaced` (the default): task number `seq` is refreshed at `origin + (seq * spacing) % tick + k * tick` for
  every integer `k`, so the visible state at time `t` is a pure function of the creation time and the last
  refresh at or before `t`: nothing runs in the background and a thousand tasks cost nothing until they are read.
* `global`: the same with no spacing: every task is refreshed at the same instant of each tick.
* `drifting`: new-api's own loop (`service/task_polling.go`). A pass over the unfinished tasks starts `tick`
  seconds after the previous pass *ended*; it takes the tasks created before it started, in creation order, one
  every `spacing` seconds, so a pass lasts `spacing` seconds per unfinished task and the gap between passes
  grows and shrinks with the load. Passes are worked out lazily, up to the time of the read.
"""

from __future__ import annotations

import bisect
import logging
import math
import secrets
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.devtools.gateway.clock import Clock

log = logging.getLogger(__name__)

_ID_ALPHABET = string.ascii_letters + string.digits
MAX_RUNNING_PROGRESS = 90


class TaskFormat(StrEnum):
    """Which create route made a task."""

    OPENAI = "openai"
    UNIFIED = "unified"


class Phase(StrEnum):
    """Stored task state, spelled like the gateway's internal status (seen in content-route errors)."""

    NOT_STARTED = "NOT_START"
    RUNNING = "IN_PROGRESS"
    SUCCEEDED = "SUCCESS"
    FAILED = "FAILURE"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why and when a doomed task fails: at `at_fraction` of its run time."""

    reason: str
    code: str
    at_fraction: float = 1.0


@dataclass(slots=True)
class SimTask:
    """One task as the gateway stores it, plus the counters the tests read."""

    task_id: str
    fmt: TaskFormat
    owner: str
    model: str
    prompt: str
    size: str
    seconds: str
    created: float
    created_wall: int
    seq: int
    offset: float
    run_seconds: float
    failure: Failure | None = None
    lose_after_polls: int | None = None
    lost: bool = False
    no_video: bool = False  # finishes "completed" with no video, as a provider's filtered result does
    detail: dict[str, object] = field(default_factory=dict)
    polls: int = 0
    downloads: int = 0
    first_poll_terminal_at: float | None = None

    @property
    def terminal_after(self) -> float:
        """Seconds after creation at which the task has reached its final state."""
        if self.failure is None:
            return self.run_seconds
        return self.run_seconds * min(max(self.failure.at_fraction, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the last refresh stored: phase, coarse progress and when the phase last changed."""

    phase: Phase
    progress: int
    changed_at: float

    @property
    def terminal(self) -> bool:
        """Tell whether the stored state is final."""
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)


class TickModel(StrEnum):
    """When the gateway's loop refreshes each task (see the module docstring)."""

    SPACED = "spaced"
    GLOBAL = "global"
    DRIFTING = "drifting"


class RefreshSchedule(Protocol):
    """What the registry and the stats need to know of a refresh timetable."""

    def offset_for(self, seq: int) -> float:
        """Return the stable offset inside a tick of task number `seq` (0 when it has none)."""
        ...

    def track(self, task: SimTask) -> None:
        """Take note of a task just created."""
        ...

    def snapshot(self, task: SimTask, now: float) -> Snapshot:
        """Return the state the last refresh at or before `now` stored for `task`."""
        ...

    def terminal_at(self, task: SimTask) -> float:
        """Return the clock time of the refresh that makes the task final."""
        ...

    def first_refresh_at(self, task: SimTask) -> float:
        """Return the clock time of the task's first refresh."""
        ...


def make_schedule(model: TickModel, origin: float, tick: float, spacing: float) -> RefreshSchedule:
    """The refresh timetable of one tick model; `tick == 0` means every read refreshes, whatever the model."""
    if model is TickModel.DRIFTING and tick > 0:
        return DriftingSchedule(origin, tick, spacing)
    return Schedule(origin, tick, 0.0 if model is TickModel.GLOBAL else spacing)


@dataclass(frozen=True, slots=True)
class Schedule:
    """The poller's refresh timetable; `tick == 0` means every read refreshes (instant mode)."""

    origin: float
    tick: float
    spacing: float

    def track(self, task: SimTask) -> None:
        """Nothing to note: a task's refreshes follow from its own offset."""

    def offset_for(self, seq: int) -> float:
        """Return the stable offset inside a tick at which task number `seq` is refreshed."""
        return (seq * self.spacing) % self.tick if self.tick > 0 else 0.0

    def snapshot(self, task: SimTask, now: float) -> Snapshot:
        """Return the state the last refresh at or before `now` stored for `task`."""
        if self.tick <= 0:
            return self._instant(task, now)
        first = self._first_index(task)
        current = math.floor((now - self._base(task)) / self.tick)
        if current < first:
            return Snapshot(Phase.NOT_STARTED, 0, task.created)
        done = self._done_index(task)
        if current >= done:
            return self._terminal(task, self._time(task, done))
        elapsed = self._time(task, current) - task.created
        return Snapshot(Phase.RUNNING, running_progress(elapsed, task.run_seconds), self._time(task, first))

    def terminal_at(self, task: SimTask) -> float:
        """Return the clock time of the refresh that makes the task final."""
        if self.tick <= 0:
            return task.created + task.terminal_after
        return self._time(task, self._done_index(task))

    def first_refresh_at(self, task: SimTask) -> float:
        """Return the clock time of the task's first refresh."""
        if self.tick <= 0:
            return task.created
        return self._time(task, self._first_index(task))

    def _instant(self, task: SimTask, now: float) -> Snapshot:
        elapsed = now - task.created
        if elapsed < 0:
            return Snapshot(Phase.NOT_STARTED, 0, task.created)
        if elapsed >= task.terminal_after:
            return self._terminal(task, task.created + task.terminal_after)
        return Snapshot(Phase.RUNNING, running_progress(elapsed, task.run_seconds), task.created)

    @staticmethod
    def _terminal(task: SimTask, when: float) -> Snapshot:
        phase = Phase.FAILED if task.failure is not None else Phase.SUCCEEDED
        return Snapshot(phase, 100, when)

    def _base(self, task: SimTask) -> float:
        return self.origin + task.offset

    def _time(self, task: SimTask, index: int) -> float:
        return self._base(task) + index * self.tick

    def _first_index(self, task: SimTask) -> int:
        return math.floor((task.created - self._base(task)) / self.tick) + 1

    def _done_index(self, task: SimTask) -> int:
        due = math.ceil((task.created + task.terminal_after - self._base(task)) / self.tick)
        return max(self._first_index(task), due)


class DriftingSchedule:
    """new-api's end-to-start loop: passes over the unfinished tasks, one task every `spacing` seconds."""

    def __init__(self, origin: float, tick: float, spacing: float) -> None:
        """Start the loop at `origin`: its first pass begins one `tick` later, as the gateway sleeps first."""
        self.tick = tick
        self.spacing = spacing
        self._tasks: list[SimTask] = []
        self._next_pass = origin + tick
        self._refreshes: dict[int, list[float]] = {}
        self._done: dict[int, float] = {}

    def offset_for(self, seq: int) -> float:
        """Return 0: a task's place in a pass depends on the tasks still unfinished, not on its number."""
        return 0.0

    def track(self, task: SimTask) -> None:
        """Queue the task for the passes that start after its creation."""
        self._tasks.append(task)
        self._refreshes[task.seq] = []

    def snapshot(self, task: SimTask, now: float) -> Snapshot:
        """Return the state the last refresh at or before `now` stored for `task`."""
        self._run_passes(now)
        refreshes = self._refreshes.get(task.seq, [])
        seen = bisect.bisect_right(refreshes, now)
        if seen == 0:
            return Snapshot(Phase.NOT_STARTED, 0, task.created)
        done = self._done.get(task.seq)
        if done is not None and done <= now:
            return Schedule._terminal(task, done)
        elapsed = refreshes[seen - 1] - task.created
        return Snapshot(Phase.RUNNING, running_progress(elapsed, task.run_seconds), refreshes[0])

    def terminal_at(self, task: SimTask) -> float:
        """Return the clock time of the refresh that makes the task final (later passes assume no new tasks)."""
        return self._foresee(task)[1]

    def first_refresh_at(self, task: SimTask) -> float:
        """Return the clock time of the task's first refresh (later passes assume no new tasks)."""
        return self._foresee(task)[0]

    def _run_passes(self, now: float) -> None:
        while self._next_pass <= now:
            self._next_pass = self._pass(self._next_pass, self._done, self._refreshes)

    def _pass(self, start: float, done: dict[int, float], refreshes: dict[int, list[float]] | None) -> float:
        """Refresh the tasks due in the pass starting at `start`; return when the next pass starts."""
        due = [t for t in self._tasks if t.created < start and t.seq not in done]
        for place, task in enumerate(due):
            at = start + place * self.spacing
            if refreshes is not None:
                refreshes[task.seq].append(at)
            if at - task.created >= task.terminal_after:
                done[task.seq] = at
        return start + len(due) * self.spacing + self.tick

    def _foresee(self, task: SimTask) -> tuple[float, float]:
        """The first and the final refresh of a task, running passes beyond the last read on a copy."""
        known = self._refreshes.get(task.seq, [])
        if task.seq in self._done:
            return known[0], self._done[task.seq]
        done = dict(self._done)
        future: dict[int, list[float]] = {t.seq: [] for t in self._tasks}
        start = self._next_pass
        while task.seq not in done:
            start = self._pass(start, done, future)
        return (known or future[task.seq])[0], done[task.seq]


def running_progress(elapsed: float, run_seconds: float) -> int:
    """Coarse sora-style progress: elapsed share rounded to a step of 10, never 100 before the end."""
    if run_seconds <= 0:
        return MAX_RUNNING_PROGRESS
    tens = math.floor(elapsed / run_seconds * 10 + 0.5)
    return min(max(tens * 10, 0), MAX_RUNNING_PROGRESS)


def new_openai_id() -> str:
    """Return a public task id like the gateway's `model.GenerateTaskID`."""
    return "task_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def new_unified_id() -> str:
    """Return a veo-style unified id."""
    return f"video_{uuid.uuid4()}"


class TaskRegistry:
    """All tasks of one simulator, keyed by public id."""

    def __init__(self, schedule: RefreshSchedule, clock: Clock) -> None:
        """Store tasks on `schedule`, reading time from `clock`."""
        self.schedule = schedule
        self._clock = clock
        self._wall_offset = time.time() - clock()
        self._tasks: dict[str, SimTask] = {}
        self._seq = 0

    def __len__(self) -> int:
        """Return how many tasks were created."""
        return len(self._tasks)

    def __iter__(self) -> Iterator[SimTask]:
        """Iterate over every task ever created."""
        return iter(list(self._tasks.values()))

    def now(self) -> float:
        """Return the simulator clock."""
        return self._clock()

    def wall(self, when: float) -> float:
        """Convert a simulator clock reading to unix seconds."""
        return self._wall_offset + when

    def create(
        self,
        fmt: TaskFormat,
        *,
        owner: str,
        model: str,
        prompt: str,
        size: str,
        seconds: str,
        run_seconds: float,
        failure: Failure | None = None,
        lose_after_polls: int | None = None,
        no_video: bool = False,
        detail: dict[str, object] | None = None,
    ) -> SimTask:
        """Store a new task created now and return it."""
        now = self.now()
        task_id = new_openai_id() if fmt is TaskFormat.OPENAI else new_unified_id()
        task = SimTask(
            task_id=task_id,
            fmt=fmt,
            owner=owner,
            model=model,
            prompt=prompt,
            size=size,
            seconds=seconds,
            created=now,
            created_wall=int(self.wall(now)),
            seq=self._seq,
            offset=self.schedule.offset_for(self._seq),
            run_seconds=run_seconds,
            failure=failure,
            no_video=no_video,
            lose_after_polls=lose_after_polls,
            detail=detail or {},
        )
        self._seq += 1
        self._tasks[task_id] = task
        self.schedule.track(task)
        log.info("created %s task %s (model %s, fails=%s)", fmt, task_id, model, failure is not None)
        return task

    def get(self, task_id: str, owner: str | None = None) -> SimTask | None:
        """Return the task with this id, if it exists and belongs to `owner` (any owner when None)."""
        task = self._tasks.get(task_id)
        if task is None or (owner is not None and task.owner != owner):
            return None
        return task

    def snapshot(self, task: SimTask) -> Snapshot:
        """Return the task's visible state now."""
        return self.schedule.snapshot(task, self.now())

    def lose(self, task_id: str) -> bool:
        """Make a task vanish from polls and downloads; return whether it existed."""
        task = self._tasks.get(task_id)
        if task is None:
            return False
        task.lost = True
        log.info("task %s is now lost", task_id)
        return True
