"""Pure parsing helpers shared by both wire formats: status words, progress, result URLs, errors, times."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from bot.domain import RemoteState, SubmitResult, TaskSnapshot
from bot.errors import GatewayProtocolError

# Spec §7.1. `video_generation_completed` is deliberately absent: Veo reports it before the optional
# upsampling step and finishes with `completed` (or `video_upsampling_completed`), so it still means running.
SUCCESS_STATUSES: Final = frozenset({"completed", "succeeded", "success", "done", "video_upsampling_completed"})
FAILURE_STATUSES: Final = frozenset({"failed", "failure", "error", "cancelled", "canceled", "expired"})
FAILURE_SUFFIX: Final = "_failed"

RESULT_URL_KEYS: Final = ("video_url", "url", "metadata.url", "result_url")
URL_SCHEMES: Final = ("http://", "https://", "data:")
UPDATED_AT_KEYS: Final = ("status_update_time", "updated_at", "completed_at", "finish_time")
WRAPPER_SUCCESS_CODES: Final = frozenset({"success", "0", "200"})
MILLISECONDS_THRESHOLD: Final = 1e11

CONTENT_POLICY_MARKERS: Final = (
    "moderation",
    "content_policy",
    "content policy",
    "content_filter",
    "safety",
    "violat",
    "sensitive",
    "inappropriate",
    "nsfw",
    "guardrail",
    "usage guidelines",
    "responsible ai",
    "违规",
    "违禁",
    "敏感",
    "审核",
    "不合规",
    "不当内容",
    "色情",
)


def normalise_status(raw: object) -> RemoteState:
    """Map any status word the gateway or its upstreams use to RUNNING, SUCCEEDED or FAILED."""
    word = status_word(raw)
    if word in SUCCESS_STATUSES:
        return RemoteState.SUCCEEDED
    if word in FAILURE_STATUSES or word.endswith(FAILURE_SUFFIX):
        return RemoteState.FAILED
    return RemoteState.RUNNING


def status_word(raw: object) -> str:
    """The canonical spelling of a status: lower case, words joined by underscores; '' when absent."""
    if not isinstance(raw, str):
        return ""
    return "_".join(raw.strip().lower().replace("-", " ").split())


def parse_progress(raw: object) -> int | None:
    """A progress percentage from an int, a float or a string such as '30', '50%' or ' 30 % ', clamped to 0-100."""
    if isinstance(raw, bool) or raw is None:
        return None
    value: float
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip().removesuffix("%").strip()
        try:
            value = float(text)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(value):
        return None
    return max(0, min(100, round(value)))


def find_result_url(payload: Mapping[str, Any]) -> str | None:
    """The first usable result URL, looking in video_url, url, metadata.url and result_url in that order."""
    for key in RESULT_URL_KEYS:
        value = _dig(payload, key)
        if isinstance(value, str):
            candidate = value.strip()
            if candidate.lower().startswith(URL_SCHEMES):
                return candidate
    return None


def find_error(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The failure reason and code a task payload carries; empty strings count as none."""
    detail = payload.get("detail")
    sources = (
        payload.get("error"),
        payload.get("fail_reason"),
        detail.get("error") if isinstance(detail, Mapping) else None,
        payload.get("message"),
        _dig(payload, "metadata.url"),  # legacy failed tasks keep the reason where the URL would be
    )
    message: str | None = None
    code: str | None = None
    for source in sources:
        if isinstance(source, Mapping):
            message, code = _text(source.get("message")), code or _text(source.get("code"))
        elif isinstance(source, str) and not source.strip().lower().startswith(URL_SCHEMES):
            message = _text(source)
        if message is not None:
            break
    return message, code


