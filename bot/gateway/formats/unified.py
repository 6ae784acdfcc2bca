"""The reseller "unified" wire format: POST /v1/video/create, GET /v1/video/query?id=."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest, SubmitResult, TaskSnapshot
from bot.gateway.vocab import snapshot_from, submit_from, unwrap


def build_create(request: GenerationRequest, model: ModelSpec) -> dict[str, Any]:
    """The JSON body of a create request; `images` is always a list and `duration` an int."""
    size = model.size_for(request.orientation)
    width, _, height = size.partition("x")
    return {
        "model": model.name,
        "prompt": request.prompt,
        "images": list(request.images),
        "orientation": request.orientation.value,
        "size": size,
        "duration": int(request.duration),
        "aspect_ratio": "16:9" if int(width) > int(height) else "9:16",
        "enable_upsample": request.hd and request.orientation in model.hd_orientations,
    }


def create_path() -> str:
    """The route that creates a task."""
    return "/v1/video/create"


def query(task_id: str) -> tuple[str, dict[str, str]]:
    """The route and query parameters that read a task; the id goes back exactly as received."""
    return "/v1/video/query", {"id": task_id}


def content_path(task_id: str) -> str:
    """The route that streams a finished task's video (the gateway serves it for any task)."""
    return f"/v1/videos/{quote(task_id, safe='')}/content"


def parse_submit(payload: object) -> SubmitResult:
    """The task id and first snapshot from a 200 create response (veo or sora/yunwu style)."""
    return submit_from(payload)


def parse_snapshot(payload: object) -> TaskSnapshot:
    """A snapshot from a unified query response; its `id` may differ from ours and is ignored."""
    return snapshot_from(unwrap(payload))
