"""How each provider's adaptor reads a `POST /v1/videos` body, and what the provider itself then refuses.

Each reading follows the new-api adaptor named in its docstring: which TaskSubmitReq fields it looks at, the
defaults it falls back on, and how `metadata` is merged over them. A field an adaptor does not read is simply
lost, as on the real gateway, so a client that sends the wrong field gets the default (a 5-second video), not an
error; tests read the `detail` of the stored task to see what the provider would have made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from bot.devtools.gateway.intake import Body, FilePart
from bot.devtools.gateway.responses import upstream_error_body

Image = str | FilePart


@dataclass(frozen=True, slots=True)
class Reading:
    """What the provider receives after its adaptor has read the body."""

    provider: str
    duration: int
    aspect_ratio: str | None = None
    resolution: str | None = None
    first_frame: Image | None = None
    last_frame: str | None = None
    mode: str | None = None

    def detail(self) -> dict[str, object]:
        """The reading as the stored task shows it to tests."""
        shown = self.first_frame if not isinstance(self.first_frame, FilePart) else "<file part>"
        return {
            "provider": self.provider,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "first_frame": shown,
            "last_frame": self.last_frame,
            "mode": self.mode,
        }


class ProviderRefusal(Exception):
    """The provider refused the request; the gateway wraps its answer as `fail_to_fetch_task`."""

    def __init__(self, message: str, code: str = "invalid_parameter") -> None:
        """Keep the provider's message and code."""
        super().__init__(message)
        self.message = message
        self.code = code

    def body(self) -> str:
        """The upstream error body the gateway embeds as a string."""
        return upstream_error_body(self.message, self.code)


def metadata_of(body: Body) -> dict[str, object]:
    """`metadata` as an object (the gateway also takes a JSON string holding one)."""
    raw = body.get("metadata")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _basic_images(body: Body) -> list[Image]:
    """`ValidateBasicTaskRequest`: `images`, else `image`, else `image_url` (not `input_reference`)."""
    images = body.get("images")
    if isinstance(images, list) and images:
        return [item for item in images if isinstance(item, str)]
    for key in ("image", "image_url"):
        value = body.get(key)
        if isinstance(value, str | FilePart) and value:
            return [value]
    return []


def _ratio_of_size(size: str, landscape: str, portrait: str, fallback: str) -> str:
    width, _, height = size.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        return fallback
    return landscape if int(width) > int(height) else portrait if int(width) < int(height) else fallback


def read_veo(body: Body) -> Reading:
    """gemini/adaptor.go BuildRequestBody: parameters from metadata, then `duration` / `size`; `seconds` unused."""
    meta = metadata_of(body)
    size = _text(body.get("size"))
    duration = _int(meta.get("durationSeconds")) or _int(body.get("duration")) or 8
    aspect = _text(meta.get("aspectRatio")) or (_ratio_of_size(size, "16:9", "9:16", "16:9") if size else "16:9")
    resolution = (_text(meta.get("resolution")) or _veo_resolution(size)).lower()
    images = _basic_images(body)
    # ParseImageInput takes a data URI or bare base64; a link is dropped without a word (text-to-video then).
    first = images[0] if images and not (isinstance(images[0], str) and images[0].startswith("http")) else None
    return Reading("veo", duration, aspect, resolution, first)


def _veo_resolution(size: str) -> str:
    width, _, height = size.lower().partition("x")
    short = min(int(width), int(height)) if width.isdigit() and height.isdigit() else 720
    return "4k" if short >= 2160 else "1080p" if short >= 1080 else "720p"


def check_veo(reading: Reading) -> None:
    """What Veo 3.1 accepts."""
    if reading.duration not in (4, 6, 8):
        raise ProviderRefusal(f"The value of durationSeconds ({reading.duration}) is out of bound: use 4, 6 or 8.")
    if reading.aspect_ratio not in ("16:9", "9:16"):
        raise ProviderRefusal(f"aspectRatio {reading.aspect_ratio} is not supported: use 16:9 or 9:16.")
    if reading.resolution not in ("720p", "1080p", "4k"):
        raise ProviderRefusal(f"resolution {reading.resolution} is not supported.")


_KLING_RATIOS = {"1280x720": "16:9", "1920x1080": "16:9", "720x1280": "9:16", "1080x1920": "9:16"}


def read_kling(body: Body) -> Reading:
    """kling/adaptor.go convertToRequestPayload: `image`, int `duration` (default 5), ratio from `size`, metadata."""
    meta = metadata_of(body)
    duration = _text(meta.get("duration")) or str(_int(body.get("duration")) or 5)
    aspect = _text(meta.get("aspect_ratio")) or _KLING_RATIOS.get(_text(body.get("size")), "1:1")
    image = _text(meta.get("image")) or body.get("image")
    return Reading(
        "kling",
        _int(duration),
        aspect,
        None,
        image if isinstance(image, str | FilePart) and image else None,
        _text(meta.get("image_tail")) or None,
        _text(meta.get("mode")) or "std",
    )


