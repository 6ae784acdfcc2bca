"""Simulator control endpoints under `/_sim/` (no auth; not part of the real gateway)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.devtools.gateway.injection import FaultSpec
from bot.devtools.gateway.state import STATE
from bot.devtools.gateway.stats import TaskStats

log = logging.getLogger(__name__)


def add_routes(app: web.Application) -> None:
    """Register the `/_sim/` control routes on `app`."""
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_post("/_sim/stats/reset", reset_stats)
    app.router.add_get("/_sim/tasks", list_tasks)
    app.router.add_get("/_sim/tasks/{task_id}", get_task)
    app.router.add_post("/_sim/tasks/{task_id}/lose", lose_task)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_get("/_sim/config", get_config)


async def get_stats(request: web.Request) -> web.Response:
    """Return request counters and a task summary; `?tasks=1` adds every task's stats."""
    state = request.app[STATE]
    body = state.stats.to_json(state.tasks)
    if request.query.get("tasks") in ("1", "true"):
        body["task_stats"] = [TaskStats.of(state.tasks, task).to_json() for task in state.tasks]
    return web.json_response(body)


async def reset_stats(request: web.Request) -> web.Response:
    """Zero the request counters."""
    state = request.app[STATE]
    state.stats.reset()
    return web.json_response(state.stats.to_json(state.tasks))


async def list_tasks(request: web.Request) -> web.Response:
    """Return the stats of every task."""
    state = request.app[STATE]
    return web.json_response({"tasks": [TaskStats.of(state.tasks, task).to_json() for task in state.tasks]})


async def get_task(request: web.Request) -> web.Response:
    """Return one task's stats (polls, downloads, refresh and completion times)."""
    state = request.app[STATE]
    task = state.tasks.get(request.match_info["task_id"])
    if task is None:
        return web.json_response({"error": "no such task"}, status=404)
    return web.json_response(TaskStats.of(state.tasks, task).to_json())


async def lose_task(request: web.Request) -> web.Response:
    """Make a task vanish from now on."""
    state = request.app[STATE]
    if not state.tasks.lose(request.match_info["task_id"]):
        return web.json_response({"error": "no such task"}, status=404)
    return web.json_response({"lost": request.match_info["task_id"]})


async def get_faults(request: web.Request) -> web.Response:
    """Return the armed faults."""
    return web.json_response({"faults": request.app[STATE].faults.armed()})


async def post_faults(request: web.Request) -> web.Response:
    """Arm one fault (a JSON object) or several (a JSON list, or `{"faults": [...]}`)."""
    state = request.app[STATE]
    try:
        payload = json.loads(await request.read())
        if isinstance(payload, dict) and "faults" in payload:
            payload = payload["faults"]
        items = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(item, dict) for item in items):
            raise ValueError("each fault must be a JSON object")
        specs = [FaultSpec.from_json(item) for item in items]
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    for spec in specs:
        state.faults.add(spec)
    return web.json_response({"faults": state.faults.armed()})


async def clear_faults(request: web.Request) -> web.Response:
    """Disarm every fault."""
    state = request.app[STATE]
    state.faults.clear()
    return web.json_response({"faults": []})


async def get_config(request: web.Request) -> web.Response:
    """Return the non-secret configuration."""
    state = request.app[STATE]
    config = state.config
    return web.json_response(
        {
            "models": list(state.models),
            "tick_seconds": config.tick_seconds,
            "tick_spacing_seconds": config.tick_spacing_seconds,
            "task_seconds": config.task_seconds,
            "model_task_seconds": dict(config.model_task_seconds),
            "unified_progress": str(config.unified_progress),
            "fail_prompt_marker": config.fail_prompt_marker,
            "moderation_prompt_marker": config.moderation_prompt_marker,
            "policy_prompt_marker": config.policy_prompt_marker,
        }
    )
