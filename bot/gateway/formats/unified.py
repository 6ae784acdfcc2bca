"""The reseller "unified" wire format: POST /v1/video/create, GET /v1/video/query?id=."""

from __future__ import annotations

from typing import Any

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest

# Content route and response parsing are the same in both formats: one definition, re-exported here.
from bot.gateway.vocab import content_path, parse_snapshot, parse_submit


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


__all__ = ["build_create", "content_path", "create_path", "parse_snapshot", "parse_submit", "query"]