def check_kling(reading: Reading) -> None:
    """What Kling accepts: 5 or 10 s, URL or bare base64 images, a tail image only in pro mode."""
    if reading.duration not in (5, 10):
        raise ProviderRefusal(f"duration must be 5 or 10, got {reading.duration}", "1201")
    for name, image in (("image", reading.first_frame), ("image_tail", reading.last_frame)):
        if isinstance(image, str) and image.startswith("data:"):
            raise ProviderRefusal(f"{name} must be a URL or Base64 without the data: prefix", "1201")
    if reading.last_frame and reading.mode != "pro":
        raise ProviderRefusal("image_tail is only supported in pro mode", "1201")


def read_seedance(body: Body) -> Reading:
    """doubao/adaptor.go convertToRequestPayload: `images` as content, metadata merged, then `seconds` > 0."""
    meta = metadata_of(body)
    duration = _int(body.get("seconds")) or _int(meta.get("duration")) or 5
    images = _basic_images(body)
    return Reading(
        "seedance",
        duration,
        _text(meta.get("ratio")) or "adaptive",
        _text(meta.get("resolution")) or "1080p",
        images[0] if images else None,
    )


def check_seedance(reading: Reading) -> None:
    """What Seedance 1.0 Pro accepts."""
    if not 2 <= reading.duration <= 12:
        raise ProviderRefusal(f"the parameter duration specified in the request is not valid: {reading.duration}")
    if reading.resolution not in ("480p", "720p", "1080p"):
        raise ProviderRefusal(f"the parameter resolution specified in the request is not valid: {reading.resolution}")
    if reading.aspect_ratio not in ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"):
        raise ProviderRefusal(f"the parameter ratio specified in the request is not valid: {reading.aspect_ratio}")


def read_wan(body: Body) -> Reading:
    """ali/adaptor.go convertToAliRequest: `input_reference` is the image, `size` without '*' the resolution."""
    meta = metadata_of(body)
    model = _text(body.get("model"))
    size = _text(body.get("size"))
    resolution = ""
    if size and "*" not in size:
        resolution = size.upper() if size.upper().endswith("P") else size.upper() + "P"
    duration = _int(body.get("duration")) or _int(body.get("seconds")) or 5
    inputs = meta.get("input") if isinstance(meta.get("input"), dict) else {}
    parameters = meta.get("parameters") if isinstance(meta.get("parameters"), dict) else {}
    assert isinstance(inputs, dict) and isinstance(parameters, dict)
    image = _text(inputs.get("img_url")) or body.get("input_reference")
    return Reading(
        "wan",
        _int(parameters.get("duration")) or duration,
        None,
        _text(parameters.get("resolution")) or resolution or ("1080P" if model.startswith("wan2.5") else "720P"),
        image if isinstance(image, str | FilePart) and image else None,
        _text(inputs.get("last_frame_url")) or None,
    )


def check_wan(reading: Reading) -> None:
    """What Wan 2.5 image-to-video accepts."""
    if reading.first_frame is None:
        raise ProviderRefusal("Field required: input.img_url", "InvalidParameter")
    if reading.resolution not in ("480P", "720P", "1080P"):
        raise ProviderRefusal(f"The resolution {reading.resolution} is invalid.", "InvalidParameter")
    if reading.duration not in (5, 10):
        raise ProviderRefusal(f"The duration {reading.duration} is invalid: use 5 or 10.", "InvalidParameter")


# By model-name prefix: how the adaptor reads the body; by the reading's provider: what the provider refuses.
_READERS: tuple[tuple[str, Callable[[Body], Reading]], ...] = (
    ("veo-", read_veo),
    ("kling-", read_kling),
    ("doubao-seedance-", read_seedance),
    ("wan", read_wan),
)
_CHECKS: dict[str, Callable[[Reading], None]] = {
    "veo": check_veo,
    "kling": check_kling,
    "seedance": check_seedance,
    "wan": check_wan,
}


def read(body: Body) -> Reading | None:
    """How the adaptor for the body's model reads it, or None for Sora and models the simulator has no rules for."""
    model = _text(body.get("model"))
    return next((reader(body) for prefix, reader in _READERS if model.startswith(prefix)), None)


def check(reading: Reading) -> None:
    """Apply the provider's own checks; raise ProviderRefusal when it would refuse."""
    _CHECKS[reading.provider](reading)