def parse_timestamp(raw: object) -> float | None:
    """Unix seconds from a timestamp in seconds or milliseconds (values above 1e11 are milliseconds)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value / 1000 if value > MILLISECONDS_THRESHOLD else value


def looks_like_content_policy(text: str | None, code: str | None = None) -> bool:
    """Whether an error message or code says the provider refused the content."""
    haystack = " ".join(part for part in (text, code) if part).lower()
    return any(marker in haystack for marker in CONTENT_POLICY_MARKERS)


def unwrap(payload: object) -> Mapping[str, Any]:
    """The task object inside a response, unwrapping the generic `{code, message, data}` envelope."""
    if not isinstance(payload, Mapping):
        raise GatewayProtocolError(f"expected a JSON object from the gateway, got {type(payload).__name__}")
    data = payload.get("data")
    if "status" in payload or not isinstance(data, Mapping):
        return payload
    code = payload.get("code")
    if code is not None and str(code).strip().lower() not in WRAPPER_SUCCESS_CODES:
        raise GatewayProtocolError(_envelope_detail(payload))
    return data


def snapshot_from(payload: Mapping[str, Any]) -> TaskSnapshot:
    """Read a task object (already unwrapped) into a snapshot; the `id` it carries is ignored."""
    raw = payload.get("status")
    result_url = find_result_url(payload)
    if raw is None and result_url is None and _is_error_envelope(payload):
        raise GatewayProtocolError(_envelope_detail(payload))
    raw_status = raw.strip() if isinstance(raw, str) else "" if raw is None else str(raw)
    state = normalise_status(raw)
    if raw is None and result_url is not None:
        state = RemoteState.SUCCEEDED
    error, error_code = find_error(payload) if state is RemoteState.FAILED else (None, None)
    return TaskSnapshot(
        state=state,
        raw_status=raw_status,
        progress=parse_progress(payload.get("progress")),
        result_url=result_url if state is RemoteState.SUCCEEDED else None,
        error=error,
        error_code=error_code,
        updated_at=_first_timestamp(payload),
    )


def parse_task_id(payload: Mapping[str, Any]) -> str:
    """The task id of a create response (`id`, else `task_id`), exactly as sent."""
    for key in ("id", "task_id"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    if _is_error_envelope(payload):
        raise GatewayProtocolError(_envelope_detail(payload))
    raise GatewayProtocolError(f"the create response has no task id (no 'id' or 'task_id'; keys: {sorted(payload)})")


def content_path(task_id: str) -> str:
    """The route that streams a finished task's video; the gateway serves it for tasks of either format."""
    return f"/v1/videos/{quote(task_id, safe='')}/content"


def parse_snapshot(payload: object) -> TaskSnapshot:
    """A snapshot from a task object of either format, or the generic `{code, data}` wrapper around one.

    An `id` in the body is ignored: the unified query can answer with a different one than it was given.
    """
    return snapshot_from(unwrap(payload))


def parse_submit(payload: object) -> SubmitResult:
    """The task id and first snapshot of a 200 create response (either format, veo or sora/yunwu style)."""
    body = unwrap(payload)
    return SubmitResult(task_id=parse_task_id(body), snapshot=snapshot_from(body))


def _dig(payload: Mapping[str, Any], dotted: str) -> object:
    value: object = payload
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _first_timestamp(payload: Mapping[str, Any]) -> float | None:
    for key in UPDATED_AT_KEYS:
        value = parse_timestamp(payload.get(key))
        if value is not None:
            return value
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip() if isinstance(value, str | int) else ""
    return text or None


def _is_error_envelope(payload: Mapping[str, Any]) -> bool:
    error = payload.get("error")
    if isinstance(error, Mapping):
        return any(_text(error.get(k)) for k in ("message", "code", "type"))
    if isinstance(error, str) and error.strip():
        return True
    code = _text(payload.get("code"))
    return code is not None and code.lower() not in WRAPPER_SUCCESS_CODES and "message" in payload


def _envelope_detail(payload: Mapping[str, Any]) -> str:
    message, code = find_error(payload)
    code = code or _text(payload.get("code"))
    return f"the gateway answered 200 with an error instead of a task: code={code!r} message={message!r}"
