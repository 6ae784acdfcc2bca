"""Translate a gateway answer that is not a success into the typed errors of bot.errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Final

from bot.errors import (
    GatewayAuthError,
    GatewayBadResultError,
    GatewayBalanceError,
    GatewayContentPolicyError,
    GatewayError,
    GatewayInvalidRequestError,
    GatewayModelUnavailableError,
    GatewayProtocolError,
    GatewayRateLimitedError,
    GatewayTaskLostError,
    GatewayUnavailableError,
    GatewayWebPageError,
)
from bot.gateway.answers import decode_json
from bot.gateway.vocab import looks_like_content_policy
from bot.locales import _


class Stage(StrEnum):
    """Which call failed; the same status means different things on each."""

    SUBMIT = "submit"
    POLL = "poll"
    CONTENT = "content"


HTML_DETAIL: Final = (
    "the gateway answered with a web page, not the API: GATEWAY_BASE_URL must be the gateway's root, without /v1"
)
USER_REASON_MAX_CHARS: Final = 200
DETAIL_MAX_CHARS: Final = 600
NESTED_UPSTREAM_MAX_DEPTH: Final = 3
BALANCE_CODES: Final = frozenset({"insufficient_user_quota", "pre_consume_token_quota_failed"})
MODEL_CODES: Final = frozenset({"model_not_found", "model_price_error", "not_implemented"})
BALANCE_MARKERS: Final = ("quota", "balance", "余额", "额度")
MODEL_ACCESS_MARKERS: Final = (
    "no access to model",
    "无权访问模型",
    "不允许使用模型",
    "no available channel",
    "无可用渠道",
)
BANNED_MARKERS: Final = ("banned", "disabled", "封禁", "禁用")
GROUP_MARKERS: Final = ("group", "分组")
LOST_MARKERS: Final = ("not found", "not exist", "不存在")

_REQUEST_ID = re.compile(r"\s*[(\uff08]\s*request id\s*[:\uff1a][^)\uff09]*[)\uff09]", re.IGNORECASE)
_IP = re.compile(r"\bip\b", re.IGNORECASE)
_SECRETS = (
    (re.compile(r"sk-[A-Za-z0-9_\-]{4,}"), "sk-***"),
    (re.compile(r"\bbearer\s+\S+", re.IGNORECASE), "Bearer ***"),
)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What an error body says, after unwrapping any upstream body nested in `fail_to_fetch_task`."""

    status: int
    code: str | None
    message: str | None
    upstream_code: str | None = None
    upstream_message: str | None = None

    @property
    def proxied(self) -> bool:
        return self.code == "fail_to_fetch_task"

    @property
    def reason(self) -> str | None:
        return self.upstream_message or self.message

    @property
    def reason_code(self) -> str | None:
        return self.upstream_code or self.code

    def detail(self, stage: Stage, what: str) -> str:
        text = f"HTTP {self.status} on {stage}: {what} (code={self.code!r}"
        if not self.proxied or self.upstream_message == self.message:
            text += f", message={self.message!r}"
        if self.proxied:
            text += f", upstream code={self.upstream_code!r}, upstream message={self.upstream_message!r}"
        return scrub(text + ")")[:DETAIL_MAX_CHARS]


def is_html(content_type: str, body: bytes) -> bool:
    """Whether an answer is a web page (the dashboard, a proxy's error page) rather than the API."""
    if "html" in content_type.lower():
        return True
    head = body[:256].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head"))


