"""Task-relay validation of both create formats, and the upstream checks that come back as `fail_to_fetch_task`."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from urllib.parse import urlparse

from aiohttp import web

from bot.devtools.gateway import providers
from bot.devtools.gateway.config import SimulatorConfig, is_sora, sora_sizes
from bot.devtools.gateway.intake import Body, FilePart, go_json_type
from bot.devtools.gateway.responses import task_error, upstream_error_body

log = logging.getLogger(__name__)

SORA_SECONDS = ("4", "8", "12")
UNIFIED_SIZES = ("720x1280", "1280x720")
_ORIENTATION_SIZE = {"landscape": "1280x720", "portrait": "720x1280"}
_ASPECT_SIZE = {"16:9": "1280x720", "9:16": "720x1280"}
_TASK_FIELDS = {
    "model": "string",
    "prompt": "string",
    "size": "string",
    "seconds": "string",
    "input_reference": "string",
    "image": "string",
    "images": "[]string",
    "mode": "string",
    "duration": "int",
    "image_url": "string",
}


class ValidationError(Exception):
    """A create refused by the task relay or by the upstream; carries the ready response."""

    def __init__(self, response: web.Response) -> None:
        """Wrap the response to send."""
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A create that passed validation, in the fields the simulator keeps."""

    model: str
    prompt: str
    size: str
    seconds: str
    input_reference: str | FilePart | None = None
    detail: dict[str, object] = field(default_factory=dict)
    reading: providers.Reading | None = None  # how the provider's adaptor read the body (not for Sora)


def _invalid(code: str, message: str, status: int = 400) -> ValidationError:
    return ValidationError(task_error(status, code, message))


def _decode_error(name: str, value: object, go_type: str) -> ValidationError:
    message = f"json: cannot unmarshal {go_json_type(value)} into Go struct field .{name} of type {go_type}"
    return _invalid("invalid_json", message)


def _check_go_types(body: Body) -> None:
    for name, go_type in _TASK_FIELDS.items():
        value = body.get(name)
        if value is None or isinstance(value, FilePart):
            continue
        if go_type == "string" and not isinstance(value, str):
            raise _decode_error(name, value, go_type)
        if go_type == "[]string":
            if not isinstance(value, list):
                raise _decode_error(name, value, go_type)
            if any(not isinstance(item, str) for item in value):
                raise _decode_error(name, next(i for i in value if not isinstance(i, str)), "string")
        if go_type == "int" and not _is_int_like(value):
            raise _decode_error(name, value, go_type)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict | str):
        raise _decode_error("metadata", metadata, "map[string]interface {}")


def _is_int_like(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().isdigit()


def validate_openai(body: Body) -> CreateRequest:
    """Validate a `POST /v1/videos` body like `ValidateMultipartDirect`; raise ValidationError when refused."""
    _check_go_types(body)
    model = str(body["model"])
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("invalid_request", "prompt is required")
    size = body.get("size")
    size = size if isinstance(size, str) else ""
    seconds = body.get("seconds")
    seconds = seconds if isinstance(seconds, str) else ""
    if is_sora(model):
        size = size or "720x1280"
        seconds = seconds or "4"
        if size not in sora_sizes(model):
            raise _invalid("invalid_size", "sora-2 size is invalid")
    reference = body.get("input_reference")
    input_reference = reference if isinstance(reference, str | FilePart) else None
    # Kept for inspection (tests read it); the openai routes never render `detail`.
    shown_reference = (
        input_reference if isinstance(input_reference, str) else "<file part>" if input_reference else None
    )
    detail: dict[str, object] = {
        "model": model,
        "prompt": prompt,
        "size": size,
        "seconds": seconds,
        "input_reference": shown_reference,
    }
    reading = providers.read(body)
    if reading is not None:
        seconds = str(reading.duration)
        detail.update(reading.detail())
    return CreateRequest(model, prompt, size, seconds, input_reference, detail, reading)


def check_upstream_openai(request: CreateRequest) -> None:
    """Apply the checks the upstream makes (seconds, input_reference); raise ValidationError on refusal."""
    if is_sora(request.model) and request.seconds not in SORA_SECONDS:
        raise upstream_refusal("Invalid value for seconds", "invalid_value")
    if request.reading is not None:
        try:
            providers.check(request.reading)
        except providers.ProviderRefusal as refusal:
            raise upstream_refusal(refusal.message, refusal.code) from refusal
    reference = request.input_reference
    if isinstance(reference, str) and not _is_reference(reference):
        raise upstream_refusal(
            "Invalid input_reference: expected an image URL, base64 data or data URI", "invalid_value"
        )


def upstream_refusal(message: str, code: str, status: int = 400) -> ValidationError:
    """Return the gateway's wrapping of an upstream error: `fail_to_fetch_task` with the body as a string."""
    return _invalid("fail_to_fetch_task", upstream_error_body(message, code), status)


def _is_reference(value: str) -> bool:
    value = value.strip()
    if value.startswith("data:"):
        header, sep, payload = value.partition(",")
        return bool(sep) and header.endswith(";base64") and _is_base64(payload)
    if _is_http_url(value):
        return True
    return _is_base64(value)


def _is_base64(value: str) -> bool:
    if not value:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def validate_unified(body: Body, config: SimulatorConfig) -> CreateRequest:
    """Validate a `POST /v1/video/create` body; raise ValidationError (invalid_request) when refused."""
    model = str(body["model"])
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("invalid_request", "prompt is required")
    images = body.get("images", [])
    if images is None:
        images = []
    if not isinstance(images, list) or not all(isinstance(item, str) and _is_http_url(item) for item in images):
        raise _invalid("invalid_request", "images must be a list of http(s) URL strings")
    orientation = _optional_choice(body, "orientation", tuple(_ORIENTATION_SIZE))
    aspect_ratio = _optional_choice(body, "aspect_ratio", tuple(_ASPECT_SIZE))
    size = _optional_choice(body, "size", UNIFIED_SIZES)
    implied = {
        f"orientation {orientation}": _ORIENTATION_SIZE.get(orientation or ""),
        f"aspect_ratio {aspect_ratio}": _ASPECT_SIZE.get(aspect_ratio or ""),
        f"size {size}": size,
    }
    given = {name: value for name, value in implied.items() if value is not None}
    if len(set(given.values())) > 1:
        raise _invalid("invalid_request", f"{' / '.join(given)} do not describe the same frame shape")
    size = next(iter(given.values()), "720x1280")
    duration = body.get("duration", 8)
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= config.unified_max_duration:
        raise _invalid("invalid_request", f"duration must be an integer between 1 and {config.unified_max_duration}")
    upsample = body.get("enable_upsample", False)
    if not isinstance(upsample, bool):
        raise _invalid("invalid_request", "enable_upsample must be a boolean")
    if upsample and size != "1280x720":
        raise _invalid("invalid_request", "enable_upsample is only supported for landscape videos")
    detail: dict[str, object] = {
        "aspect_ratio": aspect_ratio or ("16:9" if size == "1280x720" else "9:16"),
        "images": images,
        "model": model,
        "prompt": prompt,
        "orientation": orientation or ("landscape" if size == "1280x720" else "portrait"),
        "duration": duration,
        "enable_upsample": upsample,
    }
    return CreateRequest(model, prompt, size, str(duration), None, detail)


def _optional_choice(body: Body, name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise _invalid("invalid_request", f"{name} must be one of {', '.join(allowed)}")
    return value
