"""JSON bodies of tasks, in the OpenAI video shape and in the reseller "unified" shape."""

from __future__ import annotations

import logging

from bot.devtools.gateway.config import ProgressStyle, SimulatorConfig, is_sora
from bot.devtools.gateway.tasks import Phase, SimTask, Snapshot, TaskRegistry

log = logging.getLogger(__name__)

LINK_LIFETIME_SECONDS = 86_400
_OPENAI_STATUS = {
    Phase.NOT_STARTED: "queued",
    Phase.RUNNING: "in_progress",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}
_UNIFIED_STATUS = {
    Phase.NOT_STARTED: "pending",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}


def file_url(origin: str, task: SimTask) -> str:
    """Return the absolute "CDN" link of a finished task's video."""
    return f"{origin}/files/{task.task_id}.mp4"


def openai_created(task: SimTask) -> dict[str, object]:
    """Return the body of a successful `POST /v1/videos`."""
    body: dict[str, object] = {
        "id": task.task_id,
        "task_id": task.task_id,
        "object": "video",
        "model": task.model,
        "status": "queued",
        "progress": 0,
        "created_at": task.created_wall,
    }
    if task.seconds:
        body["seconds"] = task.seconds
    if task.size:
        body["size"] = task.size
    return body


def unified_created(task: SimTask) -> dict[str, object]:
    """Return the veo-style body of a successful `POST /v1/video/create` (status_update_time in seconds)."""
    return {
        "id": task.task_id,
        "object": "video",
        "model": task.model,
        "status": "queued",
        "progress": 0,
        "created_at": task.created_wall,
        "size": task.size,
        "detail": {"input": task.detail},
        "status_update_time": task.created_wall,
    }


def openai_video(
    task: SimTask, snapshot: Snapshot, registry: TaskRegistry, config: SimulatorConfig, origin: str
) -> dict[str, object]:
    """Return the OpenAI video object `GET /v1/videos/{id}` shows for the stored state.

    Sora tasks show the upstream's own body; every other provider's task is built from the stored task
    (`ToVideoStatus`): `unknown` before the first refresh, the result link in `metadata.url` (except Veo, whose
    video only the content route serves), and `completed_at` set to the last update even while running.
    """
    status = _OPENAI_STATUS[snapshot.phase]
    sora = is_sora(task.model)
    if snapshot.phase is Phase.NOT_STARTED and not sora and config.unknown_before_first_refresh:
        status = "unknown"
    body = openai_created(task)
    body["status"] = status
    body["progress"] = snapshot.progress
    failure = task.failure if snapshot.phase is Phase.FAILED else None
    body["error"] = {"message": failure.reason if failure else "", "code": failure.code if failure else ""}
    changed_wall = int(registry.wall(snapshot.changed_at))
    if snapshot.terminal:
        body["completed_at"] = changed_wall
        if sora and snapshot.phase is Phase.SUCCEEDED:
            body["expires_at"] = changed_wall + LINK_LIFETIME_SECONDS
    elif not sora and config.refresh_hints:
        body["completed_at"] = changed_wall  # new-api copies the task's last update here while it runs
    if not sora and not task.model.startswith("veo"):
        done = snapshot.phase is Phase.SUCCEEDED and not task.no_video
        body["metadata"] = {"url": file_url(origin, task) if done else ""}
    return body


def unified_query(
    task: SimTask, snapshot: Snapshot, registry: TaskRegistry, config: SimulatorConfig, origin: str
) -> dict[str, object]:
    """Return the body of `GET /v1/video/query?id=` for the stored state (status_update_time in ms)."""
    body: dict[str, object] = {
        "id": task.task_id,
        "object": "video",
        "model": task.model,
        "status": _UNIFIED_STATUS[snapshot.phase],
        "progress": unified_progress(snapshot.progress, config.unified_progress),
        "video_url": file_url(origin, task) if snapshot.phase is Phase.SUCCEEDED else None,
        "enhanced_prompt": task.prompt,
        "created_at": task.created_wall,
        "size": task.size,
        "detail": {"input": task.detail},
    }
    if config.refresh_hints:
        body["status_update_time"] = int(registry.wall(snapshot.changed_at) * 1000)
    if snapshot.terminal:
        body["completed_at"] = int(registry.wall(snapshot.changed_at))
    if snapshot.phase is Phase.FAILED and task.failure is not None:
        body["error"] = {"message": task.failure.reason, "code": task.failure.code}
    return body


def unified_progress(progress: int, style: ProgressStyle) -> int | str:
    """Render progress as an int or a numeric string; `alternate` uses a string for odd tens."""
    if style is ProgressStyle.STRING or (style is ProgressStyle.ALTERNATE and (progress // 10) % 2 == 1):
        return str(progress)
    return progress
