"""The OpenAI/Sora wire format: POST /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest

# Content route and response parsing are the same in both formats: one definition, re-exported here.
from bot.gateway.vocab import content_path, parse_snapshot, parse_submit


def build_create(request: GenerationRequest, model: ModelSpec) -> dict[str, Any]:
    """The JSON body of a create request; `seconds` is a string and `input_reference` a single image."""
    body: dict[str, Any] = {
        "model": model.name,
        "prompt": request.prompt,
        "size": model.size_for(request.orientation),
        "seconds": str(request.duration),
    }
    if request.images:
        body["input_reference"] = request.images[0]
    return body


def create_path() -> str:
    """The route that creates a task."""
    return "/v1/videos"


def query(task_id: str) -> tuple[str, dict[str, str]]:
    """The route and query parameters that read a task."""
    return f"/v1/videos/{quote(task_id, safe='')}", {}


__all__ = ["build_create", "content_path", "create_path", "parse_snapshot", "parse_submit", "query"]
