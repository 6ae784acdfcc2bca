"""The OpenAI/Sora wire format: POST /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest, SubmitResult, TaskSnapshot
from bot.gateway.vocab import snapshot_from, submit_from, unwrap


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


def content_path(task_id: str) -> str:
    """The route that streams a finished task's video."""
    return f"/v1/videos/{quote(task_id, safe='')}/content"


def parse_submit(payload: object) -> SubmitResult:
    """The task id and first snapshot from a 200 create response."""
    return submit_from(payload)


def parse_snapshot(payload: object) -> TaskSnapshot:
    """A snapshot from an OpenAI video object or the generic `{code, data}` task wrapper."""
    return snapshot_from(unwrap(payload))
