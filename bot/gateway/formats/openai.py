"""The OpenAI/Sora wire format: POST /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest

# Content route and response parsing are the same in both formats: one definition, re-exported here.
from bot.gateway.vocab import content_path, parse_snapshot, parse_submit


def build_create(request: GenerationRequest, model: ModelSpec) -> dict[str, Any]:
    """The JSON body of a create request, each option in the field the model's catalog entry names."""
    fields = model.request
    body: dict[str, Any] = {"model": model.name, "prompt": request.prompt}
    fields.duration.put(body, request.duration)
    size = model.size_for(request.orientation)
    if fields.size is not None:
        fields.size.put(body, size)
    if fields.aspect_ratio is not None:
        fields.aspect_ratio.put(body, aspect_ratio(size))
    if fields.resolution is not None:
        fields.resolution.put(body, model.hd_resolution if request.hd and model.hd_resolution else model.resolution)
    if request.images and fields.images is not None:
        fields.images.put(body, request.images)
    if request.last_frame is not None and fields.last_frame is not None:
        fields.last_frame.put(body, request.last_frame)
    for field, value in fields.fixed:
        field.put(body, value)
    return body


def aspect_ratio(size: str) -> str:
    """'1280x720' -> '16:9': the frame shape as providers that take a ratio spell it."""
    width, _, height = size.partition("x")
    w, h = int(width), int(height)
    divisor = math.gcd(w, h)
    return f"{w // divisor}:{h // divisor}"


def create_path() -> str:
    """The route that creates a task."""
    return "/v1/videos"


def query(task_id: str) -> tuple[str, dict[str, str]]:
    """The route and query parameters that read a task."""
    return f"/v1/videos/{quote(task_id, safe='')}", {}


__all__ = ["build_create", "content_path", "create_path", "parse_snapshot", "parse_submit", "query"]
