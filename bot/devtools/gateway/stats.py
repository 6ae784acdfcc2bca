"""Counters that tests and benchmarks read: requests per route and per-task poll statistics."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass

from bot.devtools.gateway.tasks import Phase, SimTask, TaskRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskStats:
    """One task's history on the simulator clock (seconds, same scale as the injected clock)."""

    task_id: str
    format: str
    model: str
    status: Phase
    lost: bool
    polls: int
    downloads: int
    created_at: float
    first_refresh_at: float
    terminal_at: float
    completed_at: float | None
    first_poll_terminal_at: float | None

    @classmethod
    def of(cls, registry: TaskRegistry, task: SimTask) -> TaskStats:
        """Describe `task` as of the registry's clock."""
        schedule = registry.schedule
        snapshot = registry.snapshot(task)
        terminal_at = schedule.terminal_at(task)
        return cls(
            task_id=task.task_id,
            format=str(task.fmt),
            model=task.model,
            status=snapshot.phase,
            lost=task.lost,
            polls=task.polls,
            downloads=task.downloads,
            created_at=task.created,
            first_refresh_at=schedule.first_refresh_at(task),
            terminal_at=terminal_at,
            completed_at=terminal_at if snapshot.phase is Phase.SUCCEEDED else None,
            first_poll_terminal_at=task.first_poll_terminal_at,
        )

    def to_json(self) -> dict[str, object]:
        """Return the stats as JSON-ready data."""
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        return data


class Stats:
    """Request counters since start (or the last `reset`)."""

    def __init__(self) -> None:
        """Start with every counter at zero."""
        self.requests: Counter[str] = Counter()
        self.route_classes: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()

    def record(self, route: str, route_class: str) -> None:
        """Count one request to `route` (for example `GET /v1/videos/{task_id}`)."""
        self.requests[route] += 1
        self.route_classes[route_class] += 1

    def record_status(self, status: int) -> None:
        """Count one answer with HTTP `status`."""
        self.statuses[status] += 1

    def reset(self) -> None:
        """Zero every request counter (task counters live on the tasks)."""
        self.requests.clear()
        self.route_classes.clear()
        self.statuses.clear()

    def to_json(self, registry: TaskRegistry) -> dict[str, object]:
        """Return the counters plus a summary of the tasks as JSON-ready data."""
        phases: Counter[str] = Counter(str(registry.snapshot(task).phase) for task in registry)
        return {
            "requests": dict(self.requests),
            "route_classes": dict(self.route_classes),
            "statuses": {str(status): count for status, count in self.statuses.items()},
            "tasks": {"total": len(registry), "by_status": dict(phases)},
            "clock": registry.now(),
        }