def scrub(text: str) -> str:
    """Remove anything that looks like an API key or a bearer token."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(
    status: int, body: bytes, content_type: str, headers: Mapping[str, str], *, stage: Stage
) -> GatewayError:
    """The typed error for a gateway answer that is not a success (or is a web page)."""
    if is_html(content_type, body):
        return _from_html(status, headers)
    answer = _read(status, body)
    if 200 <= status < 300:
        return GatewayProtocolError(
            answer.detail(stage, "a success status with a body that is not the API's"), status=status
        )
    return _classify(answer, stage, headers)


def _from_html(status: int, headers: Mapping[str, str]) -> GatewayError:
    if status == 429:
        return GatewayRateLimitedError("HTTP 429 with a web page", retry_after=parse_retry_after(headers))
    if status >= 500:
        detail = f"HTTP {status} with a web page: the gateway or a proxy in front of it is failing"
        return GatewayUnavailableError(detail, status=status)
    return GatewayWebPageError(f"{HTML_DETAIL} (HTTP {status})", status=status)


def _classify(answer: _Answer, stage: Stage, headers: Mapping[str, str]) -> GatewayError:
    status, code = answer.status, answer.code
    text = (answer.reason or "").lower()
    if status == 429:
        what = "the provider behind the gateway is saturated" if answer.proxied else "rate limited"
        return GatewayRateLimitedError(answer.detail(stage, what), retry_after=parse_retry_after(headers))
    if code in BALANCE_CODES:
        return GatewayBalanceError(answer.detail(stage, "the gateway account has no balance left"), status=status)
    if status == 401 and not answer.proxied:
        return GatewayAuthError(answer.detail(stage, "the gateway rejected the API key"), status=status)
    if looks_like_content_policy(answer.reason, answer.reason_code):
        return GatewayContentPolicyError(answer.detail(stage, "the provider refused the content"), status=status)
    if answer.proxied and status in (401, 403):
        what = "the provider behind the gateway refused the gateway's own credentials or account"
        return GatewayUnavailableError(answer.detail(stage, what), status=status)
    if status == 403:
        return _forbidden(answer, stage, text)
    if status == 404 and "invalid url" in text:
        return GatewayModelUnavailableError(
            answer.detail(stage, _route_missing_detail(text)), status=status, user_message=_ROUTE_MISSING
        )
    if code == "task_not_exist" or (status == 404 and stage is not Stage.SUBMIT and _has(text, LOST_MARKERS)):
        return GatewayTaskLostError(answer.detail(stage, "the gateway does not know this task"), status=status)
    if code in MODEL_CODES or status == 501 or _has(text, MODEL_ACCESS_MARKERS) or (answer.proxied and status == 404):
        return GatewayModelUnavailableError(answer.detail(stage, "no channel serves this model"), status=status)
    if status == 413 or code == "read_request_body_failed":
        detail = answer.detail(stage, "reference images too large")
        return GatewayInvalidRequestError(detail, status=status, user_message=_TOO_LARGE)
    if status >= 500:
        what = "the result link has probably expired" if stage is Stage.CONTENT and status == 502 else "server error"
        return GatewayUnavailableError(answer.detail(stage, what), status=status)
    if status in (400, 422) and not (stage is Stage.CONTENT and "not completed" in text):
        reason = _user_reason(answer.reason)
        message = _("The video service refused the request: {reason}.", reason=reason) if reason else None
        return GatewayInvalidRequestError(answer.detail(stage, "request refused"), status=status, user_message=message)
    return GatewayUnavailableError(answer.detail(stage, "unexpected answer"), status=status)


def _route_missing_detail(text: str) -> str:
    if "/v1/v1/" in text:
        return "the gateway has no such route: GATEWAY_BASE_URL must be the gateway's root, without /v1"
    return "the gateway lacks the route for this wire format (check the model's format in the catalog)"


def _forbidden(answer: _Answer, stage: Stage, text: str) -> GatewayError:
    detail = answer.detail
    if _has(text, BALANCE_MARKERS):
        return GatewayBalanceError(detail(stage, "the gateway account has no balance left"), status=403)
    if _has(text, MODEL_ACCESS_MARKERS):
        return GatewayModelUnavailableError(detail(stage, "the API key has no access to this model"), status=403)
    if stage is Stage.CONTENT and "security policy" in text:
        return GatewayBadResultError(detail(stage, "the gateway refused to fetch the result URL"), status=403)
    if _has(text, BANNED_MARKERS):
        return GatewayAuthError(detail(stage, "the gateway user is banned"), status=403, user_message=_BANNED)
    if _IP.search(text):
        return GatewayAuthError(
            detail(stage, "the bot's IP address is not allowed"), status=403, user_message=_IP_DENIED
        )
    if _has(text, GROUP_MARKERS):
        return GatewayAuthError(detail(stage, "the API key's group is denied"), status=403, user_message=_GROUP)
    return GatewayAuthError(detail(stage, "forbidden"), status=403)


_ROUTE_MISSING: Final = _(
    "The video service does not support this model's request format. The operator needs to check the model catalog."
)
_TOO_LARGE: Final = _("The reference images are too large for the video service. Use smaller images.")
_BANNED: Final = _("The video service has disabled the bot's account. The operator needs to contact the service.")
_IP_DENIED: Final = _("The video service refuses the bot's network address. The operator needs to allow it on the key.")
_GROUP: Final = _("The bot's API key may not use this group of the video service. The operator needs to check the key.")


def _read(status: int, body: bytes) -> _Answer:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return _Answer(status, None, None)
    try:
        code, message = _fields(decode_json(text))
    except ValueError:
        return _Answer(status, None, _clean(text))
    if code != "fail_to_fetch_task":
        return _Answer(status, code, message)
    upstream_code, upstream_message = None, message
    for _depth in range(NESTED_UPSTREAM_MAX_DEPTH):
        try:
            nested_code, nested_message = _fields(decode_json(upstream_message or ""))
        except ValueError:
            break
        upstream_code, upstream_message = nested_code or upstream_code, nested_message
        if nested_code != "fail_to_fetch_task":
            break
    return _Answer(status, code, message, upstream_code, upstream_message)


def _fields(decoded: object) -> tuple[str | None, str | None]:
    """(code, message) of either error shape; a bare JSON string is a message."""
    if isinstance(decoded, str):
        return None, _clean(decoded)
    if not isinstance(decoded, Mapping):
        return None, None
    error = decoded.get("error")
    if isinstance(error, Mapping):
        return _clean(error.get("code")), _clean(error.get("message"))
    if isinstance(error, str) and error.strip():
        return _clean(decoded.get("code")), _clean(error)
    message = next((m for k in ("message", "detail", "msg") if (m := _clean(decoded.get(k)))), None)
    return _clean(decoded.get("code")), message


def _clean(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = " ".join(_REQUEST_ID.sub("", str(value)).split())
    return text or None


def _has(text: str, markers: tuple[str, ...]) -> bool:
    return any(marker in text for marker in markers)


def _user_reason(reason: str | None) -> str | None:
    if not reason or reason[0] in "{[<":
        return None
    text = scrub(reason).rstrip(" .。")
    if len(text) > USER_REASON_MAX_CHARS:
        text = text[: USER_REASON_MAX_CHARS - 1].rstrip() + "…"
    return text
