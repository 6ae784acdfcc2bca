"""Translating the gateway's error answers (both shapes, nested upstream bodies, pages, empty bodies)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.domain import ErrorKind
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
)
from bot.gateway.error_answers import HTML_DETAIL, Stage, error_from_response, is_html, parse_retry_after, scrub

FIXTURES = Path(__file__).parent / "fixtures" / "gateway"
JSON = "application/json"


def recorded(name: str, stage: Stage = Stage.SUBMIT, headers: dict[str, str] | None = None) -> GatewayError:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    body = data["body_text"].encode() if "body_text" in data else json.dumps(data["body"]).encode()
    return error_from_response(data["status"], body, data["content_type"], headers or {}, stage=stage)


def answer(
    status: int, body: object, stage: Stage = Stage.SUBMIT, headers: dict[str, str] | None = None
) -> GatewayError:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return error_from_response(status, raw, JSON, headers or {}, stage=stage)


def openai_shape(message: str, code: str = "") -> dict[str, object]:
    return {"error": {"message": message, "type": "new_api_error", "code": code}}


def task_shape(code: str, message: str) -> dict[str, object]:
    return {"code": code, "message": message, "data": None}


def nested(status: int, upstream: object, stage: Stage = Stage.SUBMIT) -> GatewayError:
    return answer(status, task_shape("fail_to_fetch_task", json.dumps(upstream)), stage)


def assert_plain(error: GatewayError) -> None:
    assert error.user_message
    assert "{" not in error.user_message
    assert "Traceback" not in error.user_message
    assert "request id" not in error.user_message


class TestAuthAndBalance:
    def test_invalid_token(self) -> None:
        error = recorded("error_401_invalid_token")
        assert type(error) is GatewayAuthError
        assert error.status == 401
        assert "Invalid token" in error.detail
        assert "request id" not in error.detail
        assert "GATEWAY_API_KEY" in error.user_message

    def test_chinese_invalid_token(self) -> None:
        assert type(answer(401, openai_shape("无效的令牌 (request id: 1)"))) is GatewayAuthError

    def test_quota_chinese(self) -> None:
        error = recorded("error_403_quota_zh")
        assert type(error) is GatewayBalanceError
        assert "insufficient_user_quota" in error.detail
        assert_plain(error)

    def test_pre_consume_quota(self) -> None:
        error = answer(403, task_shape("pre_consume_token_quota_failed", "token quota is not enough"))
        assert type(error) is GatewayBalanceError

    @pytest.mark.parametrize("message", ["余额不足", "用户额度不足", "insufficient quota"])
    def test_quota_by_message(self, message: str) -> None:
        assert type(answer(403, openai_shape(message))) is GatewayBalanceError

    def test_no_access_to_model(self) -> None:
        error = recorded("error_403_model_access")
        assert type(error) is GatewayModelUnavailableError
        assert "no access to model" in error.detail

    def test_no_access_to_model_chinese(self) -> None:
        assert type(answer(403, openai_shape("该令牌无权访问模型 sora-2"))) is GatewayModelUnavailableError

    @pytest.mark.parametrize(
        ("message", "which"),
        [
            ("User has been banned", "banned"),
            ("用户已被封禁", "banned"),
            ("Your IP 1.2.3.4 is not allowed to use this token", "IP"),
            ("The token may not use group vip", "group"),
            ("无权访问 vip 分组", "group"),
            ("Forbidden", "forbidden"),
        ],
    )
    def test_other_403_is_auth_and_says_which(self, message: str, which: str) -> None:
        error = answer(403, openai_shape(message))
        assert type(error) is GatewayAuthError
        assert which in error.detail
        assert_plain(error)


class TestInvalidRequest:
    @pytest.mark.parametrize(
        ("code", "message"),
        [
            ("invalid_json", "json: cannot unmarshal number into Go struct field .seconds of type string"),
            ("invalid_request", "prompt is required"),
            ("invalid_size", "sora-2 size is invalid"),
            ("missing_model", "model is required"),
        ],
    )
    def test_task_shape_codes(self, code: str, message: str) -> None:
        error = answer(400, task_shape(code, message))
        assert type(error) is GatewayInvalidRequestError
        assert message in error.user_message
        assert code in error.detail

    def test_recorded_invalid_size(self) -> None:
        error = recorded("error_400_invalid_size")
        assert error.user_message == "The video service refused the request: sora-2 size is invalid."

    def test_recorded_invalid_json(self) -> None:
        assert type(recorded("error_400_invalid_json")) is GatewayInvalidRequestError

    def test_openai_shape_400(self) -> None:
        error = answer(400, openai_shape("Model name not specified (request id: 99)"))
        assert type(error) is GatewayInvalidRequestError
        assert error.user_message == "The video service refused the request: Model name not specified."

    def test_reason_is_trimmed(self) -> None:
        error = answer(400, task_shape("invalid_request", "x" * 1000))
        assert len(error.user_message) < 260
        assert error.user_message.endswith("….")

    def test_reason_is_scrubbed(self) -> None:
        error = answer(400, task_shape("invalid_request", "bad key sk-abcdef1234567890 and Bearer abc.def"))
        assert "sk-abcdef" not in error.user_message
        assert "abc.def" not in error.user_message
        assert "sk-abcdef" not in error.detail

    def test_upstream_reason_from_nested_json(self) -> None:
        error = recorded("error_400_upstream_duration")
        assert type(error) is GatewayInvalidRequestError
        assert "Supported values are" in error.user_message
        assert "invalid_value" in error.detail
        assert_plain(error)

    def test_too_large(self) -> None:
        error = answer(413, task_shape("read_request_body_failed", "http: request body too large"))
        assert type(error) is GatewayInvalidRequestError
        assert "too large" in error.user_message
        assert type(answer(413, b"")) is GatewayInvalidRequestError


class TestModelUnavailable:
    def test_model_price_error(self) -> None:
        error = answer(400, task_shape("model_price_error", "model_price_error"))
        assert type(error) is GatewayModelUnavailableError

    def test_model_not_found(self) -> None:
        error = recorded("error_503_model_not_found")
        assert type(error) is GatewayModelUnavailableError
        assert error.status == 503

    def test_missing_route(self) -> None:
        error = recorded("error_404_invalid_url")
        assert type(error) is GatewayModelUnavailableError
        assert "lacks the route for this wire format" in error.detail
        assert_plain(error)

    def test_doubled_v1_hints_at_base_url(self) -> None:
        error = answer(404, openai_shape("Invalid URL (POST /v1/v1/videos)"), Stage.SUBMIT)
        assert "without /v1" in error.detail

    def test_not_implemented(self) -> None:
        error = answer(501, task_shape("not_implemented", "not_implemented"), Stage.POLL)
        assert type(error) is GatewayModelUnavailableError


class TestContentPolicy:
    def test_nested_moderation_refusal(self) -> None:
        error = recorded("error_400_moderation_nested")
        assert type(error) is GatewayContentPolicyError
        assert "moderation_blocked" in error.detail
        assert_plain(error)

    def test_nested_task_shape_upstream(self) -> None:
        error = nested(400, task_shape("content_policy_violation", "prompt rejected"))
        assert type(error) is GatewayContentPolicyError

    def test_doubly_nested_new_api(self) -> None:
        inner = task_shape("fail_to_fetch_task", json.dumps(openai_shape("blocked", "moderation_blocked")))
        error = nested(400, inner)
        assert type(error) is GatewayContentPolicyError

    def test_plain_text_refusal(self) -> None:
        assert type(answer(400, task_shape("invalid_request", "提示词包含敏感词"))) is GatewayContentPolicyError


class TestRateLimited:
    def test_empty_body(self) -> None:
        error = recorded("error_429_empty")
        assert type(error) is GatewayRateLimitedError
        assert error.retry_after is None
        assert error.retryable

    def test_saturated_chinese(self) -> None:
        error = recorded("error_429_saturated_zh")
        assert type(error) is GatewayRateLimitedError
        assert_plain(error)

    def test_nested_upstream_429(self) -> None:
        error = nested(429, openai_shape("Rate limit reached", "rate_limit_exceeded"))
        assert type(error) is GatewayRateLimitedError

    def test_retry_after_seconds(self) -> None:
        error = recorded("error_429_empty", headers={"Retry-After": "12"})
        assert isinstance(error, GatewayRateLimitedError)
        assert error.retry_after == 12

    def test_retry_after_header_name_is_case_insensitive(self) -> None:
        assert parse_retry_after({"retry-after": "3"}) == 3

    def test_retry_after_http_date(self) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
        seconds = parse_retry_after({"Retry-After": when})
        assert seconds is not None
        assert 100 < seconds <= 120

    @pytest.mark.parametrize("value", ["", "soon", "Mon, 99 Foo 2020"])
    def test_retry_after_garbage(self, value: str) -> None:
        assert parse_retry_after({"Retry-After": value}) is None

    def test_retry_after_in_the_past_is_zero(self) -> None:
        assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0


class TestLostTask:
    def test_task_not_exist_on_poll(self) -> None:
        error = recorded("error_400_task_not_exist", Stage.POLL)
        assert type(error) is GatewayTaskLostError
        assert error.kind is ErrorKind.LOST

    def test_task_not_found_on_content(self) -> None:
        assert type(recorded("error_404_content_task_not_found", Stage.CONTENT)) is GatewayTaskLostError


class TestUnavailable:
    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_server_errors(self, status: int) -> None:
        error = answer(status, task_shape("do_request_failed", "dial tcp: i/o timeout"), Stage.POLL)
        assert type(error) is GatewayUnavailableError
        assert error.retryable

    def test_expired_link_on_content(self) -> None:
        error = recorded("error_502_content_expired", Stage.CONTENT)
        assert type(error) is GatewayUnavailableError
        assert "expired" in error.detail

    def test_not_completed_yet_on_content(self) -> None:
        body = {"error": {"message": "Task is not completed yet, current status: IN_PROGRESS", "type": "x"}}
        assert type(answer(400, body, Stage.CONTENT)) is GatewayUnavailableError

    def test_upstream_credentials_are_not_our_key(self) -> None:
        error = nested(401, openai_shape("Incorrect API key provided", "invalid_api_key"))
        assert type(error) is GatewayUnavailableError

    def test_non_json_text(self) -> None:
        error = error_from_response(500, b"upstream connect error", "text/plain", {}, stage=Stage.POLL)
        assert type(error) is GatewayUnavailableError
        assert "upstream connect error" in error.detail

    def test_unclassified(self) -> None:
        assert type(answer(418, {"weird": True})) is GatewayUnavailableError

    def test_url_security_policy_on_content(self) -> None:
        body = {"error": {"message": "request blocked by URL security policy", "type": "server_error"}}
        assert type(answer(403, body, Stage.CONTENT)) is GatewayBadResultError


class TestHtml:
    def test_dashboard_at_200(self) -> None:
        error = recorded("error_html_dashboard", Stage.POLL)
        assert type(error) is GatewayProtocolError
        assert HTML_DETAIL in error.detail
        assert_plain(error)

    def test_html_without_content_type(self) -> None:
        error = error_from_response(404, b"  <!DOCTYPE html><html></html>", "", {}, stage=Stage.SUBMIT)
        assert type(error) is GatewayProtocolError

    def test_proxy_error_page_is_an_outage(self) -> None:
        error = error_from_response(502, b"<html>Bad Gateway</html>", "text/html", {}, stage=Stage.POLL)
        assert isinstance(error, GatewayUnavailableError)
        assert not isinstance(error, GatewayProtocolError)

    def test_rate_limit_page(self) -> None:
        error = error_from_response(429, b"<html>slow down</html>", "text/html", {"Retry-After": "5"}, stage=Stage.POLL)
        assert isinstance(error, GatewayRateLimitedError)
        assert error.retry_after == 5

    @pytest.mark.parametrize(
        ("content_type", "body", "expected"),
        [
            ("text/html; charset=utf-8", b"", True),
            ("", b"<!doctype html>", True),
            ("application/octet-stream", b"\n<HTML>", True),
            (JSON, b'{"a": 1}', False),
            ("video/mp4", b"\x00\x00\x00\x18ftypmp42", False),
        ],
    )
    def test_is_html(self, content_type: str, body: bytes, expected: bool) -> None:
        assert is_html(content_type, body) is expected


def test_non_html_success_body_is_a_protocol_error() -> None:
    assert type(answer(200, {"hello": "world"})) is GatewayProtocolError


def test_scrub() -> None:
    assert scrub("key sk-live_ABCdef123 used") == "key sk-*** used"
    assert scrub("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in FIXTURES.glob("error_*.json")),
)
def test_every_recorded_error_gives_plain_words(name: str, stage: Stage) -> None:
    error = recorded(name, stage)
    assert isinstance(error, GatewayError)
    assert_plain(error)
    assert error.detail
    assert str(error.status if error.status is not None else "") in error.detail


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps(task_shape("fail_to_fetch_task", "[" * 100_000 + "]" * 100_000)).encode(),
        b'{"error": {"message": "x", "code": ' + b"9" * 5000 + b"}}",
    ],
    ids=["deep", "deep-nested-upstream", "huge-number"],
)
def test_unreadable_error_bodies_still_give_a_gateway_error(body: bytes) -> None:
    error = error_from_response(400, body, JSON, {}, stage=Stage.SUBMIT)
    assert isinstance(error, GatewayError)
    assert_plain(error)
