"""The distributor stage of a create: read the body, find the model, check that a channel serves it."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from bot.devtools.gateway.responses import openai_error

log = logging.getLogger(__name__)

Body = dict[str, object]


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file uploaded in a multipart create (for example `input_reference=@img.png`)."""

    filename: str
    content_type: str
    size: int


class IntakeError(Exception):
    """A create refused before the task relay sees it; carries the ready response."""

    def __init__(self, response: web.Response) -> None:
        """Wrap the response to send."""
        super().__init__(response.status)
        self.response = response


def go_json_type(value: object) -> str:
    """Name a JSON value's type the way Go's encoding/json does in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


async def read_create_body(request: web.Request, served: Collection[str]) -> Body:
    """Parse the body like the gateway's `Distribute` and return it; raise IntakeError on refusal."""
    content_type = request.content_type
    body: Body = {}
    if content_type == "application/json":
        raw = await request.read()
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise IntakeError(openai_error(400, f"Invalid request: {exc}")) from exc
        if not isinstance(parsed, dict):
            kind = "array" if isinstance(parsed, list) else "value"
            message = f"Invalid request: json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            raise IntakeError(openai_error(400, message))
        body = parsed
    elif content_type == "multipart/form-data":
        body = await _read_multipart(request)
    elif content_type == "application/x-www-form-urlencoded":
        body = dict((await request.post()).items())
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        kind = go_json_type(model)
        message = (
            f"Invalid request: json: cannot unmarshal {kind} into Go struct field ModelRequest.model of type string"
        )
        raise IntakeError(openai_error(400, message))
    if not model:
        raise IntakeError(openai_error(400, "Model name not specified, model name cannot be empty"))
    if model not in served:
        message = f"No available channel for model {model} under group default (distributor)"
        raise IntakeError(openai_error(503, message, code="model_not_found"))
    return body


async def _read_multipart(request: web.Request) -> Body:
    body: Body = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            if part.filename:
                data = await part.read()
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                body[part.name] = FilePart(part.filename, content_type, len(data))
            else:
                body[part.name] = await part.text()
    except ValueError as exc:
        raise IntakeError(openai_error(400, f"Invalid request: {exc}")) from exc
    return body
