"""The objects every request handler shares, and how handlers find them and the caller."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from bot.devtools.gateway.clock import Sleep
from bot.devtools.gateway.config import SimulatorConfig, normalize_key
from bot.devtools.gateway.injection import Faults
from bot.devtools.gateway.stats import Stats
from bot.devtools.gateway.tasks import SimTask, TaskRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimState:
    """One simulator's configuration, task store, faults and counters."""

    config: SimulatorConfig
    tasks: TaskRegistry
    faults: Faults
    stats: Stats
    sleep: Sleep
    models: list[str]  # the models a channel serves; starts as config.models, changed by Simulator.serve_models


STATE = web.AppKey("reelbot_gateway_sim_state", SimState)


def bearer_key(request: web.Request) -> str:
    """Return the key of the `Authorization` header (empty when missing)."""
    header = request.headers.get("Authorization", "").strip()
    if header[:7].lower() == "bearer ":
        header = header[7:]
    return header.strip()


def owner_of(request: web.Request) -> str:
    """Return the normalised key that owns the tasks this request may see."""
    return normalize_key(bearer_key(request))


def origin_of(request: web.Request) -> str:
    """Return `scheme://host[:port]` as the client reached us, for absolute links."""
    return f"{request.scheme}://{request.host}"


def poll_task(state: SimState, task_id: str, owner: str) -> SimTask | None:
    """Count a poll of `task_id` and return the task unless it is unknown, foreign or lost."""
    task = state.tasks.get(task_id, owner)
    if task is None:
        return None
    gone = is_gone(task)
    task.polls += 1
    if gone:
        log.info("poll of lost task %s", task_id)
        return None
    return task


def is_gone(task: SimTask) -> bool:
    """Tell whether a task has vanished (lost on purpose, or polled as often as a lose fault allowed)."""
    return task.lost or (task.lose_after_polls is not None and task.polls >= task.lose_after_polls)
